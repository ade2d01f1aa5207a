"""The workflows aequatio runs."""

from __future__ import annotations

from aequatio.sagas.base import Saga
from aequatio.sagas.invoice_saga import InvoiceSaga
from aequatio.sagas.split_saga import SplitSaga

SAGAS: tuple[Saga, ...] = (SplitSaga(), InvoiceSaga())
