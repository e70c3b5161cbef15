"""Slipway's Python runtime server (open-runtimes v5 executor contract).

Standard library only: it runs inside the function's own virtualenv, so it must
not bring packages that could clash with the function's requirements.
"""
