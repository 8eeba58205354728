"""The fields exc_info= and stack_info= add to an event, formatted as logging formats them."""

from __future__ import annotations

import sys
import traceback
from types import FrameType
from typing import Any, Dict, Optional


def exception_field(exc_info: Any) -> Optional[Dict[str, str]]:
    """The "exception" field for exc_info (True, an exception, or a sys.exc_info() tuple),
    or None when there is no exception to write (exc_info false, or True outside an except)."""
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not exc_info:
        return None
    elif not (isinstance(exc_info, tuple) and len(exc_info) == 3):
        raise TypeError("exc_info must be True, an exception, or a (type, value, traceback) tuple "
                        f"as sys.exc_info() returns, not {type(exc_info).__name__}")
    kind, value, tb = exc_info
    if value is None:
        return None
    if not isinstance(value, BaseException):
        raise TypeError("exc_info as a (type, value, traceback) tuple needs an exception as its value, "
                        f"not {type(value).__name__}")
    kind = type(value) if kind is None else kind
    module = getattr(kind, "__module__", None)
    name = getattr(kind, "__qualname__", str(kind))
    try:
        message = str(value)
    except Exception:  # as traceback writes an exception whose str() fails
        message = "<exception str() failed>"
    text = "".join(traceback.format_exception(kind, value, tb))
    return {
        "type": name if module in (None, "builtins") else f"{module}.{name}",
        "message": message,
        "traceback": text[:-1] if text.endswith("\n") else text,
    }


def _is_ours(module: str) -> bool:
    return module == "fastevlog" or module.startswith("fastevlog.")


def event_extras(exc_info: Any, stack_info: Any) -> Optional[Dict[str, Any]]:
    """The fields exc_info= and stack_info= add to an event ({"exception": …, "stack": …}), or None."""
    extras: Dict[str, Any] = {}
    exception = exception_field(exc_info)
    if exception is not None:
        extras["exception"] = exception
    if stack_info:
        extras["stack"] = stack_field()
    return extras or None


def stack_field() -> str:
    """The "stack" field: the stack of the code that called the logger, as logging writes
    stack_info (fastevlog's own Python frames left out)."""
    frame: Optional[FrameType] = sys._getframe(0)
    while frame is not None and _is_ours(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
    text = "".join(traceback.format_stack(frame))
    return "Stack (most recent call last):\n" + text.rstrip("\n")
