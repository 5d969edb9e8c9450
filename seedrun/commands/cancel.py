"""``seedrun cancel``: stop spending on queued tasks nobody wants any more."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import trio

from seedrun.client import SeedanceClient
from seedrun.config import ApiConfig, resolve
from seedrun.errors import EXIT_JOBS_FAILED, EXIT_OK, ApiError, AuthError, Unsupported
from seedrun.files import default_lock_path, read_spec
from seedrun.lockfile import IN_FLIGHT, Lock, LockEntry
from seedrun.spec import select
from seedrun.store import RunLock, recover, write_lock

HELP = "cancel the selected jobs' queued tasks; running tasks cannot be cancelled"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec")
    p.add_argument("--lock", help="lockfile (default: the spec's name with .lock)")
    p.add_argument("--select", action="append", metavar="GLOB", help="only these job ids")
    p.add_argument("--base-url", help="API base URL (overrides SEEDRUN_BASE_URL and the spec)")


def run(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = read_spec(spec_path)
    lock_path = Path(args.lock) if args.lock else default_lock_path(spec_path)
    jobs = select(spec.jobs, args.select) if args.select else list(spec.jobs)
    api = resolve(cli_base_url=args.base_url, spec_base_url=spec.settings.base_url)
    with RunLock(lock_path).held():
        lock = recover(lock_path)
        targets = [
            j.id
            for j in jobs
            if j.id in lock.jobs and lock.jobs[j.id].status in IN_FLIGHT and lock.jobs[j.id].task_id
        ]
        if not targets:
            print("no queued or running tasks among the selected jobs")
            return EXIT_OK
        changed: dict[str, LockEntry] = {}
        try:
            refused = trio.run(_cancel_all, api, lock, targets, changed)
        finally:
            # Whatever was cancelled before an error or Ctrl-C is recorded.
            for job_id, entry in changed.items():
                lock = lock.with_job(job_id, entry)
            write_lock(lock_path, lock)
    return EXIT_JOBS_FAILED if refused else EXIT_OK


async def _cancel_all(
    api: ApiConfig, lock: Lock, targets: list[str], changed: dict[str, LockEntry]
) -> int:
    refused = 0
    async with SeedanceClient(base_url=api.base_url, api_key=api.api_key) as client:
        for job_id in targets:
            entry = lock.jobs[job_id]
            if entry.task_id is None:
                continue
            try:
                await client.cancel(entry.api, entry.task_id)
            except AuthError:
                raise
            except Unsupported as exc:
                refused += 1
                print(f"cannot cancel {job_id}: {exc.message}")
                continue
            except ApiError as exc:
                # Most likely it started running; record what the server says now.
                refused += 1
                state = None
                with contextlib.suppress(ApiError):
                    state = await client.get(entry.api, entry.task_id)
                if state is not None and state.status != entry.status:
                    changed[job_id] = entry.with_(status=state.status)
                status = state.status if state else entry.status
                print(
                    f"{job_id}: task {entry.task_id} is {status} and cannot be cancelled "
                    f"(only queued tasks can be): {exc.message}"
                )
                continue
            changed[job_id] = entry.with_(
                status="cancelled",
                error={"code": "cancelled", "message": "cancelled with seedrun cancel"},
            )
            print(f"cancelled {job_id} (task {entry.task_id})")
    return refused
