"""Bearer JWT verification: what verifies, what is refused and why, and how a JWKS URL
is cached (TTL, one rate-limited refetch on an unknown kid, last good set kept)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from adapters.auth.tokens import JwksKeys, StaticKeys, TokenVerifier
from domain.access import Principal, Scope
from domain.errors import Unauthorized
from domain.ids import TenantId

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ATTACKER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: Any, kid: str) -> dict[str, Any]:
    algo = RSAAlgorithm if isinstance(key, rsa.RSAPublicKey) else ECAlgorithm
    out: dict[str, Any] = algo.to_jwk(key, as_dict=True)
    out["kid"] = kid
    return out


JWKS = {"keys": [jwk(RSA_KEY.public_key(), "rsa-1"), jwk(EC_KEY.public_key(), "ec-1")]}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "https://idp.example",
        "aud": "kairos",
        "sub": "svc-reports",
        "tenant": "acme",
        "scope": "scheduler:read scheduler:operate other:thing",
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: Mapping[str, Any], key: Any = RSA_KEY, alg: str = "RS256", **hdr: Any) -> str:
    return jwt.encode(dict(payload), key, algorithm=alg, headers={"kid": "rsa-1", **hdr})


def verifier(keys: Any = None) -> TokenVerifier:
    return TokenVerifier(keys or StaticKeys(JWKS), "https://idp.example", "kairos")


async def test_a_good_token_gives_its_tenant_and_known_scopes() -> None:
    """RS256 and ES256 both verify; unknown scopes are dropped; scopes nest."""
    principal = await verifier().verify(sign(claims()))
    assert principal == Principal(
        TenantId("acme"), frozenset({Scope.READ, Scope.OPERATE}), "svc-reports"
    )
    assert (principal.allows(Scope.READ), principal.allows(Scope.ADMIN)) == (True, False)
    ec_token = sign(claims(scope=["scheduler:admin"]), EC_KEY, "ES256", kid="ec-1")
    admin = await verifier().verify(ec_token)
    assert admin.allows(Scope.OPERATE)


def _hs256_with_public_key() -> str:
    """The classic confusion attack: HMAC "signed" with the RSA public key's PEM."""
    import base64  # noqa: PLC0415
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415
    import json  # noqa: PLC0415

    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = b64(json.dumps(claims()).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def _unsigned() -> str:
    return jwt.encode(claims(), None, algorithm="none")  # type: ignore[arg-type]


REFUSED: dict[str, Callable[[], str]] = {
    "expired": lambda: sign(claims(exp=int(time.time()) - 120)),
    "not yet valid": lambda: sign(claims(nbf=int(time.time()) + 600)),
    "wrong audience": lambda: sign(claims(aud="someone-else")),
    "no audience": lambda: sign(claims(aud=None)),
    "wrong issuer": lambda: sign(claims(iss="https://evil.example")),
    "no expiry": lambda: sign(claims(exp=None)),
    "alg none": _unsigned,
    "HS256 with the public key": _hs256_with_public_key,
    "unknown kid": lambda: sign(claims(), kid="rsa-9"),
    "another key under our kid": lambda: sign(claims(), ATTACKER),
    "embedded jwk ignored": lambda: sign(
        claims(), ATTACKER, kid="attacker", jwk=jwk(ATTACKER.public_key(), "attacker")
    ),
    "jku ignored": lambda: sign(claims(), ATTACKER, kid="x", jku="https://evil.example/jwks"),
    "RS256 against an EC key": lambda: sign(claims(), RSA_KEY, kid="ec-1"),
    "no tenant": lambda: sign(claims(tenant=None)),
    "bad tenant": lambda: sign(claims(tenant="Acme Corp")),
    "not a JWT": lambda: "definitely-not-a-token",
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_bad_tokens_are_refused(case: str) -> None:
    """Each is 401 UNAUTHORIZED, with nothing about the key material in the message."""
    with pytest.raises(Unauthorized):
        await verifier().verify(REFUSED[case]())


def test_symmetric_algorithms_cannot_be_configured() -> None:
    """HS* and none are not allowed even by configuration."""
    with pytest.raises(ValueError, match="asymmetric"):
        TokenVerifier(StaticKeys(JWKS), "i", "a", algorithms=("RS256", "HS256"))
    with pytest.raises(ValueError, match="issuer and an audience"):
        TokenVerifier(StaticKeys(JWKS), "", "a")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_jwks_is_cached_refetched_once_for_an_unknown_kid_and_kept_on_failure() -> None:
    """One fetch serves many tokens; an unknown kid refetches at most every 30 s; a
    rotated key is found by that refetch; a failing endpoint keeps the last good set."""
    calls: list[str] = []
    published = {"keys": [jwk(RSA_KEY.public_key(), "rsa-1")]}
    failing = False

    async def fetch(url: str) -> Mapping[str, Any]:
        calls.append(url)
        if failing:
            raise OSError("idp down")
        return published

    clock = Clock()
    keys = JwksKeys("https://idp.example/jwks", fetch=fetch, clock=clock)
    v = verifier(keys)
    for _ in range(3):
        await v.verify(sign(claims()))
    assert len(calls) == 1
    with pytest.raises(Unauthorized):  # just fetched: an unknown kid waits its turn
        await v.verify(sign(claims(), EC_KEY, "ES256", kid="ec-1"))
    assert len(calls) == 1
    clock.now += 31
    for _ in range(3):  # unknown kid: one refetch, then rate-limited
        with pytest.raises(Unauthorized):
            await v.verify(sign(claims(), EC_KEY, "ES256", kid="ec-1"))
    assert len(calls) == 2
    published = JWKS  # the IdP rotates in its EC key
    clock.now += 31
    assert (await v.verify(sign(claims(), EC_KEY, "ES256", kid="ec-1"))).tenant_id == "acme"
    assert len(calls) == 3
    failing = True
    clock.now += timedelta(minutes=6).total_seconds()  # past the TTL: refetch fails
    assert (await v.verify(sign(claims()))).tenant_id == "acme"  # last good set kept
    assert len(calls) == 4


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["9999999999", True, [1], {"n": 1}])
async def test_time_claims_that_are_not_numbers_are_refused(claim: str, value: Any) -> None:
    """exp, nbf and iat must be JSON numbers (RFC 7519 NumericDate), not strings."""
    payload = claims()
    payload[claim] = value
    with pytest.raises(Unauthorized):
        await verifier().verify(sign(payload))
