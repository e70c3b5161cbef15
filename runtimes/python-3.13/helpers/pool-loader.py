"""Slipway pool loader: what a pooled runtime container runs while it waits for code.

Started by helpers/pool-start.sh in a container that has no function yet, no secret and
no variables. It listens on :3000 (published on the host's loopback only, like the
server that replaces it) and answers only:

  GET  /__slipway/pool   200 "waiting": the member is ready to be assigned
  POST /__slipway/load   the assignment, once; needs x-slipway-pool-token equal to
                         SLIPWAY_POOL_TOKEN. Body: a 4-byte big-endian length N, N bytes
                         of NUL-terminated NAME=value pairs (the function's variables, its
                         secret and entrypoint), then the artifact (code.tar.gz)
  anything else          503 (in particular /__opr/health: not healthy until loaded)

On a load it writes the artifact to /mnt/code/code.tar.gz, answers 204, prints the pairs
NUL-terminated on stdout (a pipe to pool-start.sh, never a file or a log) and exits 0;
pool-start.sh exports them and runs helpers/start.sh. Without a load within
SLIPWAY_POOL_IDLE_SECONDS it exits 3: the member retires itself.
"""

import hashlib
import hmac
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

ARTIFACT = "/mnt/code/code.tar.gz"
TOKEN = os.environ.get("SLIPWAY_POOL_TOKEN", "")
IDLE_SECONDS = float(os.environ.get("SLIPWAY_POOL_IDLE_SECONDS") or 0)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_BLOCK = 4 * 1024 * 1024


def log(message: str) -> None:
    sys.stderr.write(f"[slipway-pool] {message}\n")
    sys.stderr.flush()


def token_matches(given: str | None) -> bool:
    if given is None:
        return False
    a = hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest()
    b = hashlib.sha256(TOKEN.encode()).digest()
    return hmac.compare_digest(a, b)


def parse_pairs(block: bytes) -> list[bytes]:
    pairs = []
    for pair in block.split(b"\0"):
        if not pair:
            continue
        name, sep, _ = pair.partition(b"=")
        if not sep or not NAME.match(name.decode("utf-8", "replace")):
            raise ValueError("a variable name is not NAME=value with NAME of letters, digits and _")
        pairs.append(pair)
    return pairs


class State:
    loading = False
    outcome: tuple[int, list[bytes]] | None = None
    done = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet: no access log
        pass

    def _answer(self, status: int, text: str = "") -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.send_header("connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.close_connection = True

    def _discard(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/__slipway/pool":
            return self._answer(200, "waiting")
        self._answer(503, "This runtime is waiting for code.")

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/__slipway/load":
            self._discard()
            return self._answer(503, "This runtime is waiting for code.")
        if not token_matches(self.headers.get("x-slipway-pool-token")):
            self._discard()
            return self._answer(403, "Wrong pool token.")
        if State.loading:
            self._discard()
            return self._answer(409, "This member is being loaded already.")
        State.loading = True
        try:
            pairs = self._receive()
        except (ValueError, OSError) as err:
            log(f"load failed: {err}")
            # Read what is left of the body first: answering and closing while the gateway
            # still sends would reset its write, and it would see EPIPE rather than why.
            self._drain()
            self._answer(400, f"Load failed: {err}")
            State.outcome = (1, [])
            State.done.set()
            return
        self._answer(204)
        self.wfile.flush()
        State.outcome = (0, pairs)
        State.done.set()

    def _drain(self) -> None:
        remaining = getattr(self, "_remaining", 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
        self._remaining = 0

    def _receive(self) -> list[bytes]:
        self._remaining = 0
        if self.headers.get("transfer-encoding"):
            raise ValueError("send the body with a content-length")
        remaining = int(self.headers.get("content-length") or 0)
        self._remaining = remaining
        if remaining < 4:
            raise ValueError("the body ended before the variables block")
        length = int.from_bytes(self.rfile.read(4), "big")
        remaining -= 4
        self._remaining = remaining
        if length > MAX_BLOCK or length > remaining:
            raise ValueError("the variables block is larger than the body or 4 MB")
        block = self.rfile.read(length)
        remaining -= length
        self._remaining = remaining
        pairs = parse_pairs(block)
        fd = os.open(ARTIFACT, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ValueError("the body ended early")
                file.write(chunk)
                remaining -= len(chunk)
                self._remaining = remaining
        return pairs


def main() -> None:
    if len(TOKEN) < 32:
        log("SLIPWAY_POOL_TOKEN is missing or shorter than 32 characters; refusing to wait for code.")
        sys.exit(2)
    server = HTTPServer(("0.0.0.0", 3000), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    log("Waiting for code.")
    if not State.done.wait(IDLE_SECONDS if IDLE_SECONDS > 0 else None):
        if not State.loading:
            log(f"No code within {IDLE_SECONDS:g} s; this pool member retires.")
            os._exit(3)
        State.done.wait()
    server.socket.close()
    status, pairs = State.outcome or (1, [])
    if status == 0:
        sys.stdout.buffer.write(b"".join(pair + b"\0" for pair in pairs))
        sys.stdout.buffer.flush()
    os._exit(status)


main()
