"""evpipe: Python binding of libevpipe over its C ABI (ctypes, standard library only).

    import evpipe
    with evpipe.Client(endpoint="http://127.0.0.1:8080", client_id="app",
                       client_secret="...", audience="events") as client:
        client.send({"event_type": "app_open", "app_id": "demo"})
        client.flush(10)

The shared library is loaded on first use: see :func:`load_library`.
See docs/python.md for the whole API.
"""
from __future__ import annotations

from typing import Optional

from . import _lib
from ._lib import LibraryNotFound
from .client import Client, DeliveryReport, DeliveryStatus, property_name
from .errors import (ConfigError, DeliveryError, Error, InvalidEventError, QueueFull,
                     StateError)
from .schema import Schema, ValidationError
from .tokens import Keyring, Signer, Verifier

__all__ = [
    "Client", "DeliveryReport", "DeliveryStatus", "Schema", "ValidationError", "Keyring",
    "Signer", "Verifier", "Error", "ConfigError", "InvalidEventError", "QueueFull",
    "StateError", "DeliveryError", "LibraryNotFound", "load_library", "library_path",
    "version", "property_name",
]
__version__ = "0.2.0"


def load_library(path: Optional[str] = None) -> str:
    """Load libevpipe now, from ``path`` when given (else ``$EVPIPE_LIBRARY``,
    pkg-config's ``evpipe`` libdir, then the system loader), and return what
    was loaded. Raises LibraryNotFound listing what was tried."""
    _lib.load(path)
    return _lib.library_path() or ""


def library_path() -> Optional[str]:
    """Where libevpipe was loaded from (None before first use)."""
    return _lib.library_path()


def version() -> str:
    """The library's version, e.g. "0.2.0"."""
    return _lib.text(_lib.lib().evp_version_str())
