"""Slipway python-3.13 runtime server: the open-runtimes v5 executor contract.

    GET /__opr/health        200 "OK", no secret needed
    GET /__opr/timings       start-up timings recorded by helpers/start.sh
    anything else            one execution of the user function

Request headers understood (and hidden from the function):
    x-open-runtimes-secret     must equal OPEN_RUNTIMES_SECRET when that is set
    x-open-runtimes-timeout    seconds, integer > 0
    x-open-runtimes-logging    "enabled" (default) | anything else disables logging
    x-open-runtimes-log-id     id of the log files; generated when absent ("dev" in
                               development). A named id gets both files, even empty,
                               and is always returned; a generated one gets only the
                               files written to, and is returned only if anything was
                               written. With logging disabled the id returned is empty.
    x-open-runtimes-log-files  "lazy" (any case): a named id too gets only the files
                               written to, and is returned only if anything was
                               written; anything else or absent leaves it eager.

Environment: OPEN_RUNTIMES_ENTRYPOINT, OPEN_RUNTIMES_SECRET,
OPEN_RUNTIMES_HEADERS (JSON object of headers forced onto every request),
OPEN_RUNTIMES_ENV ("development" makes the default log id "dev").

The function is `def main(context)` or `async def main(context)` in the
entrypoint file, imported as the module `function.<entrypoint path>` so that
relative imports between the function's own files work. Coroutine functions
run on the server's event loop; plain functions run in a thread of their own,
so a blocking function neither stalls other executions nor escapes the timeout.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import importlib
import importlib.machinery
import importlib.util
import inspect
import json
import os
import posixpath
import signal
import sys
import threading
import traceback
import types
from collections.abc import Mapping
from typing import Any, Callable

from . import http11
from .context import Context, Request
from .logger import (
    ERROR,
    ExecutionLogger,
    current_logger,
    generate_log_id,
    install_native_capture,
    is_valid_log_id,
)

PORT = 3000
FUNCTION_DIR = os.environ.get("SLIPWAY_RUNTIME_FUNCTION_DIR") or "/usr/local/server/src/function"
LOGS_DIR = os.environ.get("SLIPWAY_RUNTIME_LOGS_DIR") or "/mnt/logs"
TIMINGS_FILE = "/mnt/telemetry/timings.txt"
BODY_LIMIT = 20 * 1024 * 1024
# Past this much unread body we stop draining and drop the connection.
DRAIN_LIMIT = 4 * BODY_LIMIT
HEADER_PREFIX = "x-open-runtimes-"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

TEXT_PLAIN = "text/plain; charset=utf-8"


def _parse_forced_headers(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    forced: dict[str, str] = {}
    for name, value in parsed.items():
        forced[str(name).lower()] = value if isinstance(value, str) else json.dumps(value)
    return forced


SECRET = os.environ.get("OPEN_RUNTIMES_SECRET", "")
ENTRYPOINT = os.environ.get("OPEN_RUNTIMES_ENTRYPOINT") or "main.py"
DEVELOPMENT = os.environ.get("OPEN_RUNTIMES_ENV") == "development"
FORCED_HEADERS = _parse_forced_headers(os.environ.get("OPEN_RUNTIMES_HEADERS"))


def secret_matches(given: str | None) -> bool:
    if not SECRET:
        return True
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), SECRET.encode("utf-8", "surrogateescape"))


# ---- the user function ----------------------------------------------------------------


class EntrypointError(Exception):
    pass


_loaded: Callable[..., Any] | None = None


def _module_name(entrypoint: str) -> str:
    relative = posixpath.normpath(entrypoint.replace("\\", "/")).lstrip("/")
    if relative.startswith("../") or relative in ("..", "."):
        raise EntrypointError(f"Failed to load entrypoint, file {entrypoint} is outside the function folder.")
    if relative.endswith(".py"):
        relative = relative[: -len(".py")]
    return "function." + relative.replace("/", ".")


def _ensure_function_package() -> None:
    """Makes `function` the function folder as a package, whatever else is on
    sys.path (a namespace package found by scanning loses against any regular
    module of that name, e.g. one installed in the function's virtualenv)."""
    if "function" in sys.modules:
        return
    if os.path.isfile(os.path.join(FUNCTION_DIR, "__init__.py")):
        spec = importlib.machinery.PathFinder.find_spec("function", [os.path.dirname(FUNCTION_DIR)])
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules["function"] = module
            spec.loader.exec_module(module)
            return
    package = types.ModuleType("function")
    spec = importlib.machinery.ModuleSpec("function", None, is_package=True)
    spec.submodule_search_locations = [FUNCTION_DIR]
    package.__spec__ = spec
    package.__path__ = [FUNCTION_DIR]
    package.__package__ = "function"
    sys.modules["function"] = package


def load_function() -> Callable[..., Any]:
    """Imports the entrypoint once; a failed import is retried on the next request."""
    global _loaded
    if _loaded is not None:
        return _loaded
    file = os.path.join(FUNCTION_DIR, ENTRYPOINT)
    if not os.path.isfile(file):
        raise EntrypointError(f"Failed to load entrypoint, file {ENTRYPOINT} does not exist.")
    name = _module_name(ENTRYPOINT)
    try:
        _ensure_function_package()
        module = importlib.import_module(name)
    except SyntaxError as err:
        raise EntrypointError(f"Syntax error in {err.filename}:{err.lineno}: {err.msg}") from None
    except ModuleNotFoundError as err:
        raise EntrypointError(f"Module not found: {err.name}\n{_format_exception(err)}") from None
    except BaseException as err:  # noqa: BLE001 - a function's import may raise anything, even SystemExit
        raise EntrypointError(f"Failed to load module: {_format_exception(err)}") from None
    main = getattr(module, "main", None)
    if not callable(main):
        raise EntrypointError(
            f"Function signature invalid in {ENTRYPOINT}. Did you forget to export a 'main' function "
            "(def main(context): ... or async def main(context): ...)?"
        )
    _loaded = main
    return main


def _format_exception(err: BaseException) -> str:
    """The traceback without the runtime's own frames at the top."""
    tb = err.__traceback__
    while tb is not None and os.path.dirname(os.path.abspath(tb.tb_frame.f_code.co_filename)) == PACKAGE_DIR:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(err), err, tb)).rstrip("\n")


