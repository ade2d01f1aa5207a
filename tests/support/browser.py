"""The system's Chromium for browser tests, driven by Playwright (which downloads nothing).

``AEQUATIO_TEST_CHROMIUM`` names the executable; otherwise the first of ``chromium``,
``chromium-browser`` and ``google-chrome`` on the PATH. None at all fails the test: `.ci/run`
installs Debian's ``chromium``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from aequatio.persistence.database import REPOSITORY_ROOT

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
#: Screenshots and traces of browser tests (ignored by git; CI keeps them as artifacts).
ARTIFACTS = Path(os.environ.get("AEQUATIO_TEST_ARTIFACTS", REPOSITORY_ROOT / "test-artifacts"))


def chromium_executable() -> str:
    configured = os.environ.get("AEQUATIO_TEST_CHROMIUM")
    if configured:
        return configured
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "no Chromium found (install Debian's chromium, or set AEQUATIO_TEST_CHROMIUM)",
        pytrace=False,
    )


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
