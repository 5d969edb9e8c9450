"""apply end to end, in process, against the simulator over loopback (real clock)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import trio
from conftest import (
    SimStarter,
    apply_in_process,
    prompt_of,
    sent_bodies,
    sha256_of,
    tasks_per_prompt,
    write_spec,
)

from seedrun.plan import plan
from seedrun.sim import media
from seedrun.sim.engine import POLICY_FAILURE
from seedrun.sim.moderation import REJECT_REASON

BOTTLE = "https://cdn.example.com/catalog/bottle.png"

PIPELINE = """
version: 1
settings: {{requests_per_second: 50}}
defaults:
  api: {api}
  duration: 5
  ratio: "16:9"
assets:
  bottle:
    url: {bottle}
    moderate: true
jobs:
  - name: spin
    prompt: "Use image 1 as the subject reference. The bottle turns on {{{{ backdrop }}}}."
    media:
      - {{asset: bottle, role: reference_image}}
    matrix:
      backdrop: [marble, moss]
  - name: plain
    prompt: "Image 1 drifts slowly across a white studio."
    media:
      - {{asset: bottle}}
  - name: city
    prompt: A cinematic aerial shot of a cubic city at sunrise
"""

EXPECTED_FILES = {
    "spin[backdrop=marble]": "outputs/spin__backdrop=marble.mp4",
    "spin[backdrop=moss]": "outputs/spin__backdrop=moss.mp4",
    "plain": "outputs/plain.mp4",
    "city": "outputs/city.mp4",
}


@pytest.mark.parametrize("api", ["official", "unified"])
async def test_full_pipeline_then_rerun_is_a_noop(
    api: str, tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(tmp_path, PIPELINE.format(api=api, bottle=BOTTLE))
    with trio.fail_after(20):
        async with start_sim() as sim:
            first = await apply_in_process(sim, spec_path)

            assert first.outcome.status == dict.fromkeys(EXPECTED_FILES, "succeeded")
            assert first.outcome.undone == [] and first.outcome.fatal is None
            # One moderation for the one moderated URL, shared by three jobs.
            assert sim.state.moderations == 1
            asset = first.lock.assets[BOTTLE]
            assert asset.passed and asset.asset_url in sim.state.assets
            assert asset.asset_url.startswith("asset://")

            assert len(sim.state.tasks) == len(EXPECTED_FILES)
            for job_id, rel in EXPECTED_FILES.items():
                entry = first.lock.jobs[job_id]
                assert entry.status == "succeeded" and entry.api == api
                task = sim.state.tasks[entry.task_id]
                # The lockfile records exactly what was sent.
                assert dict(entry.request) == task.body
                sent = json.dumps(task.body)
                if job_id != "city":
                    assert asset.asset_url in sent
                    assert BOTTLE not in sent  # the approved asset replaces the source URL
                else:
                    assert "asset://" not in sent
                # The file: named from the job id, relative to the lockfile's folder.
                assert entry.output is not None
                assert entry.output.path == rel
                on_disk = tmp_path / rel
                assert on_disk.is_file()
                assert entry.output.sha256 == sha256_of(on_disk)
                assert entry.output.bytes == on_disk.stat().st_size
                assert on_disk.read_bytes() == media.video_bytes(entry.task_id)
            if api == "unified":
                by_prompt = {prompt_of(b): b for b in sent_bodies(sim)}
                plain = by_prompt["Image 1 drifts slowly across a white studio."]
                assert plain["images"] == [asset.asset_url]
                spin = next(b for p, b in by_prompt.items() if p.endswith("marble."))
                item = spin["metadata"]["content"][0]
                assert item["image_url"]["url"] == asset.asset_url
                assert item["role"] == "reference_image"
            assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == sorted(
                Path(rel).name for rel in EXPECTED_FILES.values()
            )
            # Downloads go to the files origin, never with the key.
            files = [r for r in sim.state.requests if r["origin"] == "files"]
            assert len(files) == len(EXPECTED_FILES)
            assert not any(r["has_auth"] for r in files)
            lock_text = first.lock_text
            assert not spec_path.with_suffix(".lock.journal").exists()

            requests_before = len(sim.state.requests)
            second = await apply_in_process(sim, spec_path)
            assert second.outcome.status == first.outcome.status
            assert second.stats.creates == 0 and second.stats.moderations == 0
            assert sim.state.requests[requests_before:] == []  # not one API request
            assert second.lock_text == lock_text  # byte-identical


async def test_policy_failure_fails_one_job_and_the_run_goes_on(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(
        tmp_path,
        """
        version: 1
        settings: {requests_per_second: 50}
        jobs:
          - name: calm
            prompt: A calm lake at dawn
          - name: riot
            prompt: "A riot in the streets [policy-fail]"
          - name: unified-riot
            api: unified
            prompt: "Another riot [policy-fail]"
          - name: forest
            prompt: A foggy forest
        """,
    )
    with trio.fail_after(20):
        async with start_sim() as sim:
            done = await apply_in_process(sim, spec_path)
    assert done.outcome.status == {
        "calm": "succeeded",
        "riot": "failed",
        "unified-riot": "failed",
        "forest": "succeeded",
    }
    for job_id in ("riot", "unified-riot"):
        assert done.outcome.reasons[job_id] == POLICY_FAILURE
        entry = done.lock.jobs[job_id]
        assert entry.status == "failed"
        assert entry.error is not None and entry.error["message"] == POLICY_FAILURE
        assert entry.output is None
    assert not (tmp_path / "outputs" / "riot.mp4").exists()
    assert (tmp_path / "outputs" / "forest.mp4").is_file()
    # Each job was created exactly once.
    assert sorted(tasks_per_prompt(sim).values()) == [1, 1, 1, 1]


async def test_rejected_asset_blocks_dependents_without_submitting(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    bad_url = "https://cdn.example.com/reject-this/face.png"
    spec_path = write_spec(
        tmp_path,
        f"""
        version: 1
        settings: {{requests_per_second: 50}}
        assets:
          good: {{url: "https://cdn.example.com/ok/face.png", moderate: true}}
          bad: {{url: "{bad_url}", moderate: true}}
        jobs:
          - name: uses-bad
            prompt: "Use image 1 as the subject. It waves."
            media:
              - {{asset: bad, role: reference_image}}
          - name: chained
            prompt: "Continue from image 1."
            media:
              - {{from: uses-bad, role: first_frame}}
          - name: uses-good
            prompt: "Use image 1 as the subject. It smiles."
            media:
              - {{asset: good, role: reference_image}}
        """,
    )
    with trio.fail_after(20):
        async with start_sim() as sim:
            done = await apply_in_process(sim, spec_path)
            creates_after_first = sim.state.creates
            again = await apply_in_process(sim, spec_path)
            assert sim.state.creates == creates_after_first  # still blocked, still unsent

    assert done.outcome.status == {
        "uses-bad": "blocked",
        "chained": "blocked",
        "uses-good": "succeeded",
    }
    bad = done.lock.assets[bad_url]
    assert not bad.passed and bad.asset_url is None and bad.reason == REJECT_REASON
    reason = done.outcome.reasons["uses-bad"]
    assert bad_url in reason and REJECT_REASON in reason
    assert "uses-bad" in done.outcome.reasons["chained"]
    for job_id in ("uses-bad", "chained"):
        entry = done.lock.jobs[job_id]
        assert entry.status == "blocked" and entry.task_id is None
        assert entry.error is not None and entry.error["code"] == "blocked"
    # Never submitted: the simulator only ever saw the good job.
    assert list(tasks_per_prompt(sim)) == ["Use image 1 as the subject. It smiles."]
    assert again.outcome.status["uses-bad"] == "blocked"
    assert again.outcome.status["uses-good"] == "succeeded"


async def test_path_traversal_in_matrix_values_stays_inside_outputs(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    nasty = ["../../etc/x", "..", ".", "", "/abs/olute", "a/../../b", "..\\..\\win", "z" * 300]
    project = tmp_path / "project"
    project.mkdir()
    spec_path = write_spec(
        project,
        f"""
        version: 1
        settings: {{requests_per_second: 50}}
        jobs:
          - name: clip
            prompt: "A shot of {{{{ where }}}}"
            matrix:
              where: {json.dumps(nasty)}
        """,
    )
    with trio.fail_after(20):
        async with start_sim() as sim:
            done = await apply_in_process(sim, spec_path)

    assert set(done.outcome.status.values()) == {"succeeded"}
    outputs = (project / "outputs").resolve()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".mp4"]
    assert all(p.resolve().parent == outputs for p in written), written
    refs = {job_id: e.output for job_id, e in done.lock.jobs.items()}
    assert all(r is not None for r in refs.values())
    paths = [r.path for r in refs.values() if r is not None]
    for rel in paths:
        assert rel.startswith("outputs/") and ".." not in Path(rel).parts
        assert (project / rel).resolve().parent == outputs
    # Every job got a file of its own whose bytes are the ones the lockfile records.
    assert len(set(paths)) == len(nasty), sorted(paths)
    for job_id, ref in refs.items():
        assert ref is not None
        assert sha256_of(project / ref.path) == ref.sha256, job_id


async def test_no_download_then_apply_downloads_without_new_tasks(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(
        tmp_path,
        """
        version: 1
        settings: {requests_per_second: 50}
        jobs:
          - name: dusk
            prompt: A harbour at dusk
          - name: dawn
            api: unified
            prompt: A harbour at dawn
        """,
    )
    with trio.fail_after(20):
        async with start_sim() as sim:
            first = await apply_in_process(sim, spec_path, download=False)
            assert set(first.outcome.status.values()) == {"succeeded"}
            assert all(e.output is None and e.video_url for e in first.lock.jobs.values())
            assert not (tmp_path / "outputs").exists()
            assert [i.action for i in plan(first.spec.jobs, first.lock)] == ["download"] * 2
            second = await apply_in_process(sim, spec_path)
    assert second.stats.creates == 0
    assert len(sim.state.tasks) == 2
    for entry in second.lock.jobs.values():
        assert entry.output is not None
        assert entry.output.sha256 == sha256_of(tmp_path / entry.output.path)


async def test_chain_uses_the_source_last_frame_fresh_even_from_an_earlier_run(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    source_only = """
        version: 1
        settings: {requests_per_second: 50}
        jobs:
          - name: opening
            prompt: A door opens onto a garden
        """
    chained = source_only + """
          - name: follow
            prompt: "Continue from image 1 into the garden."
            media:
              - {from: opening, role: first_frame}
        """
    spec_path = write_spec(tmp_path, source_only)
    ttl = 0.4
    with trio.fail_after(20):
        async with start_sim(url_ttl=ttl) as sim:
            first = await apply_in_process(sim, spec_path)
            assert first.outcome.status == {"opening": "succeeded"}
            # Adding a dependent changes the source's request (it must return its last
            # frame), so make the source return it from the start.
            write_spec(tmp_path, chained)
            second = await apply_in_process(sim, spec_path)
            assert second.outcome.status == {"opening": "succeeded", "follow": "succeeded"}
            source = second.lock.jobs["opening"]
            assert source.last_frame is not None and source.last_frame_url
            frame_file = tmp_path / source.last_frame.path
            assert source.last_frame.path == "outputs/opening.last.png"
            assert source.last_frame.sha256 == sha256_of(frame_file)
            assert frame_file.read_bytes() == media.frame_png(source.task_id)
            follow = second.lock.jobs["follow"]
            sent = sim.state.tasks[follow.task_id].body
            frame_url = sent["content"][1]["image_url"]["url"]
            assert f"/files/frames/{source.task_id}.png" in frame_url
            assert sent["content"][1]["role"] == "first_frame"

            # A third run replaces the dependent after the source's frame URL expired:
            # the new create must carry a freshly minted URL, not the stale one.
            await trio.sleep(ttl + 0.2)
            started = time.time()
            assert _expires(frame_url) < started  # the recorded URL is stale now
            third = await apply_in_process(sim, spec_path, replace=("follow",))
            assert third.outcome.status["follow"] == "succeeded"
            renewed = sim.state.tasks[third.lock.jobs["follow"].task_id].body
            fresh_url = renewed["content"][1]["image_url"]["url"]
            assert f"/files/frames/{source.task_id}.png" in fresh_url
            assert _expires(fresh_url) > started
    assert third.stats.creates == 1  # only the replaced job


def _expires(url: str) -> float:
    return float(parse_qs(urlsplit(url).query)["expires"][0])


async def test_detach_submits_and_a_later_apply_collects(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(
        tmp_path,
        """
        version: 1
        settings: {requests_per_second: 50}
        jobs:
          - name: wave
            prompt: A wave breaks on a reef
            matrix:
              ratio: ["16:9", "9:16"]
          - name: gull
            api: unified
            prompt: A gull hangs in the wind
        """,
    )
    with trio.fail_after(20):
        async with start_sim(task_seconds=(0.4, 0.6)) as sim:
            submitted = await apply_in_process(sim, spec_path, detach=True)
            assert len(sim.state.tasks) == 3
            for entry in submitted.lock.jobs.values():
                assert entry.status in ("queued", "running") and entry.task_id in sim.state.tasks
            assert not (tmp_path / "outputs").exists()
            collected = await apply_in_process(sim, spec_path)
    assert collected.stats.creates == 0 and len(sim.state.tasks) == 3
    assert set(collected.outcome.status.values()) == {"succeeded"}
    for job_id, entry in collected.lock.jobs.items():
        assert entry.task_id == submitted.lock.jobs[job_id].task_id
        assert entry.output is not None
        assert entry.output.sha256 == sha256_of(tmp_path / entry.output.path)


async def test_unwritable_outputs_fail_the_download_not_the_run(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    spec_path = write_spec(
        tmp_path,
        """
        version: 1
        settings: {requests_per_second: 50}
        jobs:
          - name: one
            prompt: A kite over dunes
          - name: two
            prompt: A kite over snow
        """,
    )
    (tmp_path / "outputs").write_text("a file where the folder should be")
    with trio.fail_after(20):
        async with start_sim() as sim:
            blocked = await apply_in_process(sim, spec_path)
            assert blocked.outcome.status == {"one": "succeeded", "two": "succeeded"}
            assert sorted(blocked.outcome.undone) == ["one", "two"]
            assert "download failed" in blocked.outcome.reasons["one"]
            assert all(e.output is None for e in blocked.lock.jobs.values())
            assert [i.action for i in plan(blocked.spec.jobs, blocked.lock)] == ["download"] * 2
            (tmp_path / "outputs").unlink()
            fixed = await apply_in_process(sim, spec_path)
    assert fixed.stats.creates == 0 and fixed.outcome.undone == []
    for entry in fixed.lock.jobs.values():
        assert entry.output is not None
        assert entry.output.sha256 == sha256_of(tmp_path / entry.output.path)
