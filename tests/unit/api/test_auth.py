"""Bearer-token authentication: what a token must be to become a Principal, and what is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from aequatio.api.auth import (
    ALL_SCOPES,
    SECRET_FILE,
    AuthConfigurationError,
    AuthenticationError,
    TokenVerifier,
    bearer_token,
    issue_token,
    resolve_jwt_secret,
)
from aequatio.cli import app
from aequatio.config import Environment, Settings

SECRET = "s" * 48
ISSUER = "aequatio"
AUDIENCE = "aequatio-api"


@pytest.fixture(autouse=True)
def _no_ambient_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's AEQUATIO_* variables must not leak into these settings."""
    for name in [
        "AEQUATIO_ENVIRONMENT",
        "AEQUATIO_DATA_DIR",
        "AEQUATIO_JWT_ALGORITHM",
        "AEQUATIO_JWT_SECRET",
        "AEQUATIO_JWT_PUBLIC_KEY",
        "AEQUATIO_JWT_JWKS_URL",
        "AEQUATIO_JWT_ISSUER",
        "AEQUATIO_JWT_AUDIENCE",
        "AEQUATIO_JWT_LEEWAY_SECONDS",
        "AEQUATIO_JWT_MAX_TOKEN_BYTES",
    ]:
        monkeypatch.delenv(name, raising=False)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "jwt_secret": SECRET}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "scope": "expenses:write",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A token assembled by hand, as an attacker would."""
    return ".".join(
        [
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(payload).encode()),
            b64url(signature),
        ]
    )


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as caught:
        verifier.verify(token)
    reason = caught.value.reason
    assert str(caught.value) == reason
    assert not token or token not in reason
    assert caught.value.__cause__ is None
    return reason


@pytest.fixture
def hs256(tmp_path: Path) -> TokenVerifier:
    return TokenVerifier(make_settings(tmp_path))


@pytest.fixture
def rs256(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> TokenVerifier:
    return TokenVerifier(
        make_settings(tmp_path, jwt_algorithm="RS256", jwt_public_key=public_pem(rsa_key))
    )


# --- accepted ---------------------------------------------------------------------------------


def test_a_local_hs256_token_becomes_a_principal_with_its_scopes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    token = issue_token(settings, "alice", ["expenses:write", "groups:write"], 600)
    principal = TokenVerifier(settings).verify(token)
    assert (principal.subject, principal.scopes) == (
        "alice",
        frozenset({"expenses:write", "groups:write"}),
    )
    assert not principal.system


def test_the_principal_knows_when_its_token_expires(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    token = issue_token(settings, "alice", ["users:write"], 600, now=now)
    assert TokenVerifier(settings).verify(token).expires_at == now + timedelta(seconds=600)


def test_issued_tokens_carry_the_registered_claims(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    token = issue_token(settings, "alice", ["users:write"], 60, now=now)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert payload["iss"] == ISSUER
    assert payload["aud"] == AUDIENCE
    assert payload["sub"] == "alice"
    assert payload["iat"] == payload["nbf"] == int(now.timestamp())
    assert payload["exp"] == int(now.timestamp()) + 60
    assert payload["scope"] == "users:write"
    assert len(payload["jti"]) == 32
    other = issue_token(settings, "alice", ["users:write"], 60, now=now)
    assert jwt.decode(other, options={"verify_signature": False})["jti"] != payload["jti"]


def test_an_rs256_token_with_a_scp_list_is_accepted(
    rs256: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(
        claims(scope=None, scp=["splits:write", "invoices:write"]), rsa_key, algorithm="RS256"
    )
    principal = rs256.verify(token)
    assert (principal.subject, principal.scopes) == (
        "alice",
        frozenset({"splits:write", "invoices:write"}),
    )


def test_an_es256_token_is_accepted_with_the_key_read_from_a_pem_file(
    tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    pem_file = tmp_path / "idp.pem"
    pem_file.write_text(public_pem(ec_key))
    verifier = TokenVerifier(
        make_settings(tmp_path, jwt_algorithm="ES256", jwt_public_key=str(pem_file))
    )
    token = jwt.encode(claims(scope="users:write groups:write"), ec_key, algorithm="ES256")
    assert verifier.verify(token).scopes == {"users:write", "groups:write"}


def test_a_pem_with_escaped_newlines_from_an_environment_variable_is_understood(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    escaped = public_pem(rsa_key).replace("\n", "\\n")
    verifier = TokenVerifier(make_settings(tmp_path, jwt_algorithm="RS256", jwt_public_key=escaped))
    assert verifier.verify(jwt.encode(claims(), rsa_key, algorithm="RS256")).subject == "alice"


def test_a_token_without_scopes_authenticates_with_none(hs256: TokenVerifier) -> None:
    token = jwt.encode(claims(scope=None), SECRET, algorithm="HS256")
    assert hs256.verify(token).scopes == frozenset()


@pytest.mark.parametrize("claim", ["exp", "nbf"])
def test_the_leeway_absorbs_clock_skew(hs256: TokenVerifier, claim: str) -> None:
    now = int(time.time())
    skewed = {"exp": now - 10} if claim == "exp" else {"nbf": now + 10, "iat": now + 10}
    token = jwt.encode(claims(**skewed), SECRET, algorithm="HS256")
    assert hs256.verify(token).subject == "alice"


# --- refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b", "a.b.c", "!!!.###.$$$", "a.b.c.d", "é.é.é"]
)
def test_garbled_tokens_are_malformed(hs256: TokenVerifier, token: str) -> None:
    assert refused(hs256, token) == "malformed"


def test_a_token_whose_claims_are_not_json_is_malformed(hs256: TokenVerifier) -> None:
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = b64url(b"not json")
    signature = hmac.new(SECRET.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert refused(hs256, f"{header}.{body}.{b64url(signature)}") == "malformed"


def test_an_expired_token_is_refused(tmp_path: Path, hs256: TokenVerifier) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    token = issue_token(make_settings(tmp_path), "alice", ALL_SCOPES, 3600, now=past)
    assert refused(hs256, token) == "expired"


def test_a_token_not_valid_before_a_future_time_is_refused(hs256: TokenVerifier) -> None:
    token = jwt.encode(claims(nbf=int(time.time()) + 3600), SECRET, algorithm="HS256")
    assert refused(hs256, token) == "not yet valid"


def test_a_token_issued_in_the_future_is_refused(hs256: TokenVerifier) -> None:
    token = jwt.encode(claims(iat=int(time.time()) + 3600), SECRET, algorithm="HS256")
    assert refused(hs256, token) == "not yet valid"


def test_a_token_signed_with_another_secret_has_a_bad_signature(hs256: TokenVerifier) -> None:
    token = jwt.encode(claims(), "x" * 48, algorithm="HS256")
    assert refused(hs256, token) == "bad signature"


def test_a_token_signed_by_another_key_has_a_bad_signature(
    rs256: TokenVerifier, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(claims(), other_rsa_key, algorithm="RS256")
    assert refused(rs256, token) == "bad signature"


def test_a_token_whose_claims_were_edited_has_a_bad_signature(
    rs256: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    header, _, signature = jwt.encode(claims(), rsa_key, algorithm="RS256").split(".")
    forged = b64url(json.dumps(claims(scope=" ".join(ALL_SCOPES))).encode())
    assert refused(rs256, f"{header}.{forged}.{signature}") == "bad signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_an_unsigned_alg_none_token_is_refused(hs256: TokenVerifier, alg: str) -> None:
    token = craft({"alg": alg, "typ": "JWT"}, claims())
    assert token.endswith(".")
    assert refused(hs256, token) == "algorithm not allowed"


def test_a_token_without_an_alg_is_refused(hs256: TokenVerifier) -> None:
    token = craft({"typ": "JWT"}, claims(), b"sig")
    assert refused(hs256, token) == "algorithm not allowed"


def test_hs256_signed_with_the_rsa_public_key_is_refused_when_rs256_is_configured(
    rs256: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    header = {"alg": "HS256", "typ": "JWT"}
    payload = claims(scope=" ".join(ALL_SCOPES))
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    mac = hmac.new(public_pem(rsa_key).encode(), signing_input.encode(), hashlib.sha256).digest()
    assert refused(rs256, f"{signing_input}.{b64url(mac)}") == "algorithm not allowed"


def test_an_rs256_token_is_refused_when_hs256_is_configured(
    hs256: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert refused(hs256, token) == "algorithm not allowed"


def test_an_rs384_token_from_the_right_key_is_still_refused(
    rs256: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS384")
    assert refused(rs256, token) == "algorithm not allowed"


def test_a_token_from_another_issuer_is_refused(hs256: TokenVerifier) -> None:
    token = jwt.encode(claims(iss="https://evil.example"), SECRET, algorithm="HS256")
    assert refused(hs256, token) == "wrong issuer"


@pytest.mark.parametrize("audience", ["another-api", ["another-api", "a-third"]])
def test_a_token_for_another_audience_is_refused(
    hs256: TokenVerifier, audience: str | list[str]
) -> None:
    token = jwt.encode(claims(aud=audience), SECRET, algorithm="HS256")
    assert refused(hs256, token) == "wrong audience"


def test_an_audience_list_naming_this_api_is_accepted(hs256: TokenVerifier) -> None:
    token = jwt.encode(claims(aud=["another-api", AUDIENCE]), SECRET, algorithm="HS256")
    assert hs256.verify(token).subject == "alice"


@pytest.mark.parametrize("claim", ["sub", "iat", "exp", "iss", "aud"])
def test_a_token_missing_a_required_claim_is_refused(hs256: TokenVerifier, claim: str) -> None:
    payload = claims()
    del payload[claim]
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    assert refused(hs256, token) == f"missing claim: {claim}"


@pytest.mark.parametrize("subject", ["", "   "])
def test_a_blank_subject_is_a_missing_subject(hs256: TokenVerifier, subject: str) -> None:
    token = jwt.encode(claims(sub=subject), SECRET, algorithm="HS256")
    assert refused(hs256, token) == "missing claim: sub"


def test_a_subject_that_is_not_a_string_is_refused(hs256: TokenVerifier) -> None:
    token = craft(
        {"alg": "HS256", "typ": "JWT"},
        claims(sub=42),
    )
    signing_input = token.rsplit(".", 1)[0]
    mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert refused(hs256, f"{signing_input}.{b64url(mac)}") == "invalid claim: sub"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [({"scope": ["users:write"]}, "invalid claim: scope"), ({"scp": 7}, "invalid claim: scp")],
)
def test_scopes_of_the_wrong_shape_are_refused(
    hs256: TokenVerifier, extra: dict[str, Any], reason: str
) -> None:
    payload = {**claims(scope=None), **extra}
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    assert refused(hs256, token) == reason


def test_a_16_kb_token_is_refused_before_anything_is_decoded(
    hs256: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_decode(*_: object, **__: object) -> NoReturn:
        pytest.fail("an oversized token reached the decoder")

    for name in ["decode", "decode_complete", "get_unverified_header"]:
        monkeypatch.setattr(jwt, name, must_not_decode)
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    token = f"{header}.{'A' * 16 * 1024}.sig"
    assert refused(hs256, token) == "token too large"


def test_the_size_limit_is_configurable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, jwt_max_token_bytes=256)
    token = issue_token(settings, "alice", ALL_SCOPES, 60)
    assert len(token) > 256
    assert refused(TokenVerifier(settings), token) == "token too large"


TOKENISH = r"[A-Za-z0-9_\-]{0,80}(\.[A-Za-z0-9_\-=]{0,80}){0,3}"


@settings(max_examples=200, deadline=None)
@given(token=st.text(max_size=300) | st.from_regex(TOKENISH, fullmatch=True))
def test_arbitrary_input_is_only_ever_refused_cleanly(token: str) -> None:
    verifier = TokenVerifier(
        Settings(_env_file=None, jwt_secret=SECRET, data_dir=Path("/nonexistent-aequatio"))
    )
    with pytest.raises(AuthenticationError):
        verifier.verify(token)


# --- the Authorization header -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("BEARER   abc.def-_~+/ghi==", "abc.def-_~+/ghi=="),
        ("  Bearer abc.def.ghi  ", "abc.def.ghi"),
    ],
)
def test_a_bearer_header_yields_its_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer a b",
        "Bearer\tabc",
        "Token abc",
        "abc",
    ],
)
def test_any_other_authorization_header_is_malformed(header: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        bearer_token(header)
    assert caught.value.reason == "malformed authorization header"


# --- configuration ----------------------------------------------------------------------------


def test_the_development_secret_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    settings = Settings(_env_file=None, data_dir=data_dir)
    first = resolve_jwt_secret(settings)
    secret_file = data_dir / SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret_file.read_text().strip() == first
    assert len(first) >= 48
    assert list(data_dir.iterdir()) == [secret_file]

    token = issue_token(settings, "alice", ALL_SCOPES, 60)
    restarted = Settings(_env_file=None, data_dir=data_dir)
    assert resolve_jwt_secret(restarted) == first
    assert TokenVerifier(restarted).verify(token).scopes == ALL_SCOPES


def test_another_data_folder_gets_another_development_secret(tmp_path: Path) -> None:
    one = resolve_jwt_secret(Settings(_env_file=None, data_dir=tmp_path / "one"))
    two = resolve_jwt_secret(Settings(_env_file=None, data_dir=tmp_path / "two"))
    assert one != two


def test_a_configured_secret_wins_over_the_development_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert resolve_jwt_secret(settings) == SECRET
    assert not (settings.data_dir / SECRET_FILE).exists()


def test_an_empty_secret_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("\n")
    with pytest.raises(AuthConfigurationError, match="delete it"):
        resolve_jwt_secret(Settings(_env_file=None, data_dir=tmp_path))


def test_production_without_a_secret_is_refused(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, environment=Environment.PRODUCTION, data_dir=tmp_path)
    with pytest.raises(AuthConfigurationError, match="AEQUATIO_JWT_SECRET is required"):
        resolve_jwt_secret(settings)
    with pytest.raises(AuthConfigurationError):
        TokenVerifier(settings)
    with pytest.raises(AuthConfigurationError):
        issue_token(settings, "alice", ALL_SCOPES, 60)
    assert list(tmp_path.iterdir()) == []


def test_production_ignores_a_development_secret_file(tmp_path: Path) -> None:
    resolve_jwt_secret(Settings(_env_file=None, data_dir=tmp_path))
    production = Settings(_env_file=None, environment=Environment.PRODUCTION, data_dir=tmp_path)
    with pytest.raises(AuthConfigurationError):
        resolve_jwt_secret(production)


def test_production_with_a_secret_verifies(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, environment=Environment.PRODUCTION)
    token = issue_token(settings, "alice", ["users:write"], 60)
    assert TokenVerifier(settings).verify(token).scopes == {"users:write"}


def test_a_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigurationError, match="at least 32 bytes"):
        TokenVerifier(make_settings(tmp_path, jwt_secret="too-short"))


def test_the_secret_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEQUATIO_JWT_SECRET", "e" * 40)
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert resolve_jwt_secret(settings) == "e" * 40
    assert "e" * 40 not in repr(settings)


def test_issuing_needs_hs256(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    settings = make_settings(tmp_path, jwt_algorithm="RS256", jwt_public_key=public_pem(rsa_key))
    with pytest.raises(AuthConfigurationError, match="identity provider"):
        issue_token(settings, "alice", ALL_SCOPES, 60)


@pytest.mark.parametrize(
    ("subject", "scopes", "ttl", "message"),
    [
        (" ", ["users:write"], 60, "subject"),
        ("alice", ["users:write"], 0, "ttl_seconds"),
        ("alice", ["two words"], 60, "invalid scope"),
    ],
)
def test_issuing_refuses_nonsense(
    tmp_path: Path, subject: str, scopes: list[str], ttl: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        issue_token(make_settings(tmp_path), subject, scopes, ttl)


def test_issuing_needs_an_aware_time(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_token(make_settings(tmp_path), "alice", ALL_SCOPES, 60, now=datetime(2030, 1, 1))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_algorithm": "RS256"}, "needs AEQUATIO_JWT_PUBLIC_KEY"),
        ({"jwt_public_key": "rsa-pem"}, "need AEQUATIO_JWT_ALGORITHM=RS256"),
        (
            {
                "jwt_algorithm": "RS256",
                "jwt_public_key": "key.pem",
                "jwt_jwks_url": "https://idp.example/jwks",
            },
            "not both",
        ),
        ({"jwt_algorithm": "RS256", "jwt_public_key": "/no/such/key.pem"}, "cannot read"),
        (
            {"jwt_algorithm": "RS256", "jwt_public_key": "-----BEGIN PUBLIC KEY-----\nxx"},
            "not a PEM public key",
        ),
        (
            {"jwt_algorithm": "ES256", "jwt_jwks_url": "http://idp.example/jwks"},
            "must be https",
        ),
        ({"jwt_algorithm": "ES256", "jwt_jwks_url": "file:///etc/jwks.json"}, "must be https"),
    ],
)
def test_unusable_configurations_are_refused_up_front(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(AuthConfigurationError, match=message):
        TokenVerifier(make_settings(tmp_path, **overrides))


def test_a_key_of_the_wrong_family_is_refused_up_front(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(AuthConfigurationError, match="RSA public key"):
        TokenVerifier(
            make_settings(tmp_path, jwt_algorithm="RS256", jwt_public_key=public_pem(ec_key))
        )
    with pytest.raises(AuthConfigurationError, match="P-256"):
        TokenVerifier(
            make_settings(tmp_path, jwt_algorithm="ES256", jwt_public_key=public_pem(rsa_key))
        )
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(AuthConfigurationError, match="P-256"):
        TokenVerifier(
            make_settings(tmp_path, jwt_algorithm="ES256", jwt_public_key=public_pem(p384))
        )


def test_a_weak_rsa_key_is_refused_up_front(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - weak on purpose
    with pytest.raises(AuthConfigurationError, match="2048"):
        TokenVerifier(
            make_settings(tmp_path, jwt_algorithm="RS256", jwt_public_key=public_pem(weak))
        )


def test_a_private_key_is_not_accepted_as_the_public_key(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    private_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(AuthConfigurationError, match="not a PEM public key"):
        TokenVerifier(make_settings(tmp_path, jwt_algorithm="RS256", jwt_public_key=private_pem))


def test_issuer_audience_and_leeway_follow_the_settings(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, jwt_issuer="https://auth.family", jwt_audience="ledger", jwt_leeway_seconds=0
    )
    verifier = TokenVerifier(settings)
    token = issue_token(settings, "alice", ALL_SCOPES, 60)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert (payload["iss"], payload["aud"]) == ("https://auth.family", "ledger")
    assert verifier.verify(token).subject == "alice"
    default = TokenVerifier(make_settings(tmp_path))
    assert refused(default, token) == "wrong issuer"
    stale = jwt.encode(
        claims(iss="https://auth.family", aud="ledger", exp=int(time.time()) - 5),
        SECRET,
        algorithm="HS256",
    )
    assert refused(verifier, stale) == "expired"


# --- aequatio token -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {"AEQUATIO_DATA_DIR": str(tmp_path / "cli-data"), "AEQUATIO_ENVIRONMENT": "development"}


def test_the_token_command_prints_a_token_the_verifier_accepts(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        app,
        ["token", "--sub", "alice", "--scope", "users:write", "--scope", "groups:write"],
        env=cli_env,
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    settings = Settings(_env_file=None, data_dir=tmp_path / "cli-data")
    principal = TokenVerifier(settings).verify(token)
    assert (principal.subject, principal.scopes) == (
        "alice",
        frozenset({"users:write", "groups:write"}),
    )
    assert result.stdout.strip() == token


def test_the_token_command_grants_every_scope_by_default_for_an_hour(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(app, ["token", "--sub", "bob"], env=cli_env)
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    settings = Settings(_env_file=None, data_dir=tmp_path / "cli-data")
    assert TokenVerifier(settings).verify(token).scopes == ALL_SCOPES
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 3600


def test_the_token_command_honours_the_ttl(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["token", "--sub", "bob", "--ttl", "120"], env=cli_env)
    assert result.exit_code == 0, result.output
    payload = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 120


def test_the_token_command_refuses_unknown_scopes(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["token", "--sub", "bob", "--scope", "users:wirte"], env=cli_env
    )
    assert result.exit_code == 2
    assert "users:wirte" in result.output
    assert result.stdout == ""


def test_the_token_command_refuses_without_a_secret_in_production(
    cli_env: dict[str, str],
) -> None:
    result = CliRunner().invoke(
        app, ["token", "--sub", "bob"], env={**cli_env, "AEQUATIO_ENVIRONMENT": "production"}
    )
    assert result.exit_code == 2
    assert "AEQUATIO_JWT_SECRET is required" in result.output
    assert result.stdout == ""
