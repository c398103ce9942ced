"""Loading libevpipe and declaring the C functions the binding calls (ctypes).

The shared library is looked for, in order: an explicit path given to
:func:`load` (or ``$EVPIPE_LIBRARY``), the ``libdir`` of the ``evpipe``
pkg-config package, then the system loader (``libevpipe.so.0.2``, the SONAME
this binding was written against). Every attempt is remembered so that the
error says what was tried and what to do.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from typing import Any, Callable, List, Optional

SONAME = "libevpipe.so.0.2"

c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_size_t = ctypes.c_size_t
c_int = ctypes.c_int
c_long = ctypes.c_long
c_int64 = ctypes.c_int64

# Callback types (include/evpipe/conf.h, jwt.h).
DELIVERY_CB = ctypes.CFUNCTYPE(None, c_void_p, c_void_p, c_void_p)
ERROR_CB = ctypes.CFUNCTYPE(None, c_int, c_int, c_char_p, c_void_p)
LOG_CB = ctypes.CFUNCTYPE(None, c_int, c_char_p, c_void_p)
CLOCK_CB = ctypes.CFUNCTYPE(c_int64, c_void_p)


class LibraryNotFound(OSError):
    """libevpipe could not be loaded; the message lists every place tried."""


def _pkg_config_libdir() -> Optional[str]:
    exe = shutil.which("pkg-config")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--variable=libdir", "evpipe"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = out.stdout.strip()
    return libdir if out.returncode == 0 and libdir else None


def _candidates(path: Optional[str]) -> List[str]:
    explicit = path or os.environ.get("EVPIPE_LIBRARY")
    if explicit:
        # An explicit choice is the only one: falling back to another copy
        # would hide a wrong path.
        return [explicit]
    found = []
    libdir = _pkg_config_libdir()
    if libdir:
        found.append(os.path.join(libdir, SONAME))
    found.append(SONAME)
    return found


def _declare(lib: ctypes.CDLL) -> None:
    def fn(name: str, restype: Any, *argtypes: Any) -> None:
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = list(argtypes)

    p = c_void_p
    s = c_char_p
    fn("evp_version_str", s)
    fn("evp_err2str", s, c_int)
    fn("evp_err2name", s, c_int)
    fn("evp_free", None, p)
    # conf.h
    fn("evp_conf_new", p)
    fn("evp_conf_set", c_int, p, s, s, s, c_size_t)
    fn("evp_conf_destroy", None, p)
    fn("evp_conf_set_delivery_cb", None, p, DELIVERY_CB, p)
    fn("evp_conf_set_error_cb", None, p, ERROR_CB)
    fn("evp_conf_set_log_cb", None, p, LOG_CB)
    # client.h
    fn("evp_client_create", p, p, ctypes.POINTER(c_int), s, c_size_t)
    fn("evp_send", c_int, p, s, c_size_t, s, c_size_t)
    fn("evp_send_opaque", c_int, p, s, c_size_t, p, s, c_size_t)
    fn("evp_flush", c_long, p, c_int)
    fn("evp_client_destroy", c_long, p, c_int)
    fn("evp_client_pause", c_int, p)
    fn("evp_client_resume", c_int, p)
    fn("evp_client_stats", p, p)
    fn("evp_poll", c_long, p, c_int)
    fn("evp_poll_fd", c_int, p)
    fn("evp_delivery_status", c_int, p)
    fn("evp_delivery_error", c_int, p)
    fn("evp_delivery_reason", s, p)
    fn("evp_delivery_event_id", p, p, ctypes.POINTER(c_size_t))
    fn("evp_delivery_opaque", p, p)
    fn("evp_delivery_latency_us", ctypes.c_longlong, p)
    fn("evp_delivery_attempts", c_int, p)
    fn("evp_delivery_http_status", c_int, p)
    fn("evp_delivery_from_spool", c_int, p)
    # schema.h
    fn("evp_schema_loader_new", p)
    fn("evp_schema_loader_destroy", None, p)
    fn("evp_schema_add_resource", c_int, p, s, s, c_size_t, s, c_size_t)
    fn("evp_schema_loader_set_format_assert", None, p, c_int)
    fn("evp_schema_compile", p, s, c_size_t, p, ctypes.POINTER(c_int), s, c_size_t)
    fn("evp_schema_destroy", None, p)
    fn("evp_schema_ctx_new", p)
    fn("evp_schema_ctx_destroy", None, p)
    fn("evp_schema_ctx_set_limits", c_int, p, c_size_t, c_int, c_size_t)
    fn("evp_schema_validate", c_int, p, p, s, c_size_t)
    fn("evp_schema_ctx_error_count", c_size_t, p)
    fn("evp_schema_ctx_errors_truncated", c_int, p)
    fn("evp_schema_ctx_error_instance_path", s, p, c_size_t)
    fn("evp_schema_ctx_error_schema_path", s, p, c_size_t)
    fn("evp_schema_ctx_error_keyword", s, p, c_size_t)
    fn("evp_schema_ctx_error_message", s, p, c_size_t)
    # jwt.h
    fn("evp_keyring_new", p)
    fn("evp_keyring_add", c_int, p, s, s, c_size_t, s, c_size_t)
    fn("evp_keyring_set_current", c_int, p, s)
    fn("evp_keyring_destroy", None, p)
    fn("evp_jwt_signer_new", p, p, s, c_size_t)
    fn("evp_jwt_signer_set_issuer", c_int, p, s)
    fn("evp_jwt_signer_set_ttl", c_int, p, c_int64)
    fn("evp_jwt_sign", c_int, p, s, s, s, ctypes.POINTER(p), s, c_size_t)
    fn("evp_jwt_signer_destroy", None, p)
    fn("evp_jwt_verifier_new", p, p, s, c_size_t)
    fn("evp_jwt_verifier_set_audience", c_int, p, s)
    fn("evp_jwt_verifier_set_issuer", c_int, p, s)
    fn("evp_jwt_verifier_set_leeway", c_int, p, c_int64)
    fn("evp_jwt_verifier_set_clock", None, p, CLOCK_CB, p)
    fn("evp_jwt_verify", c_int, p, s, c_size_t, ctypes.POINTER(p), s, c_size_t)
    fn("evp_jwt_verifier_destroy", None, p)
    fn("evp_jwt_claims_json", s, p)
    fn("evp_jwt_destroy", None, p)


_lib: Optional[ctypes.CDLL] = None
_path: Optional[str] = None


def load(path: Optional[str] = None) -> ctypes.CDLL:
    """Load libevpipe once (later calls return the same library).

    ``path`` (or ``$EVPIPE_LIBRARY``) names the shared library file; without
    it pkg-config's ``evpipe`` libdir, then the system loader, are tried.
    Raises :class:`LibraryNotFound` naming every attempt.
    """
    global _lib, _path
    if _lib is not None:
        if path is not None and path != _path:
            raise LibraryNotFound(f"libevpipe is already loaded from {_path!r}; "
                                  f"cannot switch to {path!r} in the same process")
        return _lib
    tried = []
    for cand in _candidates(path):
        try:
            lib = ctypes.CDLL(cand)
        except OSError as e:
            tried.append(f"  {cand}: {e}")
            continue
        _declare(lib)
        _lib, _path = lib, cand
        return lib
    raise LibraryNotFound(
        "libevpipe could not be loaded. Tried:\n" + "\n".join(tried) +
        "\nBuild it (cmake -S . -B build && cmake --build build) and either set "
        "EVPIPE_LIBRARY=/path/to/build/" + SONAME + ", call evpipe.load_library(path), "
        "install it (cmake --install build) so pkg-config finds 'evpipe', or add its "
        "directory to LD_LIBRARY_PATH.")


def lib() -> ctypes.CDLL:
    """The loaded library (loading it with the defaults on first use)."""
    return _lib if _lib is not None else load()


def library_path() -> Optional[str]:
    """What the library was loaded from (None before the first load)."""
    return _path


def text(b: Optional[bytes]) -> str:
    return b.decode("utf-8", errors="replace") if b is not None else ""


Callback = Callable[..., Any]
