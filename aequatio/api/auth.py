"""OAuth2 bearer tokens (JWT): verification for the API and local issuance for development.

One algorithm is configured (``AEQUATIO_JWT_ALGORITHM``) and a token naming any other in its
header is refused before its signature is looked at, so ``alg: none`` and the HS256-signed-
with-the-RSA-public-key confusion never reach a verifier. HS256 uses a shared secret (see
:func:`resolve_jwt_secret`); RS256/ES256 use an identity provider's public key, given as PEM
or fetched from its JWKS document by ``kid``.

Failures raise :class:`AuthenticationError` whose ``reason`` is a short fixed phrase; neither
the token nor anything decoded from it is ever part of the message.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from aequatio.application.context import Principal
from aequatio.config import Environment, Settings
from aequatio.domain.text import is_plain

log = logging.getLogger(__name__)

# --- scopes: one per mutation family ---------------------------------------------------------
USERS_WRITE: Final = "users:write"
GROUPS_WRITE: Final = "groups:write"
EXPENSES_WRITE: Final = "expenses:write"
SPLITS_WRITE: Final = "splits:write"
INVOICES_WRITE: Final = "invoices:write"

#: Every scope the API knows, with what it allows.
SCOPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        USERS_WRITE: "register and change users",
        GROUPS_WRITE: "create groups and manage their members",
        EXPENSES_WRITE: "record, correct and withdraw expenses",
        SPLITS_WRITE: "run and settle monthly splits",
        INVOICES_WRITE: "issue and manage invoices",
    }
)
ALL_SCOPES: Final = frozenset(SCOPES)

#: Claims a token must carry (``nbf`` is optional but honoured when present).
REQUIRED_CLAIMS: Final = ("exp", "iat", "iss", "aud", "sub")
#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_SECRET_BYTES: Final = 32
MIN_RSA_BITS: Final = 2048
#: The generated development secret, inside ``settings.data_dir``.
SECRET_FILE: Final = "jwt-secret"  # noqa: S105 - a file name
#: The JWKS document is cached this long; a removed (revoked) key stops verifying after it.
JWKS_CACHE_SECONDS: Final = 300.0
#: An unknown ``kid`` refetches the JWKS at most this often (key rotation without a DoS lever).
JWKS_REFRESH_COOLDOWN_SECONDS: Final = 30.0
JWKS_TIMEOUT_SECONDS: Final = 5.0

_BEARER = re.compile(r"bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
_LOOPBACK_NAMES = frozenset({"localhost"})


class AuthenticationError(Exception):
    """A request's credentials were refused; ``reason`` is safe to log and to return."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthConfigurationError(RuntimeError):
    """The settings cannot authenticate anyone: no secret, an unusable key, conflicting options."""


# PyJWT's exceptions, most specific first (several derive from DecodeError/InvalidTokenError).
_REASONS: Final[tuple[tuple[type[Exception], str], ...]] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not yet valid"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidIssuedAtError, "invalid claim: iat"),
    (jwt.exceptions.InvalidSubjectError, "invalid claim: sub"),
    (jwt.exceptions.InvalidJTIError, "invalid claim: jti"),
    (jwt.InvalidKeyError, "unusable key"),
    (jwt.PyJWKClientConnectionError, "key set unavailable"),
    (jwt.PyJWKClientError, "unknown key"),
    (jwt.PyJWKSetError, "key set unavailable"),
    (jwt.PyJWKError, "unusable key"),
    (jwt.DecodeError, "malformed"),
)


def _refusal(error: Exception) -> AuthenticationError:
    if isinstance(error, jwt.MissingRequiredClaimError):
        # ``claim`` is one of REQUIRED_CLAIMS, never a value from the token.
        reason = f"missing claim: {error.claim}"
    else:
        reason = next((text for kind, text in _REASONS if isinstance(error, kind)), "invalid")
    log.debug("bearer token refused: %s (%s)", reason, type(error).__name__)
    return AuthenticationError(reason)


