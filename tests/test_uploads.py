"""Local images uploaded to a real S3 API (moto's server) before moderation, and the
simulator's moderation fetching them as the real service does."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import CANARY_KEY, POLL_FLOOR, SimStarter, cli_env, sent_bodies
from PIL import Image
from s3server import FAKE_KEY_ID, FAKE_SECRET, S3, expiring_proxy

from seedrun.bucket_outputs import bucket_outputs_for
from seedrun.client import SeedanceClient
from seedrun.errors import StorageError
from seedrun.files import read_spec
from seedrun.localfiles import sha256_of
from seedrun.outputfiles import outputs_dir
from seedrun.runner import Outcome, Reporter, Runner, RunOptions
from seedrun.sim import SimHandle
from seedrun.storage import S3Storage
from seedrun.store import Journal, journal_path, recover, write_lock
from seedrun.uploads import Uploader, uploader_for


def image(path: Path, size: tuple[int, int] = (600, 800), color: str = "red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="PNG")
    return path


class Notes(Reporter):
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.events: list[tuple[str, str, str]] = []

    def job(self, job_id: str, status: str, detail: str = "") -> None:
        self.events.append((job_id, status, detail))

    def note(self, message: str) -> None:
        self.notes.append(message)


async def apply_files(
    sim: SimHandle, spec_path: Path, *, uploads: Uploader | None = None, **options: Any
) -> tuple[Outcome, Runner]:
    """apply, in process, with the uploads and bucket outputs apply builds."""
    spec = read_spec(spec_path)
    lock_path = spec_path.with_suffix(".lock")
    lock = recover(lock_path)  # before the journal opens: recovery folds and removes it
    journal = Journal(journal_path(lock_path))
    async with SeedanceClient(
        base_url=sim.base_url, api_key=sim.api_key, backoff_base=0.05
    ) as client:
        runner = Runner(
            spec,
            list(spec.jobs),
            lock,
            lock_dir=lock_path.parent.resolve(),
            outputs_dir=outputs_dir(spec.outputs_dir, spec_path),
            client=client,
            journal=journal,
            options=RunOptions(**{"poll_floor": POLL_FLOOR, **options}),
            reporter=Notes(),
            uploads=uploads or uploader_for(spec),
            bucket=bucket_outputs_for(spec),
        )
        try:
            outcome = await runner.run()
        finally:
            journal.close()
            write_lock(lock_path, runner.lock)
            journal_path(lock_path).unlink(missing_ok=True)
    text = lock_path.read_text()
    # No credential, presigned signature or API key reaches the lockfile.
    for secret in (FAKE_KEY_ID, FAKE_SECRET, "X-Amz-Signature", "X-Amz-Credential", CANARY_KEY):
        assert secret not in text
    return outcome, runner


TWO_NAMES = """\
version: 1
assets:
  front: {file: img/front.png, moderate: true}
  same: {file: img/copy-of-front.png, moderate: true}
jobs:
  - name: a
    prompt: "Rotate image 1."
    media: [{asset: front}]
  - name: b
    prompt: "Zoom on image 1."
    media: [{asset: same}]
  - name: c
    prompt: "Image 1 as the first frame."
    media: [{file: img/back.png, role: first_frame}]
