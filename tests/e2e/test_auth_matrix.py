"""Who may do what, against a real server: every refused caller gets the right code and
HTTP status, and no resolver effect (checked afterwards with a legitimate token)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aequatio.api.auth import ALL_SCOPES
from tests.e2e.no_trace import (
    FAMILY_OF_TWO,
    expense,
    outsider,
    settled_timeline,
    still_unregistered,
)
from tests.support.api import GRAPHQL_RESPONSE, Api
from tests.support.server import Server

GROUP = "query($id: ID!) { group(id: $id) { id name } }"
ADD_EXPENSE = "mutation($input: AddExpenseInput!) { addExpense(input: $input) { __typename } }"
REGISTER = "mutation($input: RegisterUserInput!) { registerUser(input: $input) { __typename } }"
OTHER_SECRET = "not-the-server-secret-but-just-as-long-0123456789"


# --- forging tokens ----------------------------------------------------------------------------


def at(offset_seconds: int) -> int:
    """A NumericDate this many seconds from now (the server allows 30 s of clock skew)."""
    return int(time.time()) + offset_seconds


def claims(subject: str, **overrides: Any) -> dict[str, Any]:
    """Claims the server would accept for ``subject``, with ``overrides`` applied."""
    return {
        "iss": "aequatio",
        "aud": "aequatio-api",
        "sub": subject,
        "iat": at(0),
        "nbf": at(0),
        "exp": at(600),
        "scope": " ".join(sorted(ALL_SCOPES)),
        **overrides,
    }


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def hand_signed(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A JWT assembled by hand: PyJWT refuses to make ``alg: none`` or HMAC-with-a-PEM ones."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{b64url(signature)}"


def rsa_public_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


Forger = Callable[[str, str], str]  # (server secret, subject) -> token


@dataclass(frozen=True)
class BadToken:
    forge: Forger
    reason: str  # the fixed phrase the server names the refusal by


BAD_TOKENS = {
    "expired": BadToken(
        lambda secret, sub: jwt.encode(
            claims(sub, iat=at(-7200), nbf=at(-7200), exp=at(-3600)), secret
        ),
        "expired",
    ),
    "nbf in the future": BadToken(
        lambda secret, sub: jwt.encode(claims(sub, nbf=at(3600)), secret),
        "not yet valid",
    ),
    "signed with another secret": BadToken(
        lambda _, sub: jwt.encode(claims(sub), OTHER_SECRET), "bad signature"
    ),
    "alg none": BadToken(
        lambda _, sub: hand_signed({"alg": "none", "typ": "JWT"}, claims(sub), None),
        "algorithm not allowed",
    ),
    "HS256 keyed with an RSA public key": BadToken(
        lambda _, sub: hand_signed(
            {"alg": "HS256", "typ": "JWT"}, claims(sub), rsa_public_key_pem()
        ),
        "bad signature",
    ),
    "wrong issuer": BadToken(
        lambda secret, sub: jwt.encode(claims(sub, iss="someone-else"), secret), "wrong issuer"
    ),
    "wrong audience": BadToken(
        lambda secret, sub: jwt.encode(claims(sub, aud="another-api"), secret), "wrong audience"
    ),
    "unknown kid": BadToken(
        lambda _, sub: jwt.encode(claims(sub), OTHER_SECRET, headers={"kid": "rotated-away"}),
        "bad signature",
    ),
    "16 KB token": BadToken(
        lambda secret, sub: jwt.encode(claims(sub, padding="x" * 16_384), secret),
        "token too large",
    ),
    "no exp claim": BadToken(
        lambda secret, sub: jwt.encode(
            {k: v for k, v in claims(sub).items() if k != "exp"}, secret
        ),
        "missing claim: exp",
    ),
    "not a JWT": BadToken(lambda _secret, _sub: "not-a-jwt", "malformed"),
}


def assert_unauthenticated(response: httpx.Response, reason: str) -> None:
    """401 before anything ran: one coded error, no data, a challenge for the client."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == {
        "errors": [
            {
                "message": f"invalid bearer token: {reason}",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }


def error_codes(response: httpx.Response) -> list[dict[str, Any]]:
    return [error["extensions"] for error in response.json()["errors"]]


# --- refused tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
async def test_a_token_failing_a_check_is_401_for_queries_and_mutations(
    api: Api, server: Server, case: BadToken
) -> None:
    group, (ann, _ben) = await api.family("Ann", "Ben")
    forged = case.forge(server.secret, ann.subject)

    assert_unauthenticated(await api.post(GROUP, {"id": group}, token=forged), case.reason)
    assert_unauthenticated(
        await api.post(ADD_EXPENSE, {"input": expense(group)}, token=forged), case.reason
    )
    assert await settled_timeline(api, group, ann) == FAMILY_OF_TWO


@pytest.mark.parametrize("case", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
async def test_a_refused_token_registers_nobody(api: Api, server: Server, case: BadToken) -> None:
    subject = f"forger-{uuid.uuid4().hex[:8]}"
    input = {"name": "Mallory", "email": f"{subject}@example.org"}
    response = await api.post(REGISTER, {"input": input}, token=case.forge(server.secret, subject))

    assert_unauthenticated(response, case.reason)
    assert await still_unregistered(api, subject)


async def test_without_a_token_queries_and_mutations_are_unauthenticated(api: Api) -> None:
    group, (ann, _ben) = await api.family("Ann", "Ben")

    for response in (
        await api.post(GROUP, {"id": group}),
        await api.post("{ me { id } }"),
        await api.post(ADD_EXPENSE, {"input": expense(group)}),
        await api.post(REGISTER, {"input": {"name": "Anon", "email": "anon@example.org"}}),
    ):
        assert response.status_code == 200, response.text
        assert error_codes(response) == [{"code": "UNAUTHENTICATED", "kind": "FORBIDDEN"}]
    assert await settled_timeline(api, group, ann) == FAMILY_OF_TWO


async def test_a_subject_the_database_cannot_hold_is_refused(api: Api, server: Server) -> None:
    token = jwt.encode(claims("nul\x00subject"), server.secret)

    assert_unauthenticated(await api.post("{ me { id } }", token=token), "invalid claim: sub")


# --- scopes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopedWrite:
    scope: str
    mutation: str
    input: Callable[[str, str], dict[str, Any]]  # (group, Ben's user id) -> input


SCOPED_WRITES = [
    ScopedWrite("groups:write", "createGroup", lambda _g, _u: {"name": "Side", "currency": "EUR"}),
    ScopedWrite("groups:write", "removeMember", lambda g, u: {"groupId": g, "userId": u}),
    ScopedWrite("expenses:write", "addExpense", lambda g, _u: expense(g)),
    ScopedWrite(
        "splits:write",
        "requestSplit",
        lambda g, _u: {"groupId": g, "period": {"start": "2026-01-01", "end": "2026-02-01"}},
    ),
    ScopedWrite(
        "invoices:write",
        "createInvoice",
        lambda g, _u: {"groupId": g, "period": {"start": "2026-01-01", "end": "2026-02-01"}},
    ),
]


@pytest.mark.parametrize("write", SCOPED_WRITES, ids=lambda w: f"{w.mutation} needs {w.scope}")
async def test_a_member_whose_token_lacks_the_scope_is_forbidden(
    api: Api, write: ScopedWrite
) -> None:
    group, (ann, ben) = await api.family("Ann", "Ben")
    narrow = api.token(ann.subject, ALL_SCOPES - {write.scope})

    refused = await api.mutate(write.mutation, write.input(group, ben.user_id), token=narrow)

    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "ForbiddenError",
        "FORBIDDEN",
        None,
    )
    assert write.scope in refused["message"]
    assert await settled_timeline(api, group, ann) == FAMILY_OF_TWO


async def test_registering_needs_the_users_scope(api: Api) -> None:
    subject = f"scopeless-{uuid.uuid4().hex[:8]}"
    narrow = api.token(subject, ALL_SCOPES - {"users:write"})

    refused = await api.mutate(
        "registerUser", {"name": "Nora", "email": f"{subject}@example.org"}, token=narrow
    )

    assert (refused["__typename"], refused["code"]) == ("ForbiddenError", "FORBIDDEN")
    assert await still_unregistered(api, subject)


# --- non-members ---------------------------------------------------------------------------------

JANUARY = '{start: "2026-01-01", end: "2026-02-01"}'
GROUP_READS = {
    "group": "query($g: ID!) { group(id: $g) { id name } }",
    "expenses": "query($g: ID!) { expenses(groupId: $g) { edges { node { id } } } }",
    "balances": f"query($g: ID!) {{ balances(groupId: $g, period: {JANUARY}) {{ netCents }} }}",
    "splits": "query($g: ID!) { splits(groupId: $g) { id } }",
    "invoices": "query($g: ID!) { invoices(groupId: $g) { id } }",
    "activity": "query($g: ID!) { activity(groupId: $g) { edges { node { summary } } } }",
}
NOT_A_MEMBER = {"code": "NOT_A_MEMBER", "kind": "FORBIDDEN"}


@pytest.mark.parametrize("field", list(GROUP_READS))
async def test_a_non_member_reads_nothing_of_a_group(api: Api, field: str) -> None:
    group, _family = await api.family("Ann", "Ben")
    eve = await outsider(api)

    response = await api.post(GROUP_READS[field], {"g": group}, token=eve.token)

    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert [(e["path"], e["extensions"]) for e in body["errors"]] == [([field], NOT_A_MEMBER)]


async def test_a_non_member_gets_no_node_of_another_group(api: Api) -> None:
    group, (ann, _ben) = await api.family("Ann", "Ben")
    added = await api.succeed("addExpense", expense(group), token=ann.token)
    split = await api.succeed(
        "requestSplit",
        {"groupId": group, "period": {"start": "2026-01-01", "end": "2026-02-01"}},
        token=ann.token,
    )
    eve = await outsider(api)

    for node_id in (group, added["id"], split["id"]):
        response = await api.post(
            "query($id: ID!, $seen: [ID!]) { node(id: $id, consistentWith: $seen) { id } }",
            {"id": node_id, "seen": added["eventIds"] + split["eventIds"]},
            token=eve.token,
        )
        body = response.json()
        assert body["data"] == {"node": None}
        assert [e["extensions"] for e in body["errors"]] == [NOT_A_MEMBER]


@dataclass(frozen=True)
class Intrusion:
    mutation: str
    #: (group, Ann's expense id, Ben's user id, the intruder's user id) -> input
    input: Callable[[str, str, str, str], dict[str, Any]]


INTRUSIONS = [
    Intrusion("addExpense", lambda g, _e, _b, _i: expense(g)),
    Intrusion(
        "amendExpense",
        lambda _g, e, _b, _i: {"expenseId": e, "expectedVersion": 1, "description": "Mine now"},
    ),
    Intrusion("deleteExpense", lambda _g, e, _b, _i: {"expenseId": e, "expectedVersion": 1}),
    Intrusion("addMember", lambda g, _e, _b, i: {"groupId": g, "userId": i}),
    Intrusion("removeMember", lambda g, _e, b, _i: {"groupId": g, "userId": b}),
    Intrusion(
        "requestSplit",
        lambda g, _e, _b, _i: {
            "groupId": g,
            "period": {"start": "2026-01-01", "end": "2026-02-01"},
        },
    ),
    Intrusion(
        "createInvoice",
        lambda g, _e, _b, _i: {
            "groupId": g,
            "period": {"start": "2026-01-01", "end": "2026-02-01"},
        },
    ),
]


@pytest.mark.parametrize("intrusion", INTRUSIONS, ids=lambda i: i.mutation)
async def test_a_non_member_writes_nothing_to_a_group(api: Api, intrusion: Intrusion) -> None:
    group, (ann, ben) = await api.family("Ann", "Ben")
    added = await api.succeed("addExpense", expense(group, description="Bread"), token=ann.token)
    eve = await outsider(api)

    refused = await api.mutate(
        intrusion.mutation,
        intrusion.input(group, added["id"], ben.user_id, eve.user_id),
        token=eve.token,
    )

    assert (refused["__typename"], refused["code"]) == ("ForbiddenError", "NOT_A_MEMBER")
    assert await settled_timeline(api, group, ann) == [*FAMILY_OF_TWO, ("expense.created", "Ann")]
