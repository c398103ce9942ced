"""The HS256 token core: Keyring, Signer, Verifier.

    import evpipe
    kr = evpipe.Keyring()
    kr.add(b"0123456789abcdef0123456789abcdef", kid="v1")
    token = evpipe.Signer(kr, issuer="https://auth.example").sign("client-1", "events")
    claims = evpipe.Verifier(kr, audience="events").verify(token)

Every object owns its C handle and frees it on close() or garbage
collection; a Signer/Verifier keeps its Keyring alive.
"""
from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, Optional

from . import _lib
from .errors import ERR_INVALID_ARG, ERR_NOMEM, check, make

_ERRLEN = 256


def _enc(s: Optional[str]) -> Optional[bytes]:
    return s.encode() if s is not None else None


class _Handle:
    """Owns one C handle, freed by close() or when garbage collected."""

    _h: Optional[int] = None
    _destroy = ""

    def close(self) -> None:
        h, self._h = self._h, None
        if h:
            getattr(_lib.lib(), self._destroy)(h)

    def _handle(self) -> int:
        if not self._h:
            raise make(ERR_INVALID_ARG, f"{type(self).__name__} is closed")
        return self._h

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class Keyring(_Handle):
    """A set of HS256 keys selected by kid; one of them signs."""

    _destroy = "evp_keyring_destroy"

    def __init__(self) -> None:
        self._h = _lib.lib().evp_keyring_new()
        if not self._h:
            raise MemoryError

    def add(self, key: bytes, kid: Optional[str] = None) -> None:
        """Add a key (32 bytes or more); the first one added becomes current."""
        err = ctypes.create_string_buffer(_ERRLEN)
        check(_lib.lib().evp_keyring_add(self._handle(), _enc(kid), key, len(key), err, _ERRLEN),
              err)

    def set_current(self, kid: Optional[str] = None) -> None:
        """Make the key ``kid`` the signing key."""
        check(_lib.lib().evp_keyring_set_current(self._handle(), _enc(kid)))


class Signer(_Handle):
    """Issues HS256 tokens with the keyring's current key."""

    _destroy = "evp_jwt_signer_destroy"

    def __init__(self, keyring: Keyring, issuer: Optional[str] = None,
                 ttl: Optional[int] = None) -> None:
        lib = _lib.lib()
        err = ctypes.create_string_buffer(_ERRLEN)
        self._kr = keyring  # the C signer borrows the keyring
        self._h = lib.evp_jwt_signer_new(keyring._handle(), err, _ERRLEN)
        if not self._h:
            raise make(ERR_INVALID_ARG, _lib.text(err.value))
        if issuer:
            check(lib.evp_jwt_signer_set_issuer(self._h, issuer.encode()))
        if ttl:
            check(lib.evp_jwt_signer_set_ttl(self._h, ttl))

    def sign(self, sub: str, aud: str, claims: Optional[Dict[str, Any]] = None) -> str:
        """A token for subject ``sub`` and audience ``aud`` with extra ``claims``."""
        lib = _lib.lib()
        err = ctypes.create_string_buffer(_ERRLEN)
        out = ctypes.c_void_p()
        extra = json.dumps(claims).encode() if claims else None
        check(lib.evp_jwt_sign(self._handle(), sub.encode(), aud.encode(), extra,
                               ctypes.byref(out), err, _ERRLEN), err)
        try:
            return ctypes.string_at(out.value).decode()
        finally:
            lib.evp_free(out)


class Verifier(_Handle):
    """Verifies HS256 tokens against the keyring (kid selects the key)."""

    _destroy = "evp_jwt_verifier_destroy"

    def __init__(self, keyring: Keyring, audience: Optional[str] = None,
                 issuer: Optional[str] = None, leeway: Optional[int] = None,
                 now: Optional[int] = None) -> None:
        lib = _lib.lib()
        err = ctypes.create_string_buffer(_ERRLEN)
        self._kr = keyring
        self._h = lib.evp_jwt_verifier_new(keyring._handle(), err, _ERRLEN)
        if not self._h:
            raise make(ERR_NOMEM, _lib.text(err.value))
        if audience:
            check(lib.evp_jwt_verifier_set_audience(self._h, audience.encode()))
        if issuer:
            check(lib.evp_jwt_verifier_set_issuer(self._h, issuer.encode()))
        if leeway is not None:
            check(lib.evp_jwt_verifier_set_leeway(self._h, leeway))
        if now is not None:
            fixed = int(now)
            # Kept alive as long as the verifier: the C side holds the pointer.
            self._clock = _lib.CLOCK_CB(lambda _opaque: fixed)
            lib.evp_jwt_verifier_set_clock(self._h, self._clock, None)

    def verify(self, token: str) -> Dict[str, Any]:
        """The claims, or raise Error (e.g. ``.name == "EVP_ERR_JWT_EXPIRED"``)."""
        lib = _lib.lib()
        err = ctypes.create_string_buffer(_ERRLEN)
        jwt = ctypes.c_void_p()
        t = token.encode()
        check(lib.evp_jwt_verify(self._handle(), t, len(t), ctypes.byref(jwt), err, _ERRLEN), err)
        try:
            claims: Dict[str, Any] = json.loads(_lib.text(lib.evp_jwt_claims_json(jwt)))
            return claims
        finally:
            lib.evp_jwt_destroy(jwt)
