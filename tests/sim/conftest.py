"""Fixtures for simulator tests: a fast simulator on real loopback sockets.

Simulator tests use the real clock with short task times (0.2-0.4 s); each test
bounds itself with ``trio.fail_after``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from seedrun.sim import SimConfig, SimHandle, running_sim

from .helpers import FAST

SimOpener = Callable[..., AbstractAsyncContextManager[tuple[SimHandle, httpx.AsyncClient]]]


@asynccontextmanager
async def _open_sim(**overrides: Any) -> AsyncIterator[tuple[SimHandle, httpx.AsyncClient]]:
    config = SimConfig(**{"task_seconds": FAST.task_seconds, **overrides})
    async with running_sim(config) as sim, httpx.AsyncClient(
        base_url=sim.base_url,
        headers={"Authorization": f"Bearer {sim.api_key}"},
        timeout=5.0,
    ) as client:
        yield sim, client


@pytest.fixture
def open_sim() -> SimOpener:
    """``async with open_sim(concurrency=2) as (sim, client):`` -- any SimConfig field."""
    return _open_sim


@pytest.fixture
async def sim_client() -> AsyncIterator[tuple[SimHandle, httpx.AsyncClient]]:
    """A fast simulator with default knobs and an authorised client for its API."""
    async with _open_sim() as pair:
        yield pair
