"""The dashboard's routes: the page and its files for everyone, the local sign-in only on a
development server (in production the route does not exist)."""

from __future__ import annotations

import httpx
import jwt
from fastapi import FastAPI
from pydantic import SecretStr

from aequatio.api.dashboard import install_dashboard, subject_for
from aequatio.config import Environment, Settings

SECRET = "s" * 40


def client(environment: Environment) -> httpx.AsyncClient:
    app = FastAPI()
    settings = Settings(environment=environment, jwt_secret=SecretStr(SECRET))
    install_dashboard(app, settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://dashboard")


async def test_the_page_and_its_modules_are_served() -> None:
    http = client(Environment.PRODUCTION)
    page = await http.get("/")
    assert page.status_code == 200
    assert '<script type="module" src="/dashboard/app.js">' in page.text
    for asset in ("app.js", "graphql.js", "money.js", "style.css"):
        assert (await http.get(f"/dashboard/{asset}")).status_code == 200


async def test_development_hands_out_tokens_for_a_stable_subject() -> None:
    http = client(Environment.DEVELOPMENT)
    assert (await http.get("/dev/config")).json() == {"devSignIn": True}
    first = (await http.post("/dev/token", json={"name": "Ann Lee"})).json()
    again = (await http.post("/dev/token", json={"name": "ann  LEE"})).json()
    assert first["subject"] == again["subject"] == "dev-ann-lee"
    claims = jwt.decode(
        first["token"], SECRET, algorithms=["HS256"], audience="aequatio-api", issuer="aequatio"
    )
    assert claims["sub"] == "dev-ann-lee"


async def test_production_has_no_sign_in_route() -> None:
    http = client(Environment.PRODUCTION)
    assert (await http.get("/dev/config")).json() == {"devSignIn": False}
    assert (await http.post("/dev/token", json={"name": "Ann"})).status_code in (404, 405)


async def test_bad_names_get_typed_errors() -> None:
    http = client(Environment.DEVELOPMENT)
    cases = {
        "": "TEXT_EMPTY",
        "x" * 41: "TEXT_TOO_LONG",
        "!!!": "INVALID_INPUT",
    }
    for name, code in cases.items():
        refused = await http.post("/dev/token", json={"name": name})
        assert refused.status_code == 400
        assert refused.json()["code"] == code
        assert refused.json()["field"] == "name"
    assert (await http.post("/dev/token", content=b"{nope")).json()["field"] == "body"
    assert (await http.post("/dev/token", json=["Ann"])).json()["code"] == "TEXT_EMPTY"


def test_subjects_are_plain_and_stable() -> None:
    assert subject_for("Zoë Ørsted") == "dev-zoe-rsted"
    assert subject_for("  Ben  ") == "dev-ben"
    assert subject_for("¿?") == ""
