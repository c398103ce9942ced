"""JSON Schema (draft-07) validation with the library's validator."""
from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Union

from . import _lib
from ._guard import CallGuard
from .errors import ERR_INVALID_EVENT, ERR_NOMEM, ERR_STATE, OK, check, make

_ERRLEN = 512
Document = Union[str, bytes, Mapping[str, Any], bool]


def _as_bytes(doc: Any) -> bytes:
    if isinstance(doc, bytes):
        return doc
    if isinstance(doc, str):
        return doc.encode()
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ValidationError:
    """One reason a document does not validate."""

    instance_path: str  #: JSON Pointer into the document ("" for the root)
    schema_path: str  #: JSON Pointer into the schema, to the failing keyword
    keyword: str  #: the keyword, e.g. "required"
    message: str  #: a human-readable explanation


class Schema:
    """A compiled JSON Schema.

    ``Schema(doc)`` takes the schema as text, bytes or a parsed object;
    ``resources`` maps absolute URIs to documents that ``$ref`` may name;
    ``format_assert`` makes ``format`` an assertion (the library's default).
    Raises :class:`~evpipe.Error` (EVP_ERR_SCHEMA_INVALID, EVP_ERR_JSON,
    EVP_ERR_SCHEMA_REF, ...) when the schema does not compile. A Schema may
    be used from several threads at once.
    """

    def __init__(self, schema: Document, *, resources: Optional[Mapping[str, Document]] = None,
                 format_assert: bool = True) -> None:
        lib = _lib.lib()
        self._h: Optional[int] = None
        # validate() calls in progress: close() frees the schema after them.
        self._guard = CallGuard()
        self._closing = False
        err = ctypes.create_string_buffer(_ERRLEN)
        loader = lib.evp_schema_loader_new()
        if not loader:
            raise MemoryError
        try:
            lib.evp_schema_loader_set_format_assert(loader, 1 if format_assert else 0)
            for uri, doc in (resources or {}).items():
                b = _as_bytes(doc)
                code = lib.evp_schema_add_resource(loader, uri.encode(), b, len(b), err, _ERRLEN)
                if code != OK:
                    raise make(code, f"resource {uri}: {_lib.text(err.value)}")
            text = _as_bytes(schema)
            code_out = ctypes.c_int(0)
            self._h = lib.evp_schema_compile(text, len(text), loader, ctypes.byref(code_out),
                                             err, _ERRLEN)
            if not self._h:
                raise make(code_out.value or ERR_NOMEM, _lib.text(err.value))
        finally:
            lib.evp_schema_loader_destroy(loader)

    def validate(self, instance: Document, max_errors: int = 100) -> List[ValidationError]:
        """The errors of ``instance`` (text, bytes or a parsed object): an
        empty list when it is valid. ``max_errors``: 1 stops at the first
        error (fastest), N collects up to N (at most 10000). Raises :class:`~evpipe.InvalidEventError`
        (EVP_ERR_JSON, ...) when the text is not acceptable JSON."""
        lib = _lib.lib()
        b = _as_bytes(instance)
        # A workspace per call: a context belongs to one thread at a time,
        # and one kept per thread would outlive threads that end.
        ctx = lib.evp_schema_ctx_new()
        if not ctx:
            raise MemoryError
        try:
            h = self._guard.enter(self._handle)
            try:  # the errors' strings may point into the schema: read them here too
                check(lib.evp_schema_ctx_set_limits(ctx, 0, 0, max_errors))
                code = lib.evp_schema_validate(h, ctx, b, len(b))
                if code == OK:
                    return []
                n = lib.evp_schema_ctx_error_count(ctx)
                errors = [
                    ValidationError(_lib.text(lib.evp_schema_ctx_error_instance_path(ctx, i)),
                                    _lib.text(lib.evp_schema_ctx_error_schema_path(ctx, i)),
                                    _lib.text(lib.evp_schema_ctx_error_keyword(ctx, i)),
                                    _lib.text(lib.evp_schema_ctx_error_message(ctx, i)))
                    for i in range(n)]
            finally:
                self._guard.leave()
        finally:
            lib.evp_schema_ctx_destroy(ctx)
        if code != ERR_INVALID_EVENT:
            raise make(code, "; ".join(e.message for e in errors))
        return errors

    def is_valid(self, instance: Document) -> bool:
        """Whether ``instance`` validates."""
        return not self.validate(instance)

    def _handle(self) -> int:
        if not self._h or self._closing:
            raise make(ERR_STATE, "Schema is closed")
        return self._h

    def _take(self) -> Optional[int]:
        h, self._h = self._h, None
        return h

    def close(self) -> None:
        """Free the compiled schema (also done when it is garbage collected),
        once the validate() calls in progress on other threads have ended."""
        guard = getattr(self, "_guard", None)  # absent when __init__ failed early
        if guard is None:
            return
        self._closing = True  # first: a validate() starting now is refused
        h = guard.when_idle(self._take)
        if h:
            _lib.lib().evp_schema_destroy(h)

    def __enter__(self) -> "Schema":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
