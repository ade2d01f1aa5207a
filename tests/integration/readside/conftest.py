"""An unstarted transport of each kind: the read side's workers start and close it."""

from __future__ import annotations

import pytest

from aequatio.outbox.transport import Transport
from tests.support.transports import make_transport


@pytest.fixture(params=["amqp", "inprocess"])
def transport(request: pytest.FixtureRequest, amqp_url: str) -> Transport:
    return make_transport(request.param, amqp_url)