class FunctionExit(Exception):
    """A function raised SystemExit/KeyboardInterrupt; it must not end the server."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


def _run_in_thread(fn: Callable[..., Any], argument: Any) -> asyncio.Future[Any]:
    """Runs a plain function in a daemon thread of its own, in a copy of the
    current context (a Context cannot be entered by two threads at once). After
    a timeout the thread cannot be stopped; it finishes on its own and its
    result is dropped."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def work() -> None:
        try:
            value = ctx.run(fn, argument)
            error: BaseException | None = None
        except (SystemExit, KeyboardInterrupt) as err:
            value, error = None, FunctionExit(err)
        except BaseException as err:  # noqa: BLE001
            value, error = None, err
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:
            pass  # the loop is gone (shutdown)

    threading.Thread(target=work, name="slipway-execution", daemon=True).start()
    return future


async def _invoke(fn: Callable[..., Any], context: Context) -> Any:
    try:
        if inspect.iscoroutinefunction(fn):
            result = fn(context)
        else:
            result = await _run_in_thread(fn, context)
        while inspect.isawaitable(result):
            result = await result
        return result
    except (SystemExit, KeyboardInterrupt) as err:
        raise FunctionExit(err) from None


# ---- context --------------------------------------------------------------------------


def _parse_host(host_header: str | None, default_port: int) -> tuple[str, int]:
    host = host_header or "localhost"
    port = default_port
    if host.startswith("["):
        end = host.find("]")
        if end != -1:
            rest = host[end + 1 :]
            host_only = host[1:end]
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
            return host_only, port
    if ":" in host:
        host, _, maybe_port = host.rpartition(":")
        if maybe_port.isdigit():
            port = int(maybe_port)
    return host, port


