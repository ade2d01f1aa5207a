"""The README's curl session works as written against a real server."""

from __future__ import annotations

import json
import os
import subprocess

from aequatio.persistence.database import REPOSITORY_ROOT
from tests.support.server import Server


def readme_session() -> str:
    text = (REPOSITORY_ROOT / "README.md").read_text()
    block = text.split("<!-- session -->", 1)[1].split("<!-- /session -->", 1)[0]
    return block.strip().removeprefix("```sh").removesuffix("```")


def test_the_readme_session_mints_a_token_creates_a_group_adds_an_expense_and_balances(
    server: Server,
) -> None:
    done = subprocess.run(  # noqa: S603 - the README's own lines
        ["bash", "-euo", "pipefail", "-c", readme_session()],  # noqa: S607
        cwd=REPOSITORY_ROOT,
        env={**os.environ, "API": f"{server.url}/graphql", "AEQUATIO_JWT_SECRET": server.secret},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Each gql call prints one JSON document (no newline): the last one is the balances.
    last = json.loads("{" + done.stdout.rsplit("}{", 1)[-1])
    assert last == {
        "data": {
            "balances": [
                {
                    "currency": "EUR",
                    "paidCents": 4250,
                    "owedCents": 4250,
                    "netCents": 0,
                    "user": {"name": "Ann"},
                }
            ]
        }
    }
