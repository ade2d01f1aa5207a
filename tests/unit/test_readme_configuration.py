"""The README's configuration table names every setting by its environment variable."""

from __future__ import annotations

from aequatio.config import Settings
from aequatio.persistence.database import REPOSITORY_ROOT


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPOSITORY_ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    table = table[: table.index("\n## ", 1)]
    missing = [
        f"AEQUATIO_{name.upper()}"
        for name in Settings.model_fields
        if f"`AEQUATIO_{name.upper()}`" not in table
    ]
    assert missing == []
