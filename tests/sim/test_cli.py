"""``seedrun sim`` argument wiring, and a real foreground run stopped with Ctrl-C."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys

import httpx
import pytest
import trio

from seedrun.errors import ConfigError
from seedrun.sim import SimConfig
from seedrun.sim.cli import add_arguments, config_from_args


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="seedrun sim")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_match_simconfig() -> None:
    args = parse()
    assert (args.host, args.port, args.files_port) == ("127.0.0.1", 8000, 0)
    assert config_from_args(args) == SimConfig()


def test_every_knob_reaches_the_config() -> None:
    args = parse("--key", "k", "--task-seconds", "0.5,1", "--concurrency", "0", "--seed", "9",
                 "--rate-limit", "3", "--error-rate-before", "0.1", "--error-rate-after", "0.2",
                 "--get-error-rate", "0.3", "--truncate-rate", "0.4", "--url-ttl", "60",
                 "--latency", "0.5", "--no-list-endpoint", "--flex-queue-seconds", "7",
                 "--request-log", "log.jsonl")
    assert config_from_args(args) == SimConfig(
        api_key="k", task_seconds=(0.5, 1.0), concurrency=None, seed=9, rate_limit_rps=3.0,
        error_rate_before=0.1, error_rate_after=0.2, get_error_rate=0.3, truncate_rate=0.4,
        url_ttl=60.0, latency=0.5, list_endpoint=False, flex_queue_seconds=7.0,
        request_log="log.jsonl",
    )


def test_bad_values_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--task-seconds", "4,2")
    assert "expected LOW,HIGH seconds with 0 <= LOW <= HIGH, such as 2,4 (got '4,2')" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        parse("--truncate-rate", "2")
    with pytest.raises(ConfigError, match="rate_limit_rps must be positive"):
        config_from_args(parse("--rate-limit", "0"))


async def test_foreground_run_prints_urls_and_stops_on_ctrl_c() -> None:
    code = (
        "import argparse, sys\n"
        "from seedrun.sim.cli import add_arguments, run\n"
        "parser = argparse.ArgumentParser()\n"
        "add_arguments(parser)\n"
        "sys.exit(run(parser.parse_args(sys.argv[1:])))\n"
    )
    command = [sys.executable, "-c", code, "--port", "0", "--key", "cli-key"]
    with trio.fail_after(15):
        process = await trio.lowlevel.open_process(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None
        try:
            line = b""
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                assert chunk, "the simulator exited before printing its URL"
                line += chunk
            match = re.fullmatch(
                r"Simulator listening on (http://127\.0\.0\.1:\d+) "
                r"\(files on (http://127\.0\.0\.1:\d+)\); key: cli-key\n",
                line.decode(),
            )
            assert match, line
            async with httpx.AsyncClient() as client:
                answer = await client.get(
                    f"{match[1]}/api/v3/contents/generations/tasks",
                    headers={"Authorization": "Bearer cli-key"},
                )
            assert answer.json() == {"total": 0, "items": []}
            process.send_signal(signal.SIGINT)
            assert await process.wait() == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
