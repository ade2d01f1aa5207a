"""The live family dashboard: one static page over the public GraphQL API (``/``), and, in
development only, a local sign-in that hands out tokens (``POST /dev/token``).

The page uses nothing else: queries and mutations over ``POST /graphql``, subscriptions over
``graphql-transport-ws``. The sign-in exists so that a newcomer who runs ``make run`` can use
it at once; in production there is no such route (tokens come from the identity provider).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from aequatio.api.auth import ALL_SCOPES, issue_token
from aequatio.config import Environment, Settings

ASSETS = Path(__file__).resolve().parent.parent / "dashboard"
#: The page loads and talks to nothing but this server (its GraphQL, its WebSocket).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: How long a development token lives: a working day.
DEV_TOKEN_SECONDS = 8 * 3600
MAX_NAME_LENGTH = 40


def subject_for(name: str) -> str:
    """A stable subject for a display name (``Ann Lee`` -> ``dev-ann-lee``): signing in with
    the same name again is the same person, as ``aequatio demo`` relies on."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
    return f"dev-{slug}" if slug else ""


def dev_sign_in_enabled(settings: Settings) -> bool:
    return settings.environment is Environment.DEVELOPMENT and settings.jwt_algorithm == "HS256"


def _refused(code: str, field: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "field": field, "message": message}, status_code=400)


def install_dashboard(app: FastAPI, settings: Settings) -> None:
    """Serve the page at ``/`` and its files under ``/dashboard``; the sign-in when enabled."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def page() -> FileResponse:
        return FileResponse(
            ASSETS / "index.html",
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            },
        )

    @router.get("/dev/config")
    async def config() -> dict[str, bool]:
        """What the page may offer: the local sign-in only in development."""
        return {"devSignIn": dev_sign_in_enabled(settings)}

    if dev_sign_in_enabled(settings):

        @router.post("/dev/token")
        async def dev_token(request: Request) -> JSONResponse:
            try:
                body = await request.json()
            except ValueError:
                return _refused("INVALID_INPUT", "body", "send a JSON object")
            name = body.get("name") if isinstance(body, dict) else None
            if not isinstance(name, str) or not name.strip():
                return _refused("TEXT_EMPTY", "name", "say who you are")
            if len(name) > MAX_NAME_LENGTH:
                return _refused("TEXT_TOO_LONG", "name", f"at most {MAX_NAME_LENGTH} characters")
            subject = subject_for(name)
            if not subject:
                return _refused("INVALID_INPUT", "name", "use some letters or digits")
            token = issue_token(settings, subject, ALL_SCOPES, DEV_TOKEN_SECONDS)
            return JSONResponse(
                {"token": token, "subject": subject, "expiresIn": DEV_TOKEN_SECONDS},
                headers={"Cache-Control": "no-store"},
            )

    app.include_router(router)
    app.mount("/dashboard", StaticFiles(directory=ASSETS), name="dashboard")
