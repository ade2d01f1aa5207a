"""Reading JSON columns back into the fragments (then domain values) they were written as."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from aequatio.events.common import (
    AdjustmentData,
    MemberAmount,
    MemberBalance,
    PostingData,
    TransferData,
)
from aequatio.events.splitting import ConversionData, MonthRevision

M = TypeVar("M", bound=BaseModel)

_member_amounts = TypeAdapter(list[MemberAmount])
_balances = TypeAdapter(list[MemberBalance])
_transfers = TypeAdapter(list[TransferData])
_adjustments = TypeAdapter(list[AdjustmentData])
_revisions = TypeAdapter(list[MonthRevision])
_postings = TypeAdapter(list[PostingData])


def dump(models: list[M]) -> list[dict[str, Any]]:
    return [model.model_dump(mode="json") for model in models]


def member_amounts(value: Any) -> list[MemberAmount]:
    return _member_amounts.validate_python(value)


def balances(value: Any) -> list[MemberBalance]:
    return _balances.validate_python(value)


def transfers(value: Any) -> list[TransferData]:
    return _transfers.validate_python(value)


def adjustments(value: Any) -> list[AdjustmentData]:
    return _adjustments.validate_python(value)


def revisions(value: Any) -> list[MonthRevision]:
    return _revisions.validate_python(value)


def postings(value: Any) -> list[PostingData]:
    return _postings.validate_python(value)


def conversion(value: Any) -> ConversionData:
    return ConversionData.model_validate(value)
