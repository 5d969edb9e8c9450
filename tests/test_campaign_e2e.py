"""End to end, through the CLI: the catalog example (3 products from a CSV x 2 ratios,
local images, a moderated flagship shot) runs validate, plan and apply --sim with
uploads to a real S3 API (moto) and videos kept in a bucket; editing one image then
replaces exactly the jobs that use it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import trio
from conftest import cli_env, run_cli
from PIL import Image
from s3server import FAKE_KEY_ID, FAKE_SECRET, S3

from seedrun.lockfile import loads

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "catalog"

SHOWCASE = [
    f"showcase[ratio={r},sku={s}]" for s in ("B-100", "L-200", "M-300") for r in ("16:9", "9:16")
]


def campaign(tmp_path: Path, s3: S3) -> Path:
    folder = tmp_path / "campaign"
    shutil.copytree(EXAMPLE, folder)
    spec = folder / "campaign.yaml"
    text = spec.read_text().replace("s3://my-campaign-bucket/", f"s3://{s3.bucket}/")
    text = text.replace(
        "    # For R2, TOS, MinIO or GCS interop, name the endpoint:\n",
        f"    endpoint_url: {s3.endpoint}\n",
    )
    spec.write_text(text)
    return spec


def env(s3: S3) -> dict[str, str]:
    return {**cli_env(), **s3.env()}


def job_lines(plan_output: str) -> dict[str, str]:
    out = {}
    for line in plan_output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1].startswith(("showcase", "brand-sting")):
            out[parts[1]] = line
    return out


async def test_catalog_campaign_end_to_end(tmp_path: Path, s3: S3) -> None:
    spec = campaign(tmp_path, s3)
    folder = spec.parent
    lock = folder / "campaign.lock"
    e = env(s3)
    with trio.fail_after(150):
        ran = await run_cli("validate", spec.name, env=e, cwd=folder)
        assert (ran.code, ran.stdout) == (0, "campaign.yaml: valid, 7 jobs\n")
        ran = await run_cli("plan", spec.name, env=e, cwd=folder)
        assert ran.code == 0, ran.output
        assert sorted(job_lines(ran.stdout)) == sorted([*SHOWCASE, "brand-sting"])
        assert "7 create" in ran.stdout

        ran = await run_cli(
            "apply",
            spec.name,
            "--sim",
            "--sim-task-seconds",
            "0.2,0.4",
            "--quiet",
            env=e,
            cwd=folder,
        )
        assert ran.code == 0, ran.output
        first = loads(lock.read_text(), str(lock))
        assert all(first.jobs[j].status == "succeeded" for j in [*SHOWCASE, "brand-sting"])
        keys = s3.object_keys()
        assert len([k for k in keys if k.startswith("seedrun/uploads/")]) == 3
        videos = sorted(k for k in keys if k.startswith("seedrun/videos/"))
        assert len(videos) == 7
        for jid, entry in first.jobs.items():
            assert entry.output is not None
            assert entry.output.path.startswith(f"s3://{s3.bucket}/seedrun/videos/"), jid
        assert not (folder / "s3:").exists()
        report = (folder / "campaign.report.html").read_text()
        assert f"/{s3.bucket}/seedrun/videos/" in report

        ran = await run_cli("status", spec.name, "--verify", env=e, cwd=folder)
        assert ran.code == 0, ran.output
        assert "verify: 7 files match the lockfile" in ran.stdout

        # Renaming a shot replaces nothing.
        (folder / "img" / "mug.png").rename(folder / "img" / "mug-shot.png")
        csv = folder / "products.csv"
        csv.write_text(csv.read_text().replace("img/mug.png", "img/mug-shot.png"))
        ran = await run_cli("plan", spec.name, env=e, cwd=folder)
        assert "7 unchanged" in ran.stdout, ran.output

        # Editing the bottle shot replaces exactly the jobs that use it.
        Image.new("RGB", (600, 800), "purple").save(folder / "img" / "bottle.png")
        ran = await run_cli("plan", spec.name, env=e, cwd=folder)
        lines = job_lines(ran.stdout)
        changed = sorted(j for j, line in lines.items() if line.startswith("replace"))
        assert changed == ["brand-sting", *SHOWCASE[:2]]
        assert "(image img/bottle.png changed (" in lines["showcase[ratio=16:9,sku=B-100]"]
        assert "(image img/bottle.png changed (" in lines["brand-sting"]

        ran = await run_cli(
            "apply",
            spec.name,
            "--sim",
            "--sim-task-seconds",
            "0.2,0.4",
            "--quiet",
            env=e,
            cwd=folder,
        )
        assert ran.code == 0, ran.output
        second = loads(lock.read_text(), str(lock))
        new_task = sorted(j for j in second.jobs if second.jobs[j].task_id != first.jobs[j].task_id)
        assert new_task == ["brand-sting", *SHOWCASE[:2]]
        assert len([k for k in s3.object_keys() if k.startswith("seedrun/uploads/")]) == 4
        assert len(second.assets) == 2  # the old and the new bottle, each moderated once

        # Nothing holds a credential or a presigned signature.
        for text in (lock.read_text(), ran.output, (folder / "campaign.report.html").read_text()):
            assert FAKE_SECRET not in text
        for text in (lock.read_text(), ran.output):
            assert FAKE_KEY_ID not in text and "X-Amz-Signature" not in text
        assert json.dumps(second.jobs["brand-sting"].request).count("asset://") == 1


async def test_bad_input_through_the_cli(tmp_path: Path, s3: S3) -> None:
    spec = campaign(tmp_path, s3)
    folder = spec.parent
    e = env(s3)
    csv = folder / "products.csv"
    good_csv = csv.read_text()
    with trio.fail_after(90):
        # A missing image, named by the catalog row that names it.
        csv.write_text(good_csv.replace("img/lamp.png", "img/lamp-final.png"))
        ran = await run_cli("validate", spec.name, env=e, cwd=folder)
        assert ran.code == 2 and "Traceback" not in ran.output
        assert ran.stderr.splitlines() == [
            "campaign.yaml:21:15: jobs[0].media[0].file: job showcase[ratio=16:9,sku=L-200] "
            "(products.csv:3): img/lamp-final.png: file not found",
            "seedrun: 1 error in spec",
        ]
        # A row missing a column.
        csv.write_text(good_csv + "X-1,Mystery\n")
        ran = await run_cli("plan", spec.name, env=e, cwd=folder)
        assert ran.code == 2
        assert ran.stderr.splitlines()[0] == (
            "campaign.yaml:24:13: jobs[0].matrix.rows: products.csv:5: row has 2 cells and the "
            "header 4 (sku, name, image, look): no image, look cells"
        )
        csv.write_text(good_csv)
        # A bucket that refuses the credentials: exit 2, nothing created or recorded.
        with s3.refusing_credentials():
            ran = await run_cli("apply", spec.name, "--sim", "--quiet", env=e, cwd=folder)
        assert ran.code == 2, ran.output
        assert "Traceback" not in ran.output
        assert (
            f"stopped: s3://{s3.bucket}/seedrun/uploads: access to the bucket refused: 403 "
            "(Forbidden); check the AWS credentials in the environment" in ran.stderr
        )
        lock = loads((folder / "campaign.lock").read_text(), "campaign.lock")
        assert lock.jobs == {}
        assert s3.object_keys() == []