def _parse_query(query_string: str) -> dict[str, str]:
    # Like the reference runtimes: split on "&" and the first "=", no decoding.
    query: dict[str, str] = {}
    for pair in query_string.split("&"):
        key, equals, value = pair.partition("=")
        if key:
            query[key] = value if equals else ""
    return query


def create_request(request: http11.Request, body: bytes) -> Request:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        if not name.startswith(HEADER_PREFIX):
            headers[name] = value
    for name, value in FORCED_HEADERS.items():
        headers[name] = value

    forwarded_proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    scheme = forwarded_proto or "http"
    default_port = 443 if scheme == "https" else 80
    host, port = _parse_host(request.headers.get("host"), default_port)

    target = request.target
    if target.startswith(("http://", "https://")):  # absolute-form request target
        after_scheme = target.split("://", 1)[1]
        slash = after_scheme.find("/")
        target = after_scheme[slash:] if slash != -1 else "/"
    target = target.split("#", 1)[0]
    path, question, query_string = target.partition("?")
    host_part = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{host_part}{'' if port == default_port else f':{port}'}{path}"
    if query_string:
        url += f"?{query_string}"

    return Request(
        body_binary=body,
        headers=headers,
        method=request.method,
        url=url,
        path=path,
        query=_parse_query(query_string),
        query_string=query_string,
        scheme=scheme,
        host=host,
        port=port,
    )


# ---- responding -----------------------------------------------------------------------


def body_to_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (dict, list, tuple)):
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if isinstance(body, bool):
        return b"true" if body else b"false"
    return str(body).encode("utf-8")


def with_charset(content_type: str) -> str:
    media_type, *params = content_type.split(";")
    kind = media_type.strip().lower()
    rest = [param.strip() for param in params if param.strip()]
    has_charset = any(param.lower().startswith("charset=") for param in rest)
    if not kind.startswith("multipart/") and not has_charset:
        rest.append("charset=utf-8")
    return "; ".join([kind, *rest])


def _valid_status(code: Any) -> bool:
    return isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 999


