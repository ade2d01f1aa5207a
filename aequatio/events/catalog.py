"""The catalog of aequatio's events: every payload version and the upcasters between them."""

from __future__ import annotations

from aequatio.events.billing import InvoiceCreated, InvoicePaid, InvoiceVoided
from aequatio.events.expenses import ExpenseAmended, ExpenseCreated, ExpenseDeleted
from aequatio.events.groups import GroupCreated, MemberAdded, MemberRemoved
from aequatio.events.identity import UserRegistered
from aequatio.events.registry import EventRegistry
from aequatio.events.splitting import (
    SplitCompleted,
    SplitFailed,
    SplitInvoiceRequested,
    SplitRequested,
)

EVENTS = EventRegistry(
    models=[
        UserRegistered,
        GroupCreated,
        MemberAdded,
        MemberRemoved,
        ExpenseCreated,
        ExpenseAmended,
        ExpenseDeleted,
        SplitRequested,
        SplitInvoiceRequested,
        SplitCompleted,
        SplitFailed,
        InvoiceCreated,
        InvoicePaid,
        InvoiceVoided,
    ],
    upcasters={},
)
