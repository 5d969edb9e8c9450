"""Videos and last frames kept in a bucket (outputs.dir: s3://...), against moto's
real S3 server: recorded with their sha256, not sent twice, verified by status."""

from __future__ import annotations

import hashlib
from pathlib import Path

import trio
from conftest import SimStarter, cli_env, run_cli
from s3server import S3
from test_uploads import apply_files

from seedrun.lockfile import dumps, loads

CHAIN = """\
version: 1
jobs:
  - name: shot1
    prompt: "A lighthouse at dusk."
  - name: shot2
    prompt: "Continue from image 1."
    media: [{from: shot1, role: first_frame}]
outputs:
  dir: s3://%s/campaign/videos
settings:
  uploads: {url: "s3://%s/campaign/uploads", endpoint_url: "%s"}
"""


def write(tmp_path: Path, s3: S3) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(CHAIN % (s3.bucket, s3.bucket, s3.endpoint))
    return spec


def body_of(s3: S3, key: str) -> bytes:
    got = s3.client().get_object(Bucket=s3.bucket, Key=key)  # type: ignore[attr-defined]
    data: bytes = got["Body"].read()
    return data


async def test_videos_and_last_frames_go_to_the_bucket(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    spec = write(tmp_path, s3)
    with trio.fail_after(40):
        async with start_sim() as sim:
            outcome, runner = await apply_files(sim, spec)
    assert outcome.status == {"shot1": "succeeded", "shot2": "succeeded"}
    assert s3.object_keys() == [
        "campaign/videos/shot1.last.png",
        "campaign/videos/shot1.mp4",
        "campaign/videos/shot2.mp4",
    ]
    for jid in ("shot1", "shot2"):
        ref = runner.lock.jobs[jid].output
        assert ref is not None
        assert ref.path == f"s3://{s3.bucket}/campaign/videos/{jid}.mp4"
        data = body_of(s3, f"campaign/videos/{jid}.mp4")
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (ref.sha256, ref.bytes)
    frame = runner.lock.jobs["shot1"].last_frame
    assert frame is not None and frame.path.endswith("/campaign/videos/shot1.last.png")
    assert not (tmp_path / "s3:").exists()
    assert runner.bucket is not None and runner.bucket.uploaded == 3


async def test_an_object_already_in_the_bucket_is_not_sent_again(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    spec = write(tmp_path, s3)
    lock_path = spec.with_suffix(".lock")
    with trio.fail_after(60):
        async with start_sim() as sim:
            await apply_files(sim, spec)
            # A run that stopped after its upload, before recording it.
            lock = loads(lock_path.read_text(), str(lock_path))
            entry = lock.jobs["shot2"]
            lock_path.write_text(dumps(lock.with_job("shot2", entry.with_(output=None))))
            outcome, runner = await apply_files(sim, spec)
    assert outcome.status == {"shot1": "succeeded", "shot2": "succeeded"}
    assert runner.bucket is not None
    assert (runner.bucket.uploaded, runner.bucket.skipped) == (0, 1)
    assert runner.lock.jobs["shot2"].output == entry.output


async def test_status_verify_checks_the_bucket(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    spec = write(tmp_path, s3)
    env = {**cli_env(), **s3.env()}
    with trio.fail_after(60):
        async with start_sim() as sim:
            await apply_files(sim, spec)
        ran = await run_cli("status", "spec.yaml", "--verify", env=env, cwd=tmp_path)
        assert ran.code == 0, ran.output
        assert "verify: 3 files match the lockfile" in ran.stdout
        s3.client().put_object(Bucket=s3.bucket, Key="campaign/videos/shot2.mp4", Body=b"x")  # type: ignore[attr-defined]
        s3.client().delete_object(Bucket=s3.bucket, Key="campaign/videos/shot1.last.png")  # type: ignore[attr-defined]
        ran = await run_cli("status", "spec.yaml", "--verify", env=env, cwd=tmp_path)
    assert ran.code == 1
    assert f"  shot1  s3://{s3.bucket}/campaign/videos/shot1.last.png" in ran.stdout
    assert "MISMATCH shot2  s3://" in ran.stdout
    assert "campaign/videos/shot2.mp4: 1 bytes, lockfile says" in ran.stdout


async def test_a_replaced_video_never_overwrites_the_paid_one(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    spec = write(tmp_path, s3)
    paid = b"an earlier paid video"
    with trio.fail_after(60):
        async with start_sim() as sim:
            await apply_files(sim, spec)
            # The object under the job's name holds other paid bytes (the simulator has
            # few distinct videos, so make sure the replacement's bytes differ).
            s3.client().put_object(  # type: ignore[attr-defined]
                Bucket=s3.bucket,
                Key="campaign/videos/shot2.mp4",
                Body=paid,
                Metadata={"sha256": hashlib.sha256(paid).hexdigest()},
            )
            spec.write_text(spec.read_text().replace("Continue from", "Go on from"))
            outcome, second = await apply_files(sim, spec)
    assert outcome.status == {"shot1": "succeeded", "shot2": "succeeded"}
    new = second.lock.jobs["shot2"]
    assert new.output is not None and new.task_id
    assert new.output.path == f"s3://{s3.bucket}/campaign/videos/shot2.{new.task_id}.mp4"
    assert body_of(s3, "campaign/videos/shot2.mp4") == paid  # never written over
    data = body_of(s3, f"campaign/videos/shot2.{new.task_id}.mp4")
    assert hashlib.sha256(data).hexdigest() == new.output.sha256
