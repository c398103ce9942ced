"""The HS256 token functions (Keyring, Signer, Verifier)."""
from __future__ import annotations

import pytest

import evpipe

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def kr() -> evpipe.Keyring:
    k = evpipe.Keyring()
    k.add(KEY, kid="v1")
    return k


def test_version():
    import re
    assert re.match(r"^\d+\.\d+\.\d+$", evpipe.version())


def test_round_trip(kr):
    tok = evpipe.Signer(kr, issuer="https://iss").sign("c1", "events", {"scope": "w"})
    claims = evpipe.Verifier(kr, audience="events", issuer="https://iss").verify(tok)
    assert claims["sub"] == "c1" and claims["scope"] == "w"
    assert claims["exp"] - claims["iat"] == 1200


@pytest.mark.parametrize("make,name", [
    (lambda kr: kr.add(b"short", kid="v2"), "EVP_ERR_KEY_TOO_SHORT"),
    (lambda kr: evpipe.Verifier(kr, audience="other").verify(evpipe.Signer(kr).sign("c", "e")),
     "EVP_ERR_JWT_BAD_AUDIENCE"),
    (lambda kr: evpipe.Verifier(kr, now=4102444800).verify(evpipe.Signer(kr).sign("c", "e")),
     "EVP_ERR_JWT_EXPIRED"),
    (lambda kr: evpipe.Verifier(kr).verify("a.b"), "EVP_ERR_JWT_MALFORMED"),
    (lambda kr: evpipe.Signer(kr).sign("c1", "events", {"exp": 1}), "EVP_ERR_INVALID_ARG"),
])
def test_errors_carry_codes(kr, make, name):
    with pytest.raises(evpipe.Error) as e:
        make(kr)
    assert e.value.name == name and e.value.code > 0


def test_rotation(kr):
    old = evpipe.Signer(kr).sign("c", "a")
    kr.add(b"fedcba9876543210fedcba9876543210", kid="v2")
    kr.set_current("v2")
    new = evpipe.Signer(kr).sign("c", "a")
    v = evpipe.Verifier(kr)
    assert v.verify(old)["sub"] == "c" and v.verify(new)["sub"] == "c"
