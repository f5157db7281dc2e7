"""The request-bytes budget's reservations: they grow (a body whose bytes show that parsing it
costs more) and shrink (a gRPC message once its size is known) without deadlocking."""

from __future__ import annotations

import asyncio

import pytest
from visionstudio.server.api.byte_budget import ByteBudget
from visionstudio.server.errors import Unavailable


async def test_a_reservation_alone_in_the_budget_may_grow_past_it() -> None:
    budget = ByteBudget(100, wait_s=5)
    reservation = await budget.reserve(80)
    async with asyncio.timeout(1):  # before, it waited for itself to leave
        await reservation.resize(150)
    assert budget.used == 150
    await reservation.release()
    assert budget.used == 0


async def test_growth_that_does_not_fit_beside_others_is_refused_busy() -> None:
    budget = ByteBudget(100, wait_s=0.1)
    other = await budget.reserve(50)
    reservation = await budget.reserve(40)
    with pytest.raises(Unavailable) as refused:
        await reservation.resize(60)
    assert refused.value.reason == "REQUEST_BYTES_BUSY"
    assert reservation.size == 40 and budget.used == 90
    await other.release()
    await reservation.resize(60)
    assert budget.used == 60


async def test_shrinking_gives_bytes_back_to_waiting_callers() -> None:
    budget = ByteBudget(100, wait_s=5)
    reservation = await budget.reserve(90)
    waiting = asyncio.create_task(budget.reserve(50))
    await asyncio.sleep(0)
    assert not waiting.done()
    await reservation.resize(40)
    async with asyncio.timeout(1):
        second = await waiting
    assert budget.used == 90
    await reservation.release()
    await reservation.release()  # once more is harmless
    await second.release()
    assert budget.used == 0
