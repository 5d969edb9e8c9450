"""``seedrun sim``: run the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys

import trio

from seedrun.errors import EXIT_OK, ConfigError
from seedrun.sim.config import SimConfig
from seedrun.sim.server import running_sim


def _task_seconds(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not 0 <= values[0] <= values[1]:
        raise argparse.ArgumentTypeError(
            f"expected LOW,HIGH seconds with 0 <= LOW <= HIGH, such as 2,4 (got {text!r})"
        )
    return values[0], values[1]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1 (got {text!r})")
    return value


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0 (got {text!r})")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``seedrun sim`` options; every fault knob is off by default."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    add("--port", type=int, default=8000, help="API port (default 8000; 0 picks a free one)")
    add("--files-port", type=int, default=0,
        help="port of the separate origin serving videos (default 0: a free one)")
    add("--key", default="sim-key", help="the API key clients must send (default sim-key)")
    add("--task-seconds", type=_task_seconds, default=(2.0, 4.0), metavar="LOW,HIGH",
        help="run time of a task, uniform in the range (default 2,4)")
    add("--concurrency", type=int, default=10, metavar="N",
        help="tasks running at once; more wait queued, first come first served "
             "(default 10; 0 for no cap)")
    add("--seed", type=int, default=0, help="seed of every simulated random decision")
    add("--rate-limit", type=float, default=None, metavar="RPS",
        help="requests per second before answering 429 with Retry-After")
    add("--error-rate-before", type=_fraction, default=0.0, metavar="F",
        help="fraction of creates answered 500 without creating a task")
    add("--error-rate-after", type=_fraction, default=0.0, metavar="F",
        help="fraction of creates answered 500 after creating the task")
    add("--get-error-rate", type=_fraction, default=0.0, metavar="F",
        help="fraction of task GETs answered 503")
    add("--read-lag-gets", type=_count, default=0, metavar="N",
        help="answer 404 to each task's first N GETs (a gateway's read-after-write lag)")
    add("--wrong-id-rate", type=_fraction, default=0.0, metavar="F",
        help="fraction of task GETs answered with another task's object")
    add("--scale-by-duration", action="store_true",
        help="run time grows with the video's duration (--task-seconds is for 5 s)")
    add("--truncate-rate", type=_fraction, default=0.0, metavar="F",
        help="fraction of files whose first download is cut short")
    add("--url-ttl", type=float, default=None, metavar="S",
        help="video URLs expire after S seconds (403 afterwards)")
    add("--latency", type=float, default=0.0, metavar="S", help="seconds added to every answer")
    add("--no-list-endpoint", dest="list_endpoint", action="store_false",
        help="answer 404 on the official task list endpoint")
    add("--flex-queue-seconds", type=float, default=0.0, metavar="S",
        help="extra queue wait for service_tier=flex tasks")
    add("--request-log", default=None, metavar="PATH",
        help="append a JSON line per request (never header values)")
    add("--unsupported-param", dest="unsupported_params", action="append", default=[],
        metavar="NAME", help="answer 400 to creates that set this parameter (repeatable)")
    add("--fetch-images", action="store_true",
        help="moderation fetches each image URL and applies the doc's limits")


def config_from_args(args: argparse.Namespace) -> SimConfig:
    try:
        return SimConfig(
            api_key=args.key,
            task_seconds=args.task_seconds,
            concurrency=args.concurrency or None,
            seed=args.seed,
            rate_limit_rps=args.rate_limit,
            error_rate_before=args.error_rate_before,
            error_rate_after=args.error_rate_after,
            get_error_rate=args.get_error_rate,
            read_lag_gets=args.read_lag_gets,
            wrong_id_rate=args.wrong_id_rate,
            scale_by_duration=args.scale_by_duration,
            truncate_rate=args.truncate_rate,
            url_ttl=args.url_ttl,
            latency=args.latency,
            list_endpoint=args.list_endpoint,
            flex_queue_seconds=args.flex_queue_seconds,
            request_log=args.request_log,
            unsupported_params=tuple(args.unsupported_params),
            fetch_images=args.fetch_images,
        )
    except ValueError as exc:
        raise ConfigError(f"seedrun sim: {exc}") from None


async def _serve(config: SimConfig, host: str, port: int, files_port: int) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with running_sim(config, host=host, port=port, files_port=files_port) as sim:
            print(f"Simulator listening on {sim.base_url} (files on {sim.files_url}); "
                  f"key: {sim.api_key}", flush=True)
            async for _ in signals:
                break


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (or SIGTERM); return the exit code."""
    config = config_from_args(args)
    try:
        trio.run(_serve, config, args.host, args.port, args.files_port)
    except KeyboardInterrupt:
        pass  # Ctrl-C before the signal receiver was in place
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if all(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
            pass
        elif len(leaves) == 1 and isinstance(leaves[0], OSError):
            raise ConfigError(f"seedrun sim: cannot listen on {args.host}: {leaves[0]}") from None
        else:
            raise
    except OSError as exc:
        raise ConfigError(f"seedrun sim: cannot listen on {args.host}: {exc}") from None
    print("Simulator stopped.", file=sys.stderr)
    return EXIT_OK
