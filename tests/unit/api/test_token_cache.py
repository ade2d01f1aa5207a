"""The verified-token cache: a token is checked once per short while, never remembered past
its expiry, never when it was refused, and the memory holds a bounded number of tokens."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aequatio.api import token_cache
from aequatio.api.auth import AuthenticationError, TokenVerifier, issue_token
from aequatio.api.token_cache import CachingTokenVerifier
from aequatio.application.context import Principal
from aequatio.config import Settings

SECRET = "s" * 48


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", jwt_secret=SECRET)


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens the real verifier was asked to check, in order."""
    seen: list[str] = []
    real = TokenVerifier.verify

    def counting(self: TokenVerifier, token: str) -> Principal:
        seen.append(token)
        return real(self, token)

    monkeypatch.setattr(TokenVerifier, "verify", counting)
    return seen


def token(settings: Settings, subject: str = "alice", ttl: int = 600) -> str:
    return issue_token(settings, subject, ["expenses:write"], ttl)


def test_a_token_is_verified_once_then_remembered(
    settings: Settings, verifications: list[str]
) -> None:
    verifier = CachingTokenVerifier(settings, clock=Clock())
    bearer = token(settings)
    first, second = verifier.verify(bearer), verifier.verify(bearer)
    assert first == second
    assert first.subject == "alice"
    assert verifications == [bearer]


def test_a_remembered_token_is_verified_again_after_the_ttl(
    settings: Settings, verifications: list[str]
) -> None:
    clock = Clock()
    verifier = CachingTokenVerifier(settings, clock=clock)
    bearer = token(settings)
    verifier.verify(bearer)
    clock.now += token_cache.TTL_SECONDS - 0.5
    verifier.verify(bearer)
    assert len(verifications) == 1
    clock.now += 1.0
    verifier.verify(bearer)
    assert len(verifications) == 2


def test_a_token_is_never_remembered_past_its_expiry(
    settings: Settings, verifications: list[str]
) -> None:
    settings = settings.model_copy(update={"jwt_leeway_seconds": 2})
    clock = Clock()
    verifier = CachingTokenVerifier(settings, clock=clock)
    bearer = token(settings, ttl=5)
    verifier.verify(bearer)
    # Past exp plus the leeway (well inside the cache's own TTL): the real check runs again,
    # and at the real clock's "later" it would refuse the token.
    clock.now += 5 + settings.jwt_leeway_seconds + 1
    assert clock.now - time.time() < token_cache.TTL_SECONDS
    verifier.verify(bearer)
    assert len(verifications) == 2


def test_refusals_are_never_remembered(settings: Settings, verifications: list[str]) -> None:
    verifier = CachingTokenVerifier(settings, clock=Clock())
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            verifier.verify("not.a.token")
    assert verifications == ["not.a.token", "not.a.token"]


def test_the_memory_holds_at_most_max_tokens_dropping_the_oldest(
    settings: Settings, verifications: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(token_cache, "MAX_TOKENS", 3)
    verifier = CachingTokenVerifier(settings, clock=Clock())
    bearers = [token(settings, subject=f"user-{index}") for index in range(4)]
    for bearer in bearers:
        verifier.verify(bearer)
    assert len(verifier._verified) == 3
    verifier.verify(bearers[-1])  # still held
    verifier.verify(bearers[0])  # the oldest was dropped: verified afresh
    assert verifications == [*bearers, bearers[0]]
