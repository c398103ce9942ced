"""Python binding for libevpipe over its C ABI (ctypes, standard library only).

Covers the library version, error names and the HS256 token core:

    import evpipe
    kr = evpipe.Keyring()
    kr.add(b"0123456789abcdef0123456789abcdef", kid="v1")
    token = evpipe.Signer(kr, issuer="https://auth.example").sign("client-1", "events")
    claims = evpipe.Verifier(kr, audience="events").verify(token)

The shared library is found through $EVPIPE_LIBRARY, then the system loader
("libevpipe.so.0.2"). Every object owns its C handle and frees it on close() or
garbage collection; a Signer/Verifier keeps its Keyring alive.
"""
import ctypes
import json
import os

_lib = ctypes.CDLL(os.environ.get("EVPIPE_LIBRARY") or "libevpipe.so.0.2")

_c = ctypes.c_char_p
_vp = ctypes.c_void_p
_sz = ctypes.c_size_t
_i64 = ctypes.c_int64


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_version_str = _fn("evp_version_str", _c)
_err2str = _fn("evp_err2str", _c, ctypes.c_int)
_err2name = _fn("evp_err2name", _c, ctypes.c_int)
_free = _fn("evp_free", None, _vp)
_kr_new = _fn("evp_keyring_new", _vp)
_kr_add = _fn("evp_keyring_add", ctypes.c_int, _vp, _c, _c, _sz, _c, _sz)
_kr_cur = _fn("evp_keyring_set_current", ctypes.c_int, _vp, _c)
_kr_free = _fn("evp_keyring_destroy", None, _vp)
_s_new = _fn("evp_jwt_signer_new", _vp, _vp, _c, _sz)
_s_iss = _fn("evp_jwt_signer_set_issuer", ctypes.c_int, _vp, _c)
_s_ttl = _fn("evp_jwt_signer_set_ttl", ctypes.c_int, _vp, _i64)
_s_sign = _fn("evp_jwt_sign", ctypes.c_int, _vp, _c, _c, _c, ctypes.POINTER(_vp), _c, _sz)
_s_free = _fn("evp_jwt_signer_destroy", None, _vp)
_v_new = _fn("evp_jwt_verifier_new", _vp, _vp, _c, _sz)
_v_aud = _fn("evp_jwt_verifier_set_audience", ctypes.c_int, _vp, _c)
_v_iss = _fn("evp_jwt_verifier_set_issuer", ctypes.c_int, _vp, _c)
_v_lee = _fn("evp_jwt_verifier_set_leeway", ctypes.c_int, _vp, _i64)
_CLOCK = ctypes.CFUNCTYPE(_i64, _vp)
_v_clock = _fn("evp_jwt_verifier_set_clock", None, _vp, _CLOCK, _vp)
_v_verify = _fn("evp_jwt_verify", ctypes.c_int, _vp, _c, _sz, ctypes.POINTER(_vp), _c, _sz)
_v_free = _fn("evp_jwt_verifier_destroy", None, _vp)
_j_claims = _fn("evp_jwt_claims_json", _c, _vp)
_j_free = _fn("evp_jwt_destroy", None, _vp)


class Error(Exception):
    """A libevpipe error: .code (int), .name ("EVP_ERR_..."), str() the reason."""

    def __init__(self, code, message=""):
        self.code = code
        self.name = _err2name(code).decode()
        super().__init__(f"{self.name}: {message or _err2str(code).decode()}")


def _check(code, errbuf=None):
    if code != 0:
        raise Error(code, errbuf.value.decode(errors="replace") if errbuf is not None else "")


def version():
    return _version_str().decode()


class Keyring:
    def __init__(self):
        self._h = _kr_new()
        if not self._h:
            raise MemoryError

    def add(self, key: bytes, kid: str = None):
        err = ctypes.create_string_buffer(256)
        _check(_kr_add(self._h, kid.encode() if kid else None, key, len(key), err, 256), err)

    def set_current(self, kid: str = None):
        _check(_kr_cur(self._h, kid.encode() if kid else None))

    def close(self):
        if self._h:
            _kr_free(self._h)
            self._h = None

    __del__ = close


class Signer:
    def __init__(self, keyring: Keyring, issuer: str = None, ttl: int = None):
        err = ctypes.create_string_buffer(256)
        self._kr = keyring
        self._h = _s_new(keyring._h, err, 256)
        if not self._h:
            raise Error(1, err.value.decode())
        if issuer:
            _check(_s_iss(self._h, issuer.encode()))
        if ttl:
            _check(_s_ttl(self._h, ttl))

    def sign(self, sub: str, aud: str, claims: dict = None) -> str:
        err = ctypes.create_string_buffer(256)
        out = _vp()
        extra = json.dumps(claims).encode() if claims else None
        _check(_s_sign(self._h, sub.encode(), aud.encode(), extra, ctypes.byref(out), err, 256), err)
        try:
            return ctypes.string_at(out.value).decode()
        finally:
            _free(out)

    def close(self):
        if self._h:
            _s_free(self._h)
            self._h = None

    __del__ = close


class Verifier:
    def __init__(self, keyring: Keyring, audience: str = None, issuer: str = None,
                 leeway: int = None, now=None):
        err = ctypes.create_string_buffer(256)
        self._kr = keyring
        self._h = _v_new(keyring._h, err, 256)
        if not self._h:
            raise Error(1, err.value.decode())
        if audience:
            _check(_v_aud(self._h, audience.encode()))
        if issuer:
            _check(_v_iss(self._h, issuer.encode()))
        if leeway is not None:
            _check(_v_lee(self._h, leeway))
        if now is not None:
            # Keep the callback object alive as long as the verifier.
            self._clock = _CLOCK(lambda _opaque: int(now))
            _v_clock(self._h, self._clock, None)

    def verify(self, token: str) -> dict:
        """Return the claims, or raise Error (e.g. .name == "EVP_ERR_JWT_EXPIRED")."""
        err = ctypes.create_string_buffer(256)
        jwt = _vp()
        t = token.encode()
        _check(_v_verify(self._h, t, len(t), ctypes.byref(jwt), err, 256), err)
        try:
            return json.loads(_j_claims(jwt).decode())
        finally:
            _j_free(jwt)

    def close(self):
        if self._h:
            _v_free(self._h)
            self._h = None

    __del__ = close