class _Outcome:
    """What one execution answers, before the log-id header is added."""

    def __init__(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else [("content-type", TEXT_PLAIN)]


def _build_outcome(output: Any, context: Context) -> _Outcome:
    if output is None:
        context.error("Return statement missing. return context.res.empty() if no response is expected.")
        return _Outcome(500)
    if not isinstance(output, Mapping):
        context.error(
            "Invalid return value: expected the result of context.res.text(), json(), binary(), redirect(), "
            f"empty() or send(), got {type(output).__name__}."
        )
        return _Outcome(500)

    status = output.get("statusCode", 200)
    if status is None:
        status = 200
    if not _valid_status(status):
        context.error(f"Invalid status code {status!r}: it must be an integer between 100 and 999.")
        return _Outcome(500)

    headers: list[tuple[str, str]] = []
    content_type = "text/plain"
    raw_headers = output.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        context.error(f"Invalid response headers: expected a dict, got {type(raw_headers).__name__}.")
        return _Outcome(500)
    seen: set[str] = set()
    for name, value in raw_headers.items():
        lower = str(name).lower()
        if lower.startswith(HEADER_PREFIX) or value is None:
            continue
        values = [str(item) for item in value] if isinstance(value, (list, tuple)) else [str(value)]
        if not http11.is_token(lower) or not all(http11.valid_header_value(item) for item in values):
            context.error(f'Invalid response header "{name}": the name or value contains characters HTTP does not allow.')
            return _Outcome(500)
        if lower == "content-type":
            content_type = ", ".join(values)
            continue
        if lower in ("content-length", "connection", "transfer-encoding", "keep-alive"):
            continue  # framing is the server's business
        if lower in seen:  # "X-A" and "x-a" in one dict: the later one wins, as in Node
            headers = [(n, v) for n, v in headers if n != lower]
        seen.add(lower)
        headers.extend((lower, item) for item in values)
    headers.insert(0, ("content-type", with_charset(content_type)))

    try:
        body = body_to_bytes(output.get("body"))
    except Exception as err:  # noqa: BLE001
        context.error(f"Response body could not be serialised: {err}")
        return _Outcome(500)
    return _Outcome(status, body, headers)


# ---- one execution --------------------------------------------------------------------


def _plain(status: int, text: str) -> http11.Response:
    return http11.Response(status, [("content-type", TEXT_PLAIN)], text.encode("utf-8"))


async def execute(request: http11.Request) -> http11.Response:
    if not secret_matches(request.headers.get(f"{HEADER_PREFIX}secret")):
        await request.discard_body(DRAIN_LIMIT)
        return _plain(500, 'Unauthorized. Provide correct "x-open-runtimes-secret" header.')

    timeout_header = request.headers.get(f"{HEADER_PREFIX}timeout", "")
    timeout: int | None = None
    if timeout_header != "":
        value = timeout_header.strip()
        if not (value.isascii() and value.isdigit()) or int(value) <= 0:
            await request.discard_body(DRAIN_LIMIT)
            return _plain(500, 'Header "x-open-runtimes-timeout" must be an integer greater than 0.')
        timeout = int(value)

    # As in open-runtimes: anything but "enabled" (or no header) turns logging off.
    logging_enabled = (request.headers.get(f"{HEADER_PREFIX}logging") or "enabled").lower() == "enabled"
    log_id = request.headers.get(f"{HEADER_PREFIX}log-id", "")
    if log_id and not is_valid_log_id(log_id):
        await request.discard_body(DRAIN_LIMIT)
        return _plain(500, 'Header "x-open-runtimes-log-id" may only contain letters, digits, "-" and "_".')
    # A caller that names the log files gets them, even empty (Slipway's recovery takes
    # their existence as proof the request arrived), unless it asks for them with
    # "x-open-runtimes-log-files: lazy". Otherwise they are made only when something is
    # written, and a quiet execution returns no log id at all.
    lazy_files = request.headers.get(f"{HEADER_PREFIX}log-files", "").lower() == "lazy"
    eager = bool(log_id) and not lazy_files
    if not log_id:
        log_id = "dev" if DEVELOPMENT else generate_log_id()

    logger = ExecutionLogger(logging_enabled, log_id, LOGS_DIR, eager=eager)
    try:
        outcome = await _execute_logged(request, logger, timeout)
    except Exception as err:  # noqa: BLE001 - a runtime bug must still produce an answer
        logger.write([f"Internal runtime error: {_format_exception(err)}"], ERROR)
        outcome = _Outcome(500)
    # end() first: a thread left over from a timed-out `def main` could otherwise create
    # a file after the header was left out, and nobody would know to collect it.
    logger.end()
    if not logging_enabled or eager or logger.written:
        outcome.headers.append(("x-open-runtimes-log-id", logger.id))
    return http11.Response(outcome.status, outcome.headers, outcome.body)


async def _execute_logged(request: http11.Request, logger: ExecutionLogger, timeout: int | None) -> _Outcome:
    try:
        body = await request.read_body(BODY_LIMIT, DRAIN_LIMIT)
    except http11.BodyTooLarge as err:
        logger.write([str(err)], ERROR)
        return _Outcome(500)
    except (http11.BadRequest, ConnectionError, OSError) as err:
        logger.write([f"Failed to read request body: {err}"], ERROR)
        return _Outcome(500)

    context = Context(create_request(request, body), logger)

    try:
        fn = load_function()
    except EntrypointError as err:
        context.error(str(err))
        return _Outcome(503)

    # The execution runs in a context of its own in which native output is
    # routed to this execution's logger (see logger.NativeStream).
    ctx = contextvars.copy_context()
    ctx.run(current_logger.set, logger)
    task = asyncio.get_running_loop().create_task(_invoke(fn, context), context=ctx)
    try:
        if timeout is None:
            await asyncio.wait({task})
        else:
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                task.cancel()
                context.error("Execution timed out.")
                return _Outcome(500)
    except asyncio.CancelledError:
        task.cancel()
        raise

    try:
        output = task.result()
    except FunctionExit as err:
        context.error(f"The function tried to exit the runtime ({err.original!r}).\n{_format_exception(err.original)}")
        return _Outcome(500)
    except asyncio.CancelledError:
        context.error("Execution was cancelled.")
        return _Outcome(500)
    except Exception as err:  # noqa: BLE001
        context.error(_format_exception(err))
        return _Outcome(500)
    return _build_outcome(output, context)


# ---- server ---------------------------------------------------------------------------


class Runtime:
    def __init__(self) -> None:
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.server = http11.HttpServer(self.handle, DRAIN_LIMIT)
        self.stopping = asyncio.Event()

    async def handle(self, request: http11.Request) -> http11.Response:
        path = request.target.split("?", 1)[0]
        if path == "/__opr/health":
            return _plain(200, "OK")
        if path == "/__opr/timings":
            try:
                with open(TIMINGS_FILE, encoding="utf-8") as file:
                    timings = file.read()
            except OSError:
                timings = ""  # not started through helpers/start.sh
            return _plain(200, timings)

        self.active += 1
        self.idle.clear()
        try:
            return await execute(request)
        finally:
            self.active -= 1
            if self.active == 0:
                self.idle.set()

    def shutdown(self, name: str) -> None:
        if self.stopping.is_set():
            return
        sys.__stdout__.write(f"[slipway-runtime] {name} received, shutting down.\n")
        sys.__stdout__.flush()
        self.server.close()
        self.stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.shutdown, signal.Signals(signum).name)
        loop.set_exception_handler(_report_stray)

        await self.server.listen("0.0.0.0", PORT)
        _record_startup()
        print(f"HTTP server successfully started! Listening on port {PORT}.", flush=True)

        await self.stopping.wait()
        try:
            # docker stop waits 10 s by default before SIGKILL.
            await asyncio.wait_for(self.idle.wait(), 8)
        except asyncio.TimeoutError:
            pass


