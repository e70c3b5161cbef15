"""`python -m slipway_runtime` (from /usr/local/server/src) starts the server."""

from .server import main

main()
