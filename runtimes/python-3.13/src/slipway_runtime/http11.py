"""A small HTTP/1.1 server on asyncio streams (standard library only).

Just what the executor contract needs: keep-alive, Content-Length and chunked
request bodies, `Expect: 100-continue`, bodies read on demand with a size limit
(an oversized body is drained so the connection survives, up to a point), and
responses with a known length. The runtime has no third-party dependencies, so
nothing in a function's own virtualenv can clash with the server.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
from http import HTTPStatus
from typing import AsyncIterator, Awaitable, Callable

MAX_HEAD_BYTES = 64 * 1024
IDLE_TIMEOUT = 65.0  # seconds a keep-alive connection may wait for its next request
HEAD_TIMEOUT = 60.0  # seconds to receive a request's head once it has started

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_CHAR = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body is larger than the {limit // (1024 * 1024)} MB limit.")


def is_token(name: str) -> bool:
    return _TOKEN.fullmatch(name) is not None


def valid_header_value(value: str) -> bool:
    return _BAD_VALUE_CHAR.search(value) is None


class Request:
    """One parsed request. The body is read lazily with read_body()/discard_body()."""

    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.header_list = headers
        self.headers: dict[str, str] = {}
        for name, value in headers:
            if name in self.headers:
                separator = "; " if name == "cookie" else ", "
                self.headers[name] = self.headers[name] + separator + value
            else:
                self.headers[name] = value
        self._reader = reader
        self._writer = writer
        self._continue_sent = False
        self.body_done = False
        # The connection cannot be reused when the body could not be consumed.
        self.must_close = False

        self._chunked = False
        self._length = 0
        transfer_encoding = self.headers.get("transfer-encoding")
        if transfer_encoding is not None:
            codings = [coding.strip().lower() for coding in transfer_encoding.split(",") if coding.strip()]
            if codings != ["chunked"]:
                raise BadRequest(501, f"Unsupported transfer-encoding: {transfer_encoding}")
            self._chunked = True
            if "content-length" in self.headers:
                self.must_close = True  # RFC 9112 6.3: never reuse such a connection
        elif "content-length" in self.headers:
            values = {value.strip() for value in self.headers["content-length"].split(",")}
            if len(values) != 1:
                raise BadRequest(400, "Conflicting content-length values")
            value = values.pop()
            if not value.isdigit():
                raise BadRequest(400, "Invalid content-length")
            self._length = int(value)
        if not self._chunked and self._length == 0:
            self.body_done = True

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        tokens = {token.strip() for token in connection.split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    async def _send_continue(self) -> None:
        if self._continue_sent or self.version != "HTTP/1.1":
            return
        self._continue_sent = True
        if self.headers.get("expect", "").lower() == "100-continue":
            self._writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await self._writer.drain()

    async def _chunks(self, budget: int) -> AsyncIterator[bytes]:
        """Yields body pieces; stops (must_close) once `budget` bytes were seen."""
        await self._send_continue()
        seen = 0
        try:
            if not self._chunked:
                remaining = self._length
                while remaining > 0:
                    if seen >= budget:
                        self.must_close = True
                        return
                    piece = await self._reader.read(min(remaining, 256 * 1024))
                    if not piece:
                        raise ConnectionResetError("client closed the connection mid-body")
                    remaining -= len(piece)
                    seen += len(piece)
                    yield piece
            else:
                while True:
                    line = await self._reader.readuntil(b"\r\n")
                    size_text = line[:-2].split(b";", 1)[0].strip()
                    try:
                        size = int(size_text, 16)
                    except ValueError:
                        raise BadRequest(400, "Invalid chunk size") from None
                    if size == 0:
                        # Trailer section, ended by an empty line.
                        while (await self._reader.readuntil(b"\r\n")) != b"\r\n":
                            pass
                        break
                    remaining = size
                    while remaining > 0:
                        if seen >= budget:
                            self.must_close = True
                            return
                        piece = await self._reader.read(min(remaining, 256 * 1024))
                        if not piece:
                            raise ConnectionResetError("client closed the connection mid-body")
                        remaining -= len(piece)
                        seen += len(piece)
                        yield piece
                    if await self._reader.readexactly(2) != b"\r\n":
                        raise BadRequest(400, "Malformed chunk")
            self.body_done = True
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, ValueError) as err:
            self.must_close = True
            raise BadRequest(400, f"Malformed request body: {err}") from None

    async def read_body(self, limit: int, drain_limit: int) -> bytes:
        """The whole body. Past `limit` the rest is drained (up to drain_limit
        bytes in all, after that the connection is given up) and BodyTooLarge raised."""
        if self.body_done:
            return b""
        parts: list[bytes] = []
        size = 0
        too_large = False
        try:
            async for piece in self._chunks(drain_limit):
                size += len(piece)
                if too_large or size > limit:
                    too_large = True
                    parts.clear()
                    continue
                parts.append(piece)
        except BadRequest:
            if too_large:
                raise BodyTooLarge(limit) from None
            raise
        if too_large:
            raise BodyTooLarge(limit)
        return b"".join(parts)

    async def discard_body(self, drain_limit: int) -> None:
        if self.body_done:
            return
        try:
            async for _ in self._chunks(drain_limit):
                pass
        except (BadRequest, ConnectionError, OSError):
            self.must_close = True


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        self.status = status
        self.headers = headers or []
        self.body = body


Handler = Callable[[Request], Awaitable[Response]]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _encode_response(request_method: str, response: Response, keep_alive: bool) -> bytes:
    status = response.status
    no_body = status in (204, 304) or 100 <= status < 200
    lines = [f"HTTP/1.1 {status} {_reason(status)}"]
    names = set()
    for name, value in response.headers:
        names.add(name)
        lines.append(f"{name}: {value}")
    if not no_body and "content-length" not in names:
        lines.append(f"content-length: {len(response.body)}")
    if "date" not in names:
        lines.append(f"date: {email.utils.formatdate(usegmt=True)}")
    if keep_alive:
        lines.append("connection: keep-alive")
        lines.append(f"keep-alive: timeout={int(IDLE_TIMEOUT)}")
    else:
        lines.append("connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if no_body or request_method == "HEAD":
        return head
    return head + response.body


class HttpServer:
    def __init__(self, handler: Handler, drain_limit: int) -> None:
        self._handler = handler
        self._drain_limit = drain_limit
        self._server: asyncio.Server | None = None
        self._idle: set[asyncio.StreamWriter] = set()
        self._connections: set[asyncio.StreamWriter] = set()
        self.closing = False

    async def listen(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._connection, host, port, limit=MAX_HEAD_BYTES, backlog=511)

    def close(self) -> None:
        """Stops accepting connections and closes the idle ones."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._idle):
            writer.close()

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
        # Wait for the first byte of the next request (idle), then for the rest.
        try:
            start = await asyncio.wait_for(reader.read(1), IDLE_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            return None
        if not start:
            return None
        try:
            rest = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except asyncio.LimitOverrunError:
            raise BadRequest(431, "Request header fields too large") from None
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            return None
        return start + rest

    @staticmethod
    def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
        text = head.decode("latin-1")
        lines = text[:-4].split("\r\n")
        while lines and lines[0] == "":  # tolerate stray CRLF before a request
            lines.pop(0)
        if not lines:
            raise BadRequest(400, "Empty request")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not is_token(parts[0]) or not parts[1] or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
            raise BadRequest(400, "Malformed request line")
        method, target, version = parts
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not is_token(name):
                raise BadRequest(400, "Malformed header line")
            value = value.strip(" \t")
            if not valid_header_value(value):
                raise BadRequest(400, "Invalid character in header value")
            headers.append((name.lower(), value))
        return method, target, version, headers

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while not self.closing:
                self._idle.add(writer)
                try:
                    head = await self._read_head(reader)
                except BadRequest as err:
                    await self._write(writer, "GET", Response(err.status, [("content-type", "text/plain; charset=utf-8")], str(err).encode()), False)
                    return
                finally:
                    self._idle.discard(writer)
                if head is None:
                    return
                try:
                    method, target, version, headers = self._parse_head(head)
                    request = Request(method, target, version, headers, reader, writer)
                except BadRequest as err:
                    await self._write(writer, "GET", Response(err.status, [("content-type", "text/plain; charset=utf-8")], str(err).encode()), False)
                    return

                try:
                    response = await self._handler(request)
                except Exception:  # the handler answers every failure itself; this is a last resort
                    response = Response(500, [("content-type", "text/plain; charset=utf-8")])
                    request.must_close = True
                # Whatever the handler left unread must go before the next request.
                await request.discard_body(self._drain_limit)
                keep_alive = request.keep_alive and not request.must_close and not self.closing
                if not await self._write(writer, method, response, keep_alive) or not keep_alive:
                    return
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(writer)
            self._idle.discard(writer)
            writer.close()

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, method: str, response: Response, keep_alive: bool) -> bool:
        if writer.is_closing():
            return False
        try:
            writer.write(_encode_response(method, response, keep_alive))
            await writer.drain()
            return True
        except (ConnectionError, OSError):
            return False
