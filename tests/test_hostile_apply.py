"""``seedrun apply`` as a process against a hostile gateway on loopback.

The gateway echoes the key into every field it can, breaks one task's answer
and loops one video's download. The key must reach no output and no file,
and the jobs the gateway did not break must finish.
"""

from __future__ import annotations

from pathlib import Path

import trio
from conftest import cli_env, run_cli, write_spec
from hostile import Handler, Request, hostile_server, send, send_json

from seedrun.lockfile import loads

KEY = "sk-echo-5f1c0e2a9b7d4e3f8a6c"
TASKS = "/api/v3/contents/generations/tasks"
VIDEO = b"\x00\x00\x00\x18ftypmp42 a video"

SPEC = """\
version: 1
settings: {requests_per_second: 100}
jobs:
  - {name: good, api: official, prompt: good}
  - {name: bad, api: official, prompt: bad}
  - {name: broken, api: official, prompt: broken}
  - {name: loop, api: official, prompt: loop}
"""


def gateway(base: list[str]) -> Handler:
    async def handler(req: Request, stream: trio.SocketStream) -> None:
        url = base[0]
        if req.method == "POST" and req.path == TASKS:
            name = req.json()["content"][0]["text"]
            # The create answer already echoes the key, as a careless gateway's debug field.
            await send_json(stream, {"id": f"t_{name}", "status": "queued", "note": KEY})
            return
        if req.method == "GET" and req.path.startswith(TASKS + "/t_"):
            name = req.path.removeprefix(TASKS + "/t_")
            if name == "good":
                await send_json(
                    stream,
                    {
                        "id": "t_good",
                        "status": "succeeded",
                        "revised_prompt": f"good, as {KEY} asked",
                        "content": {"video_url": f"{url}/v/{KEY}.mp4?k={KEY}"},
                    },
                )
            elif name == "bad":
                await send_json(
                    stream,
                    {
                        "id": "t_bad",
                        "status": "failed",
                        "error": {"code": "policy", "message": f"refused for key {KEY}"},
                    },
                )
            elif name == "broken":
                await send(stream, 200, '{"id": "t_broken"}', {"Content-Encoding": "gzip"})
            else:
                await send_json(
                    stream,
                    {
                        "id": "t_loop",
                        "status": "succeeded",
                        "content": {"video_url": f"{url}/loop"},
                    },
                )
            return
        if req.path.startswith("/v/"):
            await send(stream, 200, VIDEO, {"Content-Type": "video/mp4"})
            return
        if req.path == "/loop":
            await send(stream, 302, "", {"Location": "/loop"})
            return
        await send(stream, 404, "{}")

    return handler


async def test_apply_against_a_gateway_that_echoes_the_key(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC)
    base: list[str] = []
    with trio.fail_after(60):
        async with hostile_server(gateway(base)) as server:
            base.append(server.url)
            ran = await run_cli(
                "apply",
                str(spec),
                "--base-url",
                server.url,
                "--poll-floor",
                "0.05",
                env=cli_env(api_key=KEY),
                cwd=tmp_path,
            )
    assert "Traceback" not in ran.output
    assert KEY not in ran.output
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"spec.lock", "spec.report.html", "good.mp4"}
    for path in files:  # lockfile, journal (if kept), report, outputs
        assert KEY.encode() not in path.read_bytes(), path
    assert ran.code == 1
    jobs = loads((tmp_path / "spec.lock").read_text(encoding="utf-8"), "spec.lock").jobs
    assert {name: e.status for name, e in jobs.items()} == {
        "good": "succeeded",
        "bad": "failed",
        "loop": "succeeded",  # paid and done; only its download failed
        "broken": "queued",  # its answers never decoded; the next apply asks again
    }
    assert jobs["bad"].error == {"code": "policy", "message": "refused for key [redacted]"}
    assert jobs["good"].revised_prompt == "good, as [redacted] asked"
    assert jobs["good"].output is not None
    assert (tmp_path / jobs["good"].output.path).read_bytes() == VIDEO
    assert jobs["loop"].output is None
    # Every unfinished job says why, in the summary and in the lockfile.
    assert jobs["broken"].error is not None
    assert jobs["broken"].error["code"] == "poll_failed"
    assert f"queued   broken: {jobs['broken'].error['message']}" in ran.stdout
    assert jobs["loop"].error is not None and jobs["loop"].error["code"] == "download_failed"
    assert f"cannot download {server.url}/loop: more than 5 redirects" in ran.stdout
