"""Tokens verified against an identity provider's JWKS document, served on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from aequatio.api import auth
from aequatio.api.auth import AuthenticationError, TokenVerifier
from aequatio.config import Settings


class IdentityProvider:
    """A JWKS endpoint whose keys the test changes, counting how often it is asked."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.requests = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests += 1
                body = json.dumps({"keys": provider.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def publish(self, kid: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
        if isinstance(key, rsa.RSAPrivateKey):
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.keys.append({**jwk, "kid": kid, "use": "sig"})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    provider.thread.start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def verifier_for(url: str, tmp_path: Path, algorithm: str = "RS256") -> TokenVerifier:
    return TokenVerifier(
        Settings(
            _env_file=None,
            data_dir=tmp_path,
            jwt_algorithm=algorithm,
            jwt_jwks_url=url,
            jwt_issuer="https://idp.example",
            jwt_audience="aequatio-api",
        )
    )


def token(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    kid: str | None,
    algorithm: str = "RS256",
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": "https://idp.example",
        "aud": "aequatio-api",
        "sub": "auth0|alice",
        "iat": now,
        "exp": now + 300,
        "scp": ["expenses:write"],
        **claims,
    }
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as caught:
        verifier.verify(token)
    return caught.value.reason


def test_a_token_signed_by_a_published_key_is_accepted(
    idp: IdentityProvider, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    idp.publish("2026-11", rsa_key)
    verifier = verifier_for(idp.url, tmp_path)
    principal = verifier.verify(token(rsa_key, "2026-11"))
    assert (principal.subject, principal.scopes) == ("auth0|alice", frozenset({"expenses:write"}))


def test_es256_keys_work_the_same(
    idp: IdentityProvider, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    idp.publish("ec-1", ec_key)
    verifier = verifier_for(idp.url, tmp_path, "ES256")
    assert verifier.verify(token(ec_key, "ec-1", "ES256")).subject == "auth0|alice"


def test_an_unknown_kid_is_refused(
    idp: IdentityProvider, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    idp.publish("2026-11", rsa_key)
    verifier = verifier_for(idp.url, tmp_path)
    assert refused(verifier, token(rsa_key, "somebody-elses")) == "unknown key"


def test_a_token_without_a_kid_is_refused_without_asking_the_provider(
    idp: IdentityProvider, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    idp.publish("2026-11", rsa_key)
    verifier = verifier_for(idp.url, tmp_path)
    assert refused(verifier, token(rsa_key, None)) == "unknown key"
    assert idp.requests == 0


def test_keys_are_cached_and_unknown_kids_do_not_hammer_the_provider(
    idp: IdentityProvider, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    idp.publish("2026-11", rsa_key)
    verifier = verifier_for(idp.url, tmp_path)
    for _ in range(3):
        verifier.verify(token(rsa_key, "2026-11"))
    assert idp.requests == 1
    for attempt in range(10):
        assert refused(verifier, token(rsa_key, f"random-{attempt}")) == "unknown key"
    assert idp.requests == 1


def test_a_rotated_key_is_fetched_when_a_token_names_it(
    idp: IdentityProvider,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "JWKS_REFRESH_COOLDOWN_SECONDS", 0.0)
    idp.publish("old", rsa_key)
    verifier = verifier_for(idp.url, tmp_path)
    verifier.verify(token(rsa_key, "old"))
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp.publish("new", rotated)
    assert verifier.verify(token(rotated, "new")).subject == "auth0|alice"
    assert idp.requests == 2


def test_a_key_of_another_family_under_the_kid_is_refused(
    idp: IdentityProvider,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    tmp_path: Path,
) -> None:
    idp.publish("ec-1", ec_key)
    verifier = verifier_for(idp.url, tmp_path)
    assert refused(verifier, token(rsa_key, "ec-1")) == "algorithm not allowed"


def test_a_token_signed_by_another_key_under_a_published_kid_is_refused(
    idp: IdentityProvider, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    idp.publish("2026-11", rsa_key)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = verifier_for(idp.url, tmp_path)
    assert refused(verifier, token(impostor, "2026-11")) == "bad signature"


def test_claims_are_checked_as_for_any_token(
    idp: IdentityProvider, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    idp.publish("2026-11", rsa_key)
    verifier = verifier_for(idp.url, tmp_path)
    assert refused(verifier, token(rsa_key, "2026-11", aud="other")) == "wrong audience"
    assert refused(verifier, token(rsa_key, "2026-11", iss="aequatio")) == "wrong issuer"
    assert refused(verifier, token(rsa_key, "2026-11", exp=int(time.time()) - 600)) == "expired"


def test_an_unreachable_provider_refuses_the_token(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    gone = IdentityProvider()
    url = gone.url
    gone.server.server_close()
    verifier = verifier_for(url, tmp_path)
    assert refused(verifier, token(rsa_key, "2026-11")) == "key set unavailable"