def bearer_token(authorization_header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; ``None`` without a header."""
    if authorization_header is None:
        return None
    match = _BEARER.fullmatch(authorization_header.strip())
    if match is None:
        raise AuthenticationError("malformed authorization header")
    return match.group(1)


class TokenVerifier:
    """Turns a bearer token into a :class:`Principal`, or refuses it.

    Thread-safe. With a JWKS URL, ``verify`` may fetch the key set over HTTP (rarely: it is
    cached), so async callers should run it in a worker thread.
    """

    def __init__(self, settings: Settings) -> None:
        self._algorithm = settings.jwt_algorithm
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._max_token_bytes = settings.jwt_max_token_bytes
        self._key: str | RSAPublicKey | EllipticCurvePublicKey | jwt.PyJWKClient
        if self._algorithm == "HS256":
            if settings.jwt_public_key or settings.jwt_jwks_url:
                raise AuthConfigurationError(
                    "AEQUATIO_JWT_PUBLIC_KEY / AEQUATIO_JWT_JWKS_URL need "
                    "AEQUATIO_JWT_ALGORITHM=RS256 or ES256 (it is HS256)"
                )
            self._key = resolve_jwt_secret(settings)
        elif settings.jwt_public_key and settings.jwt_jwks_url:
            raise AuthConfigurationError(
                "set AEQUATIO_JWT_PUBLIC_KEY or AEQUATIO_JWT_JWKS_URL, not both"
            )
        elif settings.jwt_public_key:
            self._key = _load_public_key(settings.jwt_public_key, self._algorithm)
        elif settings.jwt_jwks_url:
            self._key = _jwks_client(settings.jwt_jwks_url)
        else:
            raise AuthConfigurationError(
                f"AEQUATIO_JWT_ALGORITHM={self._algorithm} needs AEQUATIO_JWT_PUBLIC_KEY "
                "or AEQUATIO_JWT_JWKS_URL"
            )

    @property
    def algorithm(self) -> str:
        return self._algorithm

    def verify(self, token: str) -> Principal:
        # Size first: nothing of an oversized token is decoded (bytes >= characters).
        if len(token) > self._max_token_bytes:
            raise AuthenticationError("token too large")
        if not token.isascii():
            raise AuthenticationError("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise _refusal(error) from None
        if header.get("alg") != self._algorithm:
            raise AuthenticationError("algorithm not allowed")
        key = (
            _signing_key(self._key, header) if isinstance(self._key, jwt.PyJWKClient) else self._key
        )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS), "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as error:
            raise _refusal(error) from None
        subject = claims["sub"]
        if not subject.strip():
            raise AuthenticationError("missing claim: sub")
        if not is_plain(subject):
            raise AuthenticationError("invalid claim: sub")
        return Principal(
            subject=subject,
            scopes=_scopes(claims),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )


def _signing_key(jwks: jwt.PyJWKClient, header: Mapping[str, Any]) -> jwt.PyJWK:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthenticationError("unknown key")
    try:
        return jwks.get_signing_key(kid)
    except jwt.PyJWTError as error:
        if isinstance(error, jwt.PyJWKClientConnectionError):
            log.warning("JWKS document unavailable: %s", error)
        raise _refusal(error) from None


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """``scope`` (RFC 8693: space-separated) and ``scp`` (a list, or a string as some IdPs do)."""
    scopes: set[str] = set()
    scope = claims.get("scope")
    if scope is not None:
        if not isinstance(scope, str):
            raise AuthenticationError("invalid claim: scope")
        scopes.update(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, str):
        scopes.update(scp.split())
    elif isinstance(scp, list) and all(isinstance(item, str) for item in scp):
        scopes.update(item for item in scp if item)
    elif scp is not None:
        raise AuthenticationError("invalid claim: scp")
    return frozenset(scopes)


def _load_public_key(value: str, algorithm: str) -> RSAPublicKey | EllipticCurvePublicKey:
    """The PEM text itself, or the path of a PEM file; checked against the algorithm."""
    if "-----BEGIN" in value:
        # Environment variables often carry PEM with literal ``\n`` escapes.
        pem = value if "\n" in value else value.replace("\\n", "\n")
    else:
        path = Path(value).expanduser()
        try:
            pem = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise AuthConfigurationError(
                f"cannot read the JWT public key file {path}: {error.__class__.__name__}"
            ) from error
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as error:
        raise AuthConfigurationError("AEQUATIO_JWT_PUBLIC_KEY is not a PEM public key") from error
    if algorithm == "RS256":
        if not isinstance(key, RSAPublicKey):
            raise AuthConfigurationError("RS256 needs an RSA public key")
        if key.key_size < MIN_RSA_BITS:
            raise AuthConfigurationError(f"RS256 keys must have at least {MIN_RSA_BITS} bits")
        return key
    if not isinstance(key, EllipticCurvePublicKey) or not isinstance(key.curve, SECP256R1):
        raise AuthConfigurationError("ES256 needs an EC P-256 public key")
    return key


def _jwks_client(url: str) -> jwt.PyJWKClient:
    parsed = urlparse(url)
    if parsed.scheme != "https" and not (parsed.scheme == "http" and _loopback(parsed.hostname)):
        raise AuthConfigurationError(
            "AEQUATIO_JWT_JWKS_URL must be https (plain http only on a loopback address)"
        )
    # The whole key set is cached for JWKS_CACHE_SECONDS; signing keys are deliberately not
    # cached beyond it (PyJWKClient's cache_keys never expires, so a key the provider revoked
    # would keep verifying).
    return jwt.PyJWKClient(
        url,
        cache_keys=False,
        cache_jwk_set=True,
        lifespan=JWKS_CACHE_SECONDS,
        cooldown_duration=JWKS_REFRESH_COOLDOWN_SECONDS,
        timeout=JWKS_TIMEOUT_SECONDS,
        headers={"User-Agent": "aequatio"},
    )


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


# --- the HS256 secret -------------------------------------------------------------------------


def resolve_jwt_secret(settings: Settings) -> str:
    """``AEQUATIO_JWT_SECRET``; in development without one, a secret kept in the data folder.

    The development secret is generated once (``<data_dir>/jwt-secret``, mode 0600) and reused,
    so tokens from ``aequatio token`` keep working across restarts. Production needs the
    variable.
    """
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise AuthConfigurationError(
                f"AEQUATIO_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
            )
        return secret
    if settings.environment is not Environment.DEVELOPMENT:
        raise AuthConfigurationError(
            f"AEQUATIO_JWT_SECRET is required in {settings.environment} with HS256 "
            "(generate one: python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
            "or use RS256/ES256 with an identity provider"
        )
    return _development_secret(settings.data_dir / SECRET_FILE)


def _development_secret(path: Path) -> str:
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # Written aside (mkstemp: mode 0600) and linked into place, so a concurrent reader never
    # sees a half-written file and of two racing processes exactly one secret wins.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{SECRET_FILE}.")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secret + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_secret(path)
    finally:
        os.unlink(temporary)
    log.info("generated a development JWT secret in %s", path)
    return secret


def _read_secret(path: Path) -> str:
    secret = path.read_text().strip()
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; it should be mode 0600", path)
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise AuthConfigurationError(
            f"{path} holds no usable JWT secret; delete it and a new one is generated"
        )
    return secret


# --- local tokens -----------------------------------------------------------------------------


def issue_token(
    settings: Settings,
    subject: str,
    scopes: Iterable[str],
    ttl_seconds: int,
    *,
    now: datetime | None = None,
) -> str:
    """A local HS256 token for ``subject`` (only when the configured algorithm is HS256)."""
    if settings.jwt_algorithm != "HS256":
        raise AuthConfigurationError(
            f"aequatio issues HS256 tokens only; with AEQUATIO_JWT_ALGORITHM="
            f"{settings.jwt_algorithm} tokens come from the identity provider"
        )
    if not subject.strip():
        raise ValueError("the subject must not be blank")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    granted = sorted(set(scopes))
    for scope in granted:
        if not scope or any(character.isspace() for character in scope):
            raise ValueError(f"invalid scope {scope!r}")
    issued_at = now or datetime.now(UTC)
    if issued_at.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    iat = int(issued_at.timestamp())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": subject,
        "iat": iat,
        "nbf": iat,
        "exp": iat + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(granted),
    }
    return jwt.encode(claims, resolve_jwt_secret(settings), algorithm="HS256")
