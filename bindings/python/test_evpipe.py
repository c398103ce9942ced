"""Tests for the Python binding; run by tests/scripts/test_bindings_python.sh."""
import unittest

import evpipe

KEY = b"0123456789abcdef0123456789abcdef"


class TokenTests(unittest.TestCase):
    def setUp(self):
        self.kr = evpipe.Keyring()
        self.kr.add(KEY, kid="v1")

    def test_version(self):
        self.assertRegex(evpipe.version(), r"^\d+\.\d+\.\d+$")

    def test_round_trip(self):
        tok = evpipe.Signer(self.kr, issuer="https://iss").sign("c1", "events", {"scope": "w"})
        claims = evpipe.Verifier(self.kr, audience="events", issuer="https://iss").verify(tok)
        self.assertEqual(claims["sub"], "c1")
        self.assertEqual(claims["scope"], "w")
        self.assertEqual(claims["exp"] - claims["iat"], 1200)

    def test_errors_carry_codes(self):
        with self.assertRaises(evpipe.Error) as e:
            self.kr.add(b"short", kid="v2")
        self.assertEqual(e.exception.name, "EVP_ERR_KEY_TOO_SHORT")
        tok = evpipe.Signer(self.kr).sign("c1", "events")
        with self.assertRaises(evpipe.Error) as e:
            evpipe.Verifier(self.kr, audience="other").verify(tok)
        self.assertEqual(e.exception.name, "EVP_ERR_JWT_BAD_AUDIENCE")
        with self.assertRaises(evpipe.Error) as e:
            evpipe.Verifier(self.kr, now=4102444800).verify(tok)
        self.assertEqual(e.exception.name, "EVP_ERR_JWT_EXPIRED")
        with self.assertRaises(evpipe.Error) as e:
            evpipe.Verifier(self.kr).verify("a.b")
        self.assertEqual(e.exception.name, "EVP_ERR_JWT_MALFORMED")
        with self.assertRaises(evpipe.Error) as e:
            evpipe.Signer(self.kr).sign("c1", "events", {"exp": 1})
        self.assertEqual(e.exception.name, "EVP_ERR_INVALID_ARG")

    def test_rotation(self):
        old = evpipe.Signer(self.kr).sign("c", "a")
        self.kr.add(b"fedcba9876543210fedcba9876543210", kid="v2")
        self.kr.set_current("v2")
        new = evpipe.Signer(self.kr).sign("c", "a")
        v = evpipe.Verifier(self.kr)
        self.assertEqual(v.verify(old)["sub"], "c")
        self.assertEqual(v.verify(new)["sub"], "c")


if __name__ == "__main__":
    unittest.main()
