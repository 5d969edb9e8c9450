"""Starting and stopping the simulator: serve_sim in a nursery, running_sim as a block."""

from __future__ import annotations

import httpx
import pytest
import trio

from seedrun.sim import SimConfig, SimHandle, running_sim, serve_sim

from .helpers import TASKS


async def test_serve_sim_reports_two_origins_and_stops_when_cancelled() -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            sim: SimHandle = await nursery.start(serve_sim, SimConfig(api_key="k"))
            async with httpx.AsyncClient() as client:
                answer = await client.get(f"{sim.base_url}{TASKS}",
                                          headers={"Authorization": "Bearer k"})
            nursery.cancel_scope.cancel()
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as client:
                await client.get(f"{sim.base_url}{TASKS}")
    assert answer.status_code == 200
    assert sim.api_key == "k"
    assert sim.base_url.startswith("http://127.0.0.1:")
    assert sim.files_url.startswith("http://127.0.0.1:")
    assert sim.files_url != sim.base_url
    assert sim.state.lists == 1


async def test_running_sim_takes_config_overrides_and_lets_errors_through() -> None:
    with trio.fail_after(5):
        async with running_sim(SimConfig(seed=1), concurrency=3, host="127.0.0.1") as sim:
            assert (sim.state.config.seed, sim.state.config.concurrency) == (1, 3)
        with pytest.raises(ValueError, match="boom"):
            async with running_sim():
                raise ValueError("boom")
