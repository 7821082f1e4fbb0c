"""Bearer JWT verification (docs/semantics.md, *Tenancy and access*), with PyJWT behind
this one module.

- Keys come from a JWKS URL (``JwksKeys``: cached for ``ttl``; an unknown ``kid``
  triggers one refetch, at most every ``min_refetch``; a failed fetch keeps the last good
  set) or from a static JWKS (``StaticKeys``: configured keys, or the dev stack's).
- Algorithms are a fixed asymmetric set. ``none`` and every HMAC algorithm are refused
  before any key is looked at, so a token "signed" with a public key as an HMAC secret
  never verifies; the key's type must match the algorithm's family.
- The key is chosen by ``kid`` from our own set only: ``jku``, ``x5u`` and an embedded
  ``jwk`` header are ignored.
- ``iss`` and ``aud`` are required and checked, ``exp`` is required, ``exp``/``nbf``
  get a small leeway. Tenant and scopes come from configurable claims.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from domain.access import Principal, parse_scopes
from domain.errors import DomainError, Unauthorized
from domain.ids import parse_tenant

log = logging.getLogger("kairos.auth")

FAMILY = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "RSA"),
    **dict.fromkeys(("ES256", "ES384", "ES512"), "EC"),
    "EdDSA": "OKP",
}
DEFAULT_ALGORITHMS = ("RS256", "ES256", "EdDSA")


class KeySource(Protocol):
    async def get(self, kid: str | None) -> Mapping[str, Any] | None: ...


def _index(jwks: Mapping[str, Any]) -> dict[str | None, Mapping[str, Any]]:
    keys = [k for k in jwks.get("keys", []) if isinstance(k, Mapping) and k.get("kty")]
    found: dict[str | None, Mapping[str, Any]] = {k.get("kid"): k for k in keys}
    if len(keys) == 1:
        found.setdefault(None, keys[0])  # a lone key also answers a token without kid
    return found


class StaticKeys:
    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = _index(jwks)

    @classmethod
    def from_file(cls, path: Path) -> StaticKeys:
        return cls(json.loads(path.read_text()))

    async def get(self, kid: str | None) -> Mapping[str, Any] | None:
        return self._keys.get(kid)


Fetch = Callable[[str], Awaitable[Mapping[str, Any]]]


async def _http_fetch(url: str) -> Mapping[str, Any]:
    async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
        response = await client.get(url)
        response.raise_for_status()
        data: Mapping[str, Any] = response.json()
        return data


@dataclass
class JwksKeys:
    url: str
    ttl: timedelta = timedelta(minutes=5)
    min_refetch: timedelta = timedelta(seconds=30)
    fetch: Fetch = _http_fetch
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str | None, Mapping[str, Any]] = field(default_factory=dict)
    _fetched_at: float | None = None
    _tried_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, kid: str | None) -> Mapping[str, Any] | None:
        now = self.clock()
        if self._fetched_at is None or now - self._fetched_at > self.ttl.total_seconds():
            await self._refresh(now)
        key = self._keys.get(kid)
        if key is None and (
            self._tried_at is None or now - self._tried_at >= self.min_refetch.total_seconds()
        ):
            await self._refresh(now)  # a rotated key: one rate-limited refetch
            key = self._keys.get(kid)
        return key

    async def _refresh(self, now: float) -> None:
        async with self._lock:
            if self._tried_at == now:
                return  # another request refreshed meanwhile
            self._tried_at = now
            try:
                self._keys = _index(await self.fetch(self.url))
                self._fetched_at = now
            except (httpx.HTTPError, ValueError, OSError) as exc:
                # keep the last good set; try again at the next refetch slot
                log.warning("JWKS fetch from %s failed: %s", self.url, exc)


@dataclass(frozen=True)
class TokenVerifier:
    keys: KeySource
    issuer: str
    audience: str
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS
    tenant_claim: str = "tenant"
    scope_claim: str = "scope"
    leeway: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        bad = [a for a in self.algorithms if a not in FAMILY]
        if bad:
            raise ValueError(f"algorithms {bad} are not allowed (asymmetric ones only)")
        if not self.issuer or not self.audience:
            raise ValueError("an issuer and an audience are required")

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("the bearer token is not a JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise Unauthorized(f"token algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        jwk = await self.keys.get(kid if isinstance(kid, str) else None)
        if jwk is None:
            raise Unauthorized("the token's signing key is not known", kid=kid)
        if jwk.get("kty") != FAMILY[alg]:
            raise Unauthorized(f"key {kid!r} cannot verify {alg}")
        try:
            key = _public_key(json.dumps(dict(jwk), sort_keys=True), alg)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"the token does not verify: {exc}") from None
        for claim in ("exp", "nbf", "iat"):
            # RFC 7519 NumericDate: PyJWT would also take the string "9999999999".
            value = claims.get(claim)
            if claim in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise Unauthorized(f"the token's {claim!r} claim is not a number")
        tenant = claims.get(self.tenant_claim)
        if not isinstance(tenant, str):
            raise Unauthorized(f"the token has no {self.tenant_claim!r} claim")
        try:
            tenant_id = parse_tenant(tenant)
        except DomainError:
            raise Unauthorized("the token's tenant is not a valid tenant id") from None
        return Principal(
            tenant_id=tenant_id,
            scopes=parse_scopes(claims.get(self.scope_claim)),
            subject=str(claims.get("sub", "")),
        )


@functools.lru_cache(maxsize=256)
def _public_key(jwk_json: str, alg: str) -> Any:
    """A JWK parsed into a key object once, not on every request (keyed by its content,
    so a rotated key under the same kid is parsed afresh)."""
    return jwt.PyJWK(json.loads(jwk_json), algorithm=alg).key


# -- the dev stack's keys -------------------------------------------------------------------

DEV_ISSUER = "kairos-dev"
DEV_AUDIENCE = "kairos"


@dataclass(frozen=True)
class DevKeys:
    """An Ed25519 key pair under ``folder`` (``kairos dev`` makes it on first start):
    ``signing.pem`` mints tokens (``kairos token``), ``jwks.json`` verifies them."""

    folder: Path

    @property
    def jwks_file(self) -> Path:
        return self.folder / "jwks.json"

    def ensure(self) -> DevKeys:
        pem = self.folder / "signing.pem"
        if not pem.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            private = Ed25519PrivateKey.generate()
            pem.write_bytes(
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            pem.chmod(0o600)
            jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
            jwk.update({"kid": "dev-1", "use": "sig", "alg": "EdDSA"})
            self.jwks_file.write_text(json.dumps({"keys": [jwk]}, indent=2))
        return self

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(StaticKeys.from_file(self.jwks_file), DEV_ISSUER, DEV_AUDIENCE)

    def mint(self, tenant: str, scopes: Sequence[str], *, ttl: timedelta, now: float) -> str:
        private = serialization.load_pem_private_key(
            (self.folder / "signing.pem").read_bytes(), password=None
        )
        claims = {
            "iss": DEV_ISSUER,
            "aud": DEV_AUDIENCE,
            "sub": f"dev:{tenant}",
            "tenant": tenant,
            "scope": " ".join(scopes),
            "iat": int(now),
            "exp": int(now + ttl.total_seconds()),
        }
        return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": "dev-1"})  # type: ignore[arg-type]
