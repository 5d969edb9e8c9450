"""Sustained GET rate of SeedanceClient against the in-process simulator.

    .venv/bin/python bench/client_rps.py [--seconds 5] [--concurrency 64] [--tasks 4]

Client and simulator share one trio run (one thread), so the figure is the
whole request path (client, loopback, hypercorn, starlette) on one core. With
``--base-url`` it measures against a simulator running in another process.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import trio

from seedrun.api_facts import MODEL
from seedrun.client import SeedanceClient
from seedrun.errors import ApiError
from seedrun.pacer import Pacer
from seedrun.sim import SimConfig, running_sim

BODIES: dict[str, dict[str, Any]] = {
    "official": {"model": MODEL, "content": [{"type": "text", "text": "bench"}], "duration": 5},
    "unified": {"model": MODEL, "prompt": "bench", "seconds": "5"},
}


async def measure(
    client: SeedanceClient, seconds: float, concurrency: int, tasks: int, api: str
) -> dict[str, float]:
    """GET a few existing tasks from ``concurrency`` workers for ``seconds``."""
    ids = [(await client.create(api, BODIES[api])).task_id for _ in range(tasks)]
    latencies: list[float] = []
    errors = 0
    deadline = trio.current_time() + seconds

    async def worker(n: int) -> None:
        nonlocal errors
        i = n
        while trio.current_time() < deadline:
            start = time.perf_counter()
            try:
                await client.get(api, ids[i % len(ids)])
            except ApiError:
                errors += 1
            latencies.append(time.perf_counter() - start)
            i += 1

    began = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for n in range(concurrency):
            nursery.start_soon(worker, n)
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p95_ms": cuts[94] * 1000,
    }


async def bench(args: argparse.Namespace) -> dict[str, float]:
    pacer = Pacer()  # unlimited, as in a run without requests_per_second
    measured = (args.seconds, args.concurrency, args.tasks, args.api)
    if args.base_url:  # a simulator in another process: client and server get a core each
        async with SeedanceClient(
            base_url=args.base_url, api_key=args.api_key, pacer=pacer
        ) as client:
            return await measure(client, *measured)
    async with (
        running_sim(SimConfig(task_seconds=(0.2, 0.4), concurrency=None)) as sim,
        SeedanceClient(base_url=sim.base_url, api_key=sim.api_key, pacer=pacer) as client,
    ):
        result = await measure(client, *measured)
    return {**result, "server_gets": sim.state.gets}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--api", choices=sorted(BODIES), default="official")
    parser.add_argument("--base-url", help="use a running simulator (seedrun sim) instead")
    parser.add_argument("--api-key", default="sim-key")
    args = parser.parse_args(argv)
    result = trio.run(bench, args)
    print(
        f"{args.api} GET x{args.concurrency} for {result['seconds']:.1f}s: "
        f"{result['rps']:.0f} requests/s sustained, "
        f"p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
        f"{result['requests']:.0f} requests, {result['errors']:.0f} errors"
    )
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