def _record_startup() -> None:
    started = os.environ.get("SLIPWAY_START_UPTIME")
    if not started:
        return
    try:
        with open("/proc/uptime", encoding="ascii") as file:
            now = float(file.read().split()[0])
        with open(TIMINGS_FILE, "a", encoding="ascii") as file:
            file.write(f"startup={now - float(started):.3f}\n")
    except (OSError, ValueError):
        pass  # telemetry is best effort


def _report_stray(loop: asyncio.AbstractEventLoop, details: dict[str, Any]) -> None:
    """Errors no execution awaited (e.g. a task the function left behind): to the
    execution's error log when it is still running, otherwise to the container's stderr."""
    err = details.get("exception")
    text = f"{details.get('message', 'Unhandled error')}: {_format_exception(err) if err else ''}"
    task = details.get("task") or details.get("future")
    logger = None
    get_context = getattr(task, "get_context", None)
    if get_context is not None:
        logger = get_context().get(current_logger)
    if logger is not None and logger.active:
        logger.write([text], ERROR)
    else:
        sys.__stderr__.write(f"[slipway-runtime] {text}\n")


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        sys.__stderr__.write(f"[slipway-runtime] Uncaught exception in thread {args.thread.name if args.thread else '?'}: {_format_exception(args.exc_value)}\n")


def main() -> None:
    install_native_capture()
    threading.excepthook = _thread_excepthook
    asyncio.run(Runtime().run())
    sys.__stdout__.flush()
    sys.__stderr__.flush()
    # Threads a function left running must not keep the container alive.
    os._exit(0)
