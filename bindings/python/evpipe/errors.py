"""Exceptions carrying libevpipe's error code and name.

The names and descriptions come from the library (evp_err2name / evp_err2str),
never from a copy of its enum, so a newer library's codes show their own names.
"""
from __future__ import annotations

from typing import Dict, Optional, Type

from . import _lib

# The codes the binding itself needs to branch on (error.h: append-only, so a
# number never changes meaning).
OK = 0
ERR_INVALID_ARG = 1
ERR_NOMEM = 2
ERR_JSON = 21
ERR_INVALID_EVENT = 26
ERR_CONF_UNKNOWN = 27
ERR_CONF_INVALID = 28
ERR_QUEUE_FULL = 29
ERR_TIMED_OUT = 30
ERR_STATE = 31
ERR_TRANSPORT = 32
ERR_HTTP = 33
ERR_AUTH = 34


class Error(Exception):
    """A libevpipe error.

    ``code`` is the library's evp_err_t value, ``name`` its enum name
    ("EVP_ERR_..."), ``reason`` the library's explanation (errstr, or the
    code's description); ``str()`` is "NAME: reason".
    """

    code: int
    name: str
    reason: str

    def __init__(self, code: int, reason: str = "") -> None:
        lib = _lib.lib()
        self.code = code
        self.name = _lib.text(lib.evp_err2name(code))
        self.reason = reason or _lib.text(lib.evp_err2str(code))
        super().__init__(f"{self.name}: {self.reason}")


class ConfigError(Error):
    """A configuration property is unknown (EVP_ERR_CONF_UNKNOWN) or its value
    is invalid (EVP_ERR_CONF_INVALID)."""


class InvalidEventError(Error):
    """send() refused the event: not JSON (EVP_ERR_JSON) or not valid against
    the schema (EVP_ERR_INVALID_EVENT); the reason gives the JSON path."""


class QueueFull(Error):
    """No room in the client's queue (EVP_ERR_QUEUE_FULL)."""


class StateError(Error):
    """The object is closed, closing, or was created in the parent of a
    forked process (EVP_ERR_STATE)."""


class DeliveryError(Error):
    """An event was not delivered; raised by the Future send() returned.
    ``report`` is the :class:`~evpipe.DeliveryReport`."""

    def __init__(self, code: int, reason: str, report: object) -> None:
        super().__init__(code, reason)
        self.report = report


_BY_CODE: Dict[int, Type[Error]] = {
    ERR_CONF_UNKNOWN: ConfigError,
    ERR_CONF_INVALID: ConfigError,
    ERR_JSON: InvalidEventError,
    ERR_INVALID_EVENT: InvalidEventError,
    ERR_QUEUE_FULL: QueueFull,
    ERR_STATE: StateError,
}


def make(code: int, reason: str = "") -> Error:
    """The exception for ``code``: its family's subclass, else Error."""
    return _BY_CODE.get(code, Error)(code, reason)


def check(code: int, errbuf: Optional[object] = None) -> None:
    """Raise for a non-zero evp_err_t, with errstr's text when given."""
    if code != OK:
        reason = _lib.text(errbuf.value) if errbuf is not None else ""  # type: ignore[attr-defined]
        raise make(code, reason)
