"""Every read model aequatio maintains, by name (``projection.<name>`` is its queue)."""

from __future__ import annotations

from aequatio.projections.activity import Activity
from aequatio.projections.balances import Balances
from aequatio.projections.base import Projection
from aequatio.projections.expenses import Expenses
from aequatio.projections.group_summary import GroupSummary
from aequatio.projections.invoices import Invoices
from aequatio.projections.splits import Splits
from aequatio.projections.user_directory import UserDirectory

PROJECTIONS: tuple[Projection, ...] = (
    UserDirectory(),
    GroupSummary(),
    Expenses(),
    Balances(),
    Splits(),
    Invoices(),
    Activity(),
)

_BY_NAME = {projection.name: projection for projection in PROJECTIONS}
if len(_BY_NAME) != len(PROJECTIONS):
    raise RuntimeError("two projections share a name")


def by_name(name: str) -> Projection:
    """The projection called ``name``; a ``KeyError`` lists the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no projection {name!r}; known: {', '.join(sorted(_BY_NAME))}") from None
