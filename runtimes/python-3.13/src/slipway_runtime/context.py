"""The `context` object handed to a Python function (open-runtimes v5 API).

    context.req   body, body_raw, body_text, body_json, body_binary, headers,
                  method, url, path, query, query_string, scheme, host, port
    context.res   text, json, binary, redirect, empty, send
                  (each returns a plain dict: body, statusCode, headers)
    context.log(*messages), context.error(*messages)
"""

from __future__ import annotations

import builtins
import json
from typing import Any, Mapping

from .logger import ERROR, LOG, ExecutionLogger


def _status(status_code: Any, legacy: Any) -> Any:
    # The reference names the parameter statusCode; status_code is accepted too.
    return legacy if legacy is not None else status_code


def _copy_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(headers) if headers else {}


class Response:
    """Builders for the value a function returns. Headers passed in are copied,
    never modified."""

    # The first parameter is called `bytes` in the reference API, so builtins.bytes
    # is spelled out below.
    def binary(self, bytes: Any, statusCode: int = 200, headers: Mapping[str, Any] | None = None, *, status_code: int | None = None) -> dict[str, Any]:  # noqa: A002
        body = bytes
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif isinstance(body, (bytearray, memoryview, list, tuple)):
            body = builtins.bytes(body)
        return {"body": body, "statusCode": _status(statusCode, status_code), "headers": _copy_headers(headers)}

    def text(self, body: Any, statusCode: int = 200, headers: Mapping[str, Any] | None = None, *, status_code: int | None = None) -> dict[str, Any]:
        if body is None:
            data = b""
        elif isinstance(body, (bytes, bytearray, memoryview)):
            data = bytes(body)
        else:
            data = str(body).encode("utf-8")
        return {"body": data, "statusCode": _status(statusCode, status_code), "headers": _copy_headers(headers)}

    def json(self, obj: Any, statusCode: int = 200, headers: Mapping[str, Any] | None = None, *, status_code: int | None = None) -> dict[str, Any]:
        merged = _copy_headers(headers)
        merged["content-type"] = "application/json"
        return self.text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")), _status(statusCode, status_code), merged)

    def empty(self) -> dict[str, Any]:
        return self.text("", 204, {})

    def redirect(self, url: str, statusCode: int = 301, headers: Mapping[str, Any] | None = None, *, status_code: int | None = None) -> dict[str, Any]:
        merged = _copy_headers(headers)
        merged["location"] = url
        return self.text("", _status(statusCode, status_code), merged)

    def send(self, body: Any, statusCode: int = 200, headers: Mapping[str, Any] | None = None, *, status_code: int | None = None) -> dict[str, Any]:
        """Deprecated in open-runtimes; the body may be str, bytes, or anything
        the runtime can serialise (dict/list as JSON, other values via str())."""
        return {"body": body, "statusCode": _status(statusCode, status_code), "headers": _copy_headers(headers)}


class Request:
    def __init__(
        self,
        *,
        body_binary: bytes,
        headers: dict[str, str],
        method: str,
        url: str,
        path: str,
        query: dict[str, str],
        query_string: str,
        scheme: str,
        host: str,
        port: int,
    ) -> None:
        self.body_binary = body_binary
        self.headers = headers
        self.method = method
        self.url = url
        self.path = path
        self.query = query
        self.query_string = query_string
        self.scheme = scheme
        self.host = host
        self.port = port

    @property
    def body_text(self) -> str:
        # Invalid UTF-8 is replaced rather than raised, as the Node runtime does.
        return self.body_binary.decode("utf-8", "replace")

    @property
    def body_raw(self) -> str:
        return self.body_text

    @property
    def body_json(self) -> Any:
        return json.loads(self.body_text)

    @property
    def body(self) -> Any:
        content_type = str(self.headers.get("content-type", "text/plain")).lower()
        if content_type.startswith("application/json"):
            return self.body_json if len(self.body_binary) > 0 else {}
        return self.body_text


class Context:
    def __init__(self, req: Request, logger: ExecutionLogger) -> None:
        self.req = req
        self.res = Response()
        self._logger = logger

    def log(self, *messages: Any) -> None:
        self._logger.write(messages, LOG)

    def error(self, *messages: Any) -> None:
        self._logger.write(messages, ERROR)
