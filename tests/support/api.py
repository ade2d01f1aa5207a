"""A GraphQL client for end-to-end tests against a real ``aequatio serve`` over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from aequatio.api.auth import ALL_SCOPES, issue_token
from aequatio.config import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json"


class GraphQLFailed(AssertionError):
    pass


@dataclass(frozen=True)
class Person:
    name: str
    subject: str
    token: str
    user_id: str  # global id


class Api:
    def __init__(self, base_url: str, secret: str) -> None:
        self.base_url = base_url
        self.settings = Settings(jwt_secret=SecretStr(secret))
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)

    async def close(self) -> None:
        await self.http.aclose()

    def token(
        self, subject: str, scopes: Iterable[str] = ALL_SCOPES, ttl_seconds: int = 3600
    ) -> str:
        return issue_token(self.settings, subject, scopes, ttl_seconds)

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = {"Accept": GRAPHQL_RESPONSE, **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.http.post("/graphql", json=body, headers=sent)

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str
    ) -> dict[str, Any]:
        """The ``data`` of a request that must succeed without any error."""
        response = await self.post(query, variables, token=token)
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise GraphQLFailed(f"{response.status_code}: {body}")
        return body["data"]  # type: ignore[no-any-return]

    async def mutate(
        self, name: str, input: dict[str, Any], *, token: str, selection: str = ""
    ) -> dict[str, Any]:
        """Run ``name(input:)`` and return its payload (success or typed error)."""
        query = (
            f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) {{ "
            "__typename ... on MutationSuccess { id version eventIds replayed } "
            "... on Error { code message field } " + selection + " } }"
        )
        return (await self.data(query, {"input": input}, token=token))[name]  # type: ignore[no-any-return]

    async def succeed(self, name: str, input: dict[str, Any], *, token: str) -> dict[str, Any]:
        payload = await self.mutate(name, input, token=token)
        if payload["__typename"] != "MutationSuccess":
            raise GraphQLFailed(f"{name} refused: {payload}")
        return payload

    async def person(self, name: str) -> Person:
        subject = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
        token = self.token(subject)
        registered = await self.succeed(
            "registerUser", {"name": name, "email": f"{subject}@example.org"}, token=token
        )
        # Read the registration back, so what follows can rely on the user directory.
        await self.data(
            "query($seen: [ID!]) { me(consistentWith: $seen) { id } }",
            {"seen": registered["eventIds"]},
            token=token,
        )
        return Person(name, subject, token, registered["id"])

    async def family(
        self, *names: str, currency: str = "EUR", since: str = "2026-01-01"
    ) -> tuple[str, list[Person]]:
        """A group owned by the first person, everyone a member from ``since``."""
        people = [await self.person(name) for name in names]
        owner = people[0]
        group = await self.succeed(
            "createGroup",
            {"name": "Family", "currency": currency, "startedOn": since},
            token=owner.token,
        )
        written = list(group["eventIds"])
        for member in people[1:]:
            added = await self.succeed(
                "addMember",
                {"groupId": group["id"], "userId": member.user_id, "joinedOn": since},
                token=owner.token,
            )
            written += added["eventIds"]
        # Read the memberships back: reads and subscriptions check them in the read model.
        await self.data(
            "query($g: ID!, $seen: [ID!]) { group(id: $g, consistentWith: $seen) { id } }",
            {"g": group["id"], "seen": written},
            token=owner.token,
        )
        return group["id"], people
