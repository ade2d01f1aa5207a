"""GraphQL over HTTP (the GraphQL-over-HTTP spec), in front of the Strawberry schema.

* ``POST /graphql`` with ``application/json``: queries and mutations.
* ``GET /graphql?query=...``: queries only; a mutation over GET is refused with 405.
* Responses are ``application/graphql-response+json`` when the client accepts it (request
  errors are then 4xx) or ``application/json`` (always 200 once the request parsed), 406
  otherwise. A present but invalid bearer token is 401 before anything runs.
* GraphiQL is served to browsers on ``GET`` in development (off by configuration).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from uuid import UUID

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic_core import to_json
from strawberry import Schema
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType

from aequatio.api.auth import AuthenticationError, TokenVerifier, bearer_token
from aequatio.application.context import Principal
from aequatio.application.ids import new_id
from aequatio.graphql.context import ContextFactory
from aequatio.graphql.errors import format_error

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
CORRELATION_HEADER = "X-Correlation-ID"


def negotiate(accept: str | None) -> str | None:
    """The response media type the client accepts best (spec: graphql-response+json first)."""
    if not accept:
        return GRAPHQL_RESPONSE
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((quality, -index, media.lower()))
    for quality, _, media in sorted(ranked, reverse=True):
        if quality <= 0:
            continue
        if media in (GRAPHQL_RESPONSE, "application/*", "*/*"):
            return GRAPHQL_RESPONSE
        if media == JSON:
            return JSON
    return None


def _wants_html(accept: str | None) -> bool:
    return bool(accept) and "text/html" in (accept or "")


class RequestError(Exception):
    """The HTTP request itself is unusable: answered with a status and one coded error."""

    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers

    def response(self, media: str) -> Response:
        body = {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}
        return JSONResponse(
            body, status_code=self.status, media_type=media, headers=self.headers or None
        )


class GraphQLEndpoint:
    def __init__(
        self,
        schema: Schema,
        *,
        contexts: ContextFactory,
        verifier: TokenVerifier,
        graphiql: bool,
    ) -> None:
        self._schema = schema
        self._contexts = contexts
        self._verifier = verifier
        self._graphiql = graphiql

    async def __call__(self, request: Request) -> Response:
        accept = request.headers.get("accept")
        if request.method == "GET" and self._graphiql and _wants_html(accept):
            return HTMLResponse(get_graphql_ide_html(graphql_ide="graphiql"))
        media = negotiate(accept)
        if media is None:
            return RequestError(
                406, "NOT_ACCEPTABLE", f"responses are {GRAPHQL_RESPONSE} or {JSON}"
            ).response(JSON)
        try:
            return await self._execute(request, media)
        except RequestError as error:
            return error.response(media)

    async def _execute(self, request: Request, media: str) -> Response:
        correlation_id = _correlation_id(request)
        principal = self._principal(request)
        query, variables, operation_name = await _params(request)
        context = self._contexts(principal, correlation_id)
        allowed = (
            {OperationType.QUERY}
            if request.method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        try:
            # The request's reads share one pooled connection (``ReadStore.reading``).
            async with context.store.reading():
                result = await self._schema.execute(
                    query,
                    variable_values=variables,
                    context_value=context,
                    operation_name=operation_name,
                    allowed_operation_types=allowed,
                )
        except InvalidOperationTypeError:
            raise RequestError(
                405, "METHOD_NOT_ALLOWED", "only queries may use GET; use POST", Allow="POST"
            ) from None
        except (MissingQueryError, CannotGetOperationTypeError) as error:
            raise RequestError(400, "BAD_REQUEST", str(error) or "no operation to run") from None
        request_error = isinstance(result, PreExecutionError) or _coercion_failed(result)
        body: dict[str, Any] = {}
        if not request_error:
            body["data"] = result.data
        if result.errors:
            body["errors"] = [format_error(error, str(correlation_id)) for error in result.errors]
        if context.stale:
            body["extensions"] = {"stale": True}
        status = 400 if request_error and media == GRAPHQL_RESPONSE else 200
        return Response(
            to_json(body, fallback=str),
            status_code=status,
            media_type=media,
            headers={CORRELATION_HEADER: str(correlation_id)},
        )

    def _principal(self, request: Request) -> Principal | None:
        """The token's principal; none without a token; 401 for a token that fails checks."""
        try:
            token = bearer_token(request.headers.get("authorization"))
            return self._verifier.verify(token) if token is not None else None
        except AuthenticationError as error:
            raise RequestError(
                401,
                "UNAUTHENTICATED",
                f"invalid bearer token: {error.reason}",
                **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None


def _coercion_failed(result: ExecutionResult) -> bool:
    """The variables could not be coerced, so execution never began: a request error (GraphQL
    spec), though graphql-core answers it as ``data: null``. Its errors have no path; an error
    raised while executing always has one."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(not error.path for error in errors)


async def _params(request: Request) -> tuple[str, dict[str, Any] | None, str | None]:
    """``(query, variables, operationName)`` from a POST body or a GET query string."""
    if request.method == "GET":
        raw: Any = dict(request.query_params)
        if isinstance(raw.get("variables"), str):
            raw["variables"] = _json(raw["variables"], "variables is not JSON")
    else:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise RequestError(415, "UNSUPPORTED_MEDIA_TYPE", "send application/json")
        raw = _json(await request.body(), "the body is not JSON")
    if not isinstance(raw, dict):
        raise RequestError(400, "BAD_REQUEST", "the body is not a JSON object")
    query, variables, operation_name = (
        raw.get("query"),
        raw.get("variables"),
        raw.get("operationName"),
    )
    if not isinstance(query, str) or not query.strip():
        raise RequestError(400, "BAD_REQUEST", "query must be a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "BAD_REQUEST", "variables must be an object")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "BAD_REQUEST", "operationName must be a string")
    return query, variables, operation_name


def _json(raw: str | bytes, complaint: str) -> Any:
    # ValueError covers malformed JSON, bad UTF-8 and integers past Python's 4300 digits;
    # RecursionError arrays or objects nested thousands deep.
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise RequestError(400, "BAD_REQUEST", complaint) from None


def _correlation_id(request: Request) -> UUID:
    """The caller's ``X-Correlation-ID`` if it is a UUID, else a new one."""
    supplied = request.headers.get(CORRELATION_HEADER)
    if supplied:
        try:
            return UUID(supplied)
        except ValueError:
            log.debug("ignoring a correlation id that is not a UUID")
    return new_id()