"""


async def test_uploads_before_moderation_once_per_content(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    front = image(tmp_path / "img" / "front.png")
    (tmp_path / "img" / "copy-of-front.png").write_bytes(front.read_bytes())
    back = image(tmp_path / "img" / "back.png", color="blue")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(TWO_NAMES + s3.uploads_yaml())
    with trio.fail_after(30):
        async with start_sim(fetch_images=True) as sim:
            outcome, runner = await apply_files(sim, spec_path, download=False)
            bodies = sent_bodies(sim)
            moderations = sim.state.moderations
    assert outcome.status == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}, outcome.reasons
    assert s3.object_keys() == sorted(
        [f"uploads/{sha256_of(front)}.png", f"uploads/{sha256_of(back)}.png"]
    )
    assert moderations == 1  # the same image under two names is moderated once
    front_ref = f"seedrun://file/{sha256_of(front)}.png"
    assert list(runner.lock.assets) == [front_ref]
    urls = {b["content"][0]["text"]: b["content"][1]["image_url"]["url"] for b in bodies}
    approved = runner.lock.assets[front_ref].asset_url
    assert urls["Rotate image 1."] == urls["Zoom on image 1."] == approved
    assert (
        f"/{s3.bucket}/uploads/{sha256_of(back)}.png?X-Amz-" in urls["Image 1 as the first frame."]
    )
    # The lock keeps the stand-in, not the presigned URL.
    recorded = runner.lock.jobs["c"].request
    assert recorded is not None
    assert recorded["content"][1]["image_url"]["url"] == f"seedrun://file/{sha256_of(back)}.png"


async def test_an_object_already_there_is_not_sent_again(tmp_path: Path, s3: S3) -> None:
    img = image(tmp_path / "a.png")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        'version: 1\njobs:\n  - name: j\n    prompt: "Use image 1."\n'
        "    media: [{file: a.png}]\n" + s3.uploads_yaml(prefix="p/q")
    )
    spec = read_spec(spec_path)
    assert spec.settings.uploads is not None
    ref = f"seedrun://file/{sha256_of(img)}.png"
    with trio.fail_after(20):
        first = Uploader(S3Storage(spec.settings.uploads), spec.files)
        url = await first.url(ref)
        assert await first.url(ref) == url
        again = Uploader(S3Storage(spec.settings.uploads), spec.files)
        await again.url(ref)
    assert (first.uploaded, again.uploaded, again.reused) == (1, 0, 1)
    assert again.summary() == f"uploads to s3://{s3.bucket}/p/q: 0 image(s) sent, 1 already there"
    assert s3.object_keys() == [f"p/q/{sha256_of(img)}.png"]
    got = s3.client().get_object(Bucket=s3.bucket, Key=f"p/q/{sha256_of(img)}.png")  # type: ignore[attr-defined]
    body = got["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha256_of(img)
    assert got["Metadata"] == {"sha256": sha256_of(img)}
    assert got["ContentType"] == "image/png"


async def test_a_bucket_that_is_not_public_fails_moderation_naming_the_asset(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    img = image(tmp_path / "img" / "front.png")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        "version: 1\nassets:\n  front: {file: img/front.png, moderate: true}\n"
        'jobs:\n  - name: a\n    prompt: "Rotate image 1."\n    media: [{asset: front}]\n'
        + s3.uploads_yaml(public_base_url=f"{s3.endpoint}/{s3.bucket}")
    )
    with trio.fail_after(30):
        async with start_sim(fetch_images=True) as sim:
            outcome, runner = await apply_files(sim, spec_path, download=False)
            created = len(sent_bodies(sim))
    # The URL handed out is named by its file in every message.
    assert outcome.reasons == {
        "a": "asset img/front.png could not be moderated (moderation rejected (HTTP 400): "
        "image 1: the image at img/front.png could not be fetched: HTTP 403 (an expired "
        "presigned URL, or a bucket that is not public)); run again"
    }
    assert s3.object_keys() == [f"uploads/{sha256_of(img)}.png"]
    assert created == 0
    assert runner.lock.assets == {}  # not a verdict: a later run moderates again


async def test_a_bucket_that_refuses_the_credentials_stops_before_anything_is_paid(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    image(tmp_path / "a.png")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        'version: 1\njobs:\n  - name: j\n    prompt: "Use image 1."\n'
        "    media: [{file: a.png}]\n"
        '  - name: k\n    prompt: "A city at dawn."\n' + s3.uploads_yaml()
    )
    with trio.fail_after(30), s3.refusing_credentials():
        async with start_sim() as sim:
            outcome, runner = await apply_files(sim, spec_path, download=False)
            created = len(sent_bodies(sim))
    assert outcome.fatal == (
        f"s3://{s3.bucket}/uploads: access to the bucket refused: 403 (Forbidden); check the "
        "AWS credentials in the environment (AWS_PROFILE, AWS_ACCESS_KEY_ID)"
    )
    assert created == 0
    assert runner.lock.jobs == {}


async def _cutting_proxy(upstream: str, task_status: Any) -> None:
    """Forwards to ``upstream``; an object PUT is cut off after its first 100 body bytes."""
    host, port = upstream.removeprefix("http://").split(":")

    async def pipe(src: trio.SocketStream, dst: trio.SocketStream, cut: bool) -> None:
        seen = b""
        sent_body = -1
        try:
            while data := await src.receive_some(65536):
                if cut:
                    seen += data
                    if sent_body < 0 and b"\r\n\r\n" in seen:
                        head, _, _ = seen.partition(b"\r\n\r\n")
                        if head.startswith(b"PUT ") and head.split(b" ")[1].count(b"/") >= 2:
                            sent_body = 0
                    if sent_body >= 0:
                        head_len = seen.index(b"\r\n\r\n") + 4
                        allowed = head_len + 100
                        already = len(seen) - len(data)
                        await dst.send_all(data[: max(0, allowed - already)])
                        await src.aclose()
                        await dst.aclose()
                        return
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            with trio.CancelScope(shield=True):
                await dst.aclose()

    async def handle(client: trio.SocketStream) -> None:
        server = await trio.open_tcp_stream(host, int(port))
        async with trio.open_nursery() as n:
            n.start_soon(pipe, client, server, True)
            n.start_soon(pipe, server, client, False)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


async def test_an_upload_cut_off_halfway_creates_nothing_and_leaves_no_object(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    img = image(tmp_path / "a.png", (900, 900))
    spec_path = tmp_path / "spec.yaml"
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(_cutting_proxy, s3.endpoint)
            spec_path.write_text(
                'version: 1\njobs:\n  - name: j\n    prompt: "Use image 1."\n'
                "    media: [{file: a.png}]\n"
                + s3.uploads_yaml().replace(s3.endpoint, f"http://127.0.0.1:{port}")
            )
            async with start_sim() as sim:
                outcome, runner = await apply_files(sim, spec_path, download=False)
                created = len(sent_bodies(sim))
            nursery.cancel_scope.cancel()
    assert outcome.status == {"j": "pending"}
    assert outcome.reasons == {
        "j": f"a.png: s3://{s3.bucket}/uploads/{sha256_of(img)}.png: upload failed: the "
        "connection closed before the store answered, after retries; nothing was created, "
        "run apply again"
    }
    assert created == 0
    assert runner.lock.jobs == {}
    assert s3.object_keys() == []  # no short object behind a good name


async def test_a_presigned_url_is_signed_again_late_in_a_long_run(tmp_path: Path, s3: S3) -> None:
    img = image(tmp_path / "a.png")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        'version: 1\njobs:\n  - name: j\n    prompt: "Use image 1."\n'
        "    media: [{file: a.png}]\n" + s3.uploads_yaml()
    )
    spec = read_spec(spec_path)
    assert spec.settings.uploads is not None
    now = [0.0]  # a plain counter, not trio's clock: real sockets are in use
    uploads = Uploader(
        S3Storage(spec.settings.uploads), spec.files, fresh_for=100.0, clock=lambda: now[0]
    )
    ref = f"seedrun://file/{sha256_of(img)}.png"
    with trio.fail_after(20):
        first = await uploads.url(ref)
        now[0] = 99.0
        assert await uploads.url(ref) == first
        now[0] = 101.0
        await trio.sleep(1.1)  # SigV4 dates have one-second steps
        late = await uploads.url(ref)
    assert late != first and uploads.uploaded == 1
    # Both stay redacted in what the lockfile records.
    assert uploads.redact({"a": [first, late]}) == {"a": [ref, ref]}


async def test_an_expired_presigned_url_fails_moderation_naming_the_asset(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    """The presigned URL outlives its 1 s lifetime before the service fetches it
    (the simulator answers after 2 s); S3 then refuses it, as the proxy plays."""
    image(tmp_path / "img" / "front.png")
    spec_path = tmp_path / "spec.yaml"
    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            endpoint = await nursery.start(expiring_proxy, s3.endpoint)
            spec_path.write_text(
                "version: 1\nassets:\n  front: {file: img/front.png, moderate: true}\n"
                'jobs:\n  - name: a\n    prompt: "Rotate image 1."\n    media: [{asset: front}]\n'
                + s3.uploads_yaml().replace(s3.endpoint, endpoint)
            )
            spec = read_spec(spec_path)
            assert spec.settings.uploads is not None
            short = replace(spec.settings.uploads, presign_seconds=1)
            async with start_sim(fetch_images=True, latency=2.0) as sim:
                outcome, runner = await apply_files(
                    sim, spec_path, download=False, uploads=Uploader(S3Storage(short), spec.files)
                )
                created = len(sent_bodies(sim))
            nursery.cancel_scope.cancel()
    assert outcome.reasons == {
        "a": "asset img/front.png could not be moderated (moderation rejected (HTTP 400): "
        "image 1: the image at img/front.png could not be fetched: HTTP 403 (an expired "
        "presigned URL, or a bucket that is not public)); run again"
    }
    assert created == 0 and runner.lock.assets == {}


async def test_a_file_edited_after_the_spec_was_read_is_not_uploaded(
    tmp_path: Path, s3: S3
) -> None:
    img = image(tmp_path / "a.png")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        'version: 1\njobs:\n  - name: j\n    prompt: "Use image 1."\n'
        "    media: [{file: a.png}]\n" + s3.uploads_yaml()
    )
    spec = read_spec(spec_path)
    assert spec.settings.uploads is not None
    ref = f"seedrun://file/{sha256_of(img)}.png"
    image(img, color="green")  # same size on disk is not the point: the bytes differ
    uploads = Uploader(S3Storage(spec.settings.uploads), spec.files)
    with trio.fail_after(20), pytest.raises(StorageError) as info:
        await uploads.url(ref)
    assert info.value.message == "a.png changed since the spec was read; run apply again"
    assert s3.object_keys() == []


async def test_the_unified_flavour_gets_uploaded_urls_too(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    front = image(tmp_path / "front.png")
    back = image(tmp_path / "back.png", color="navy")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        "version: 1\nassets:\n  front: {file: front.png, moderate: true}\n"
        "jobs:\n  - name: plain\n    api: unified\n"
        '    prompt: "Image 1 turns."\n    media: [{file: back.png}]\n'
        "  - name: roles\n    api: unified\n"
        '    prompt: "From image 1 to image 2."\n'
        "    media: [{asset: front, role: first_frame}, {file: back.png, role: last_frame}]\n"
        + s3.uploads_yaml()
    )
    with trio.fail_after(30):
        async with start_sim(fetch_images=True) as sim:
            outcome, runner = await apply_files(sim, spec_path, download=False)
            bodies = {b["prompt"]: b for b in sent_bodies(sim)}
    assert outcome.status == {"plain": "succeeded", "roles": "succeeded"}, outcome.reasons
    back_key = f"/{s3.bucket}/uploads/{sha256_of(back)}.png?X-Amz-"
    assert back_key in bodies["Image 1 turns."]["images"][0]
    content = bodies["From image 1 to image 2."]["metadata"]["content"]
    approved = runner.lock.assets[f"seedrun://file/{sha256_of(front)}.png"].asset_url
    assert content[0]["image_url"]["url"] == approved
    assert back_key in content[1]["image_url"]["url"]


def test_a_spec_names_only_an_https_or_loopback_storage_endpoint(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        'version: 1\njobs:\n  - name: j\n    prompt: "Use image 1."\n'
        "    media: [{file: a.png}]\n"
        'settings:\n  uploads: {url: "s3://bkt/p", endpoint_url: "http://storage.example.com"}\n'
    )
    ran = subprocess.run(
        [sys.executable, "-m", "seedrun", "validate", "spec.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=cli_env(),
        check=False,
    )
    assert ran.returncode == 2
    assert ran.stderr.strip() == (
        "seedrun: settings.uploads.endpoint_url 'http://storage.example.com': a spec may only "
        "name an https:// storage host (or http:// on loopback: 127.0.0.0/8, ::1 or localhost)"
    )


async def test_a_media_item_file_can_be_moderated(
    tmp_path: Path, s3: S3, start_sim: SimStarter
) -> None:
    shot = image(tmp_path / "shot.png")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        'version: 1\njobs:\n  - name: j\n    prompt: "Image 1 turns."\n'
        "    media: [{file: shot.png, moderate: true, role: reference_image}]\n" + s3.uploads_yaml()
    )
    with trio.fail_after(30):
        async with start_sim(fetch_images=True) as sim:
            outcome, runner = await apply_files(sim, spec_path, download=False)
            (body,) = sent_bodies(sim)
    assert outcome.status == {"j": "succeeded"}, outcome.reasons
    entry = runner.lock.assets[f"seedrun://file/{sha256_of(shot)}.png"]
    assert entry.passed and entry.asset_url
    assert body["content"][1]["image_url"]["url"] == entry.asset_url
