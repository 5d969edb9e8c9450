"""Serve the simulator: an API origin and a separate files origin, both on hypercorn/trio."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from seedrun.sim.app import create_api_app, create_files_app
from seedrun.sim.config import SimConfig
from seedrun.sim.state import SimState

_SERVE_OPTIONS = ("host", "port", "files_port")


@dataclass(frozen=True)
class SimHandle:
    """What a started simulator tells its caller."""

    base_url: str  # the API origin, e.g. "http://127.0.0.1:41234"
    files_url: str  # a different origin that serves videos and last frames
    api_key: str
    state: SimState  # live: counters, tasks by id, the request log


def _hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    config.graceful_timeout = 0.5
    return config


async def serve_sim(
    config: SimConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    files_port: int = 0,
    task_status: trio.TaskStatus[SimHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Bind both ports, report a ``SimHandle`` through ``task_status``, serve until cancelled."""
    state = SimState(config)
    state.open_log()
    try:
        async with trio.open_nursery() as nursery:
            files_binds: list[str] = await nursery.start(
                serve, create_files_app(state), _hypercorn_config(host, files_port)
            )
            state.files_url = files_binds[0]
            api_binds: list[str] = await nursery.start(
                serve, create_api_app(state), _hypercorn_config(host, port)
            )
            task_status.started(SimHandle(api_binds[0], files_binds[0], config.api_key, state))
    finally:
        state.close_log()


@asynccontextmanager
async def running_sim(config: SimConfig | None = None, **kw: Any) -> AsyncIterator[SimHandle]:
    """Run a simulator for the duration of the block.

    ``host``, ``port`` and ``files_port`` in ``kw`` go to ``serve_sim``; any other
    keyword replaces that field of ``config`` (``running_sim(seed=3)``).
    """
    serve_kw = {name: kw.pop(name) for name in _SERVE_OPTIONS if name in kw}
    config = dataclasses.replace(config or SimConfig(), **kw)
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        handle: SimHandle = await nursery.start(partial(serve_sim, config, **serve_kw))
        try:
            yield handle
        except Exception as exc:  # re-raised below, not wrapped in the nursery's group
            failure = exc
        finally:
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
