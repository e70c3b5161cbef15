"""Per-execution log files for the open-runtimes v5 contract.

Each execution with logging enabled gets two files in the logs directory:

  <id>_logs.log    context.log(...) and native output (print(), sys.stdout,
                   sys.stderr, the logging module's default stderr handler)
  <id>_errors.log  context.error(...), exceptions, timeouts and other failures
                   the runtime detects

One message per line; a single message is cut at MAX_MESSAGE_LENGTH characters.

When the caller named the log id, both files are created at the start, even if
they stay empty: their existence proves the runtime received the request. When
the id was generated here, or the caller asked for lazy files
(x-open-runtimes-log-files: lazy), each file is created on its first write, so an
execution that logs nothing touches the disk not at all (`written` tells the
server whether to return the id).

Native output is routed through a ContextVar: sys.stdout and sys.stderr are
replaced by proxies that look up the execution that is running in the current
context (asyncio task or worker thread). Output made outside any execution
(module import, stray threads after a timeout) still reaches the container's
own stdout/stderr.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
import json
import os
import re
import secrets
import sys
import threading
import time
import traceback
from typing import Any, Iterable, TextIO

LOG = "log"
ERROR = "error"

MAX_MESSAGE_LENGTH = 8000
TRUNCATION_NOTICE = f"... Log truncated due to size limit ({MAX_MESSAGE_LENGTH} characters)"
NATIVE_NOTICE = "Native logs detected. Use context.log() or context.error() for better experience."

_LOG_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")


def is_valid_log_id(log_id: str) -> bool:
    return _LOG_ID_PATTERN.fullmatch(log_id) is not None


def generate_log_id() -> str:
    """20 hex digits: 8 of seconds, 5 of milliseconds, 7 random (uniqid style)."""
    now_ms = time.time_ns() // 1_000_000
    seconds, millis = divmod(now_ms, 1000)
    return f"{seconds:08x}{millis:05x}{secrets.token_hex(4)[:7]}"


# ---- turning log arguments into text ------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)


def format_message(message: Any) -> str:
    """One argument of context.log/error as text.

    Strings are used as they are, containers become compact JSON (as in the
    reference Python runtime), exceptions their traceback, anything else str().
    """
    try:
        if isinstance(message, str):
            return message
        if isinstance(message, BaseException):
            if message.__traceback__ is not None:
                return "".join(traceback.format_exception(message)).rstrip("\n")
            return f"{type(message).__name__}: {message}"
        if isinstance(message, (dict, list, tuple, set, frozenset)):
            try:
                return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=_json_default)
            except (TypeError, ValueError):
                return repr(message)
        return str(message)
    except Exception:  # a broken __str__ must not break the execution
        return "[Unprintable value]"


def _truncate(text: str) -> str:
    if len(text) > MAX_MESSAGE_LENGTH:
        return text[:MAX_MESSAGE_LENGTH] + TRUNCATION_NOTICE
    return text


# ---- one execution's logger ---------------------------------------------------------


class ExecutionLogger:
    """The two log files of one execution. Thread-safe; never raises."""

    def __init__(self, enabled: bool, log_id: str, directory: str, eager: bool = True) -> None:
        self.enabled = enabled
        self.id = log_id if enabled else ""
        self.active = enabled
        # Whether anything was handed to a file; final once end() has returned.
        self.written = False
        self._directory = directory
        self._native_seen = False
        self._lock = threading.Lock()
        self._files: dict[str, TextIO] = {}
        self._failed: set[str] = set()
        if enabled and eager:
            with self._lock:
                self._open_locked(LOG)
                self._open_locked(ERROR)

    def _open_locked(self, kind: str) -> TextIO | None:
        stream = self._files.get(kind)
        if stream is not None or kind in self._failed:
            return stream
        suffix = "errors" if kind == ERROR else "logs"
        try:
            os.makedirs(self._directory, exist_ok=True)
            stream = open(
                os.path.join(self._directory, f"{self.id}_{suffix}.log"), "a", encoding="utf-8", errors="backslashreplace"
            )
        except OSError as err:
            # A failing log disk must never take an execution down; one report per file is enough.
            self._failed.add(kind)
            sys.__stderr__.write(f"[slipway-runtime] cannot open log file {self.id}_{suffix}.log: {err}\n")
            return None
        self._files[kind] = stream
        return stream

    def write(self, messages: Iterable[Any], kind: str = LOG) -> None:
        """context.log / context.error: arguments formatted and joined with spaces."""
        if not self.active:
            return
        text = _truncate(" ".join(format_message(message) for message in messages))
        self._append(kind, text + "\n")

    def write_native(self, text: str) -> None:
        """Output that bypassed context.log/error. Always goes to the logs file,
        after a one-time notice; written as given except that an oversized chunk
        is cut and ended with a newline."""
        if not self.active or not text:
            return
        with self._lock:
            if not self._native_seen:
                self._native_seen = True
                self._append_locked(LOG, NATIVE_NOTICE + "\n")
            self._append_locked(LOG, _truncate(text) + "\n" if len(text) > MAX_MESSAGE_LENGTH else text)

    def _append(self, kind: str, text: str) -> None:
        with self._lock:
            self._append_locked(kind, text)

    def _append_locked(self, kind: str, text: str) -> None:
        if not self.active:
            return
        self.written = True
        stream = self._open_locked(kind)
        if stream is None:
            return
        try:
            stream.write(text)
        except (OSError, ValueError):
            pass

    def end(self) -> None:
        """Flushes and closes the files that were opened; later writes are dropped."""
        with self._lock:
            if not self.active:
                return
            self.active = False
            for stream in self._files.values():
                try:
                    stream.close()
                except OSError:
                    pass
            self._files.clear()


# ---- native output capture ----------------------------------------------------------

current_logger: contextvars.ContextVar[ExecutionLogger | None] = contextvars.ContextVar(
    "slipway_current_logger", default=None
)


def _active_logger() -> ExecutionLogger | None:
    logger = current_logger.get()
    return logger if logger is not None and logger.active else None


class _NativeBuffer:
    """Stand-in for sys.stdout.buffer / sys.stderr.buffer (binary writes)."""

    def __init__(self, original: Any) -> None:
        self._original = original

    def write(self, data: Any) -> int:
        logger = _active_logger()
        if logger is None:
            return self._original.write(data)
        raw = bytes(data)
        logger.write_native(raw.decode("utf-8", "replace"))
        return len(raw)

    def flush(self) -> None:
        if _active_logger() is None:
            self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class NativeStream:
    """Replaces sys.stdout / sys.stderr. Inside an execution the text goes to
    that execution's logs file; elsewhere to the original stream."""

    def __init__(self, original: TextIO) -> None:
        self._original = original
        self._buffer = _NativeBuffer(original.buffer) if hasattr(original, "buffer") else None

    @property
    def buffer(self) -> Any:
        return self._buffer if self._buffer is not None else self._original

    def write(self, text: Any) -> int:
        logger = _active_logger()
        if logger is None:
            return self._original.write(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        logger.write_native(text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _active_logger() is None:
            self._original.flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


_installed = False


def install_native_capture() -> None:
    """Routes sys.stdout/sys.stderr writes made inside an execution into that
    execution's logs file. Idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    sys.stdout = NativeStream(sys.__stdout__)  # type: ignore[assignment]
    sys.stderr = NativeStream(sys.__stderr__)  # type: ignore[assignment]
