"""Builders for the report tests: jobs and specs made directly, and the browser campaign."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedrun.spec import Job, Spec


def make_job(
    job_id: str,
    *,
    name: str | None = None,
    kind: str = "video",
    prompt: str = "A cubic city at sunrise",
    params: dict[str, Any] | None = None,
    matrix: tuple[tuple[str, Any], ...] = (),
    key: str | None = None,
    deps: tuple[str, ...] = (),
) -> Job:
    return Job(
        id=job_id,
        name=name or job_id,
        index=0,
        kind=kind,
        api="official",
        body={},
        key=key or f"key-{job_id}",
        prompt=prompt,
        params=params if params is not None else {"duration": 5},
        matrix=matrix,
        deps=deps,
    )


def make_spec(*jobs: Job, path: str = "campaigns/launch.yaml") -> Spec:
    return Spec(path=path, jobs=tuple(jobs))


# Every kind of card: a 2x2 matrix, a promoted draft beside its final, a
# failed job, a job blocked by moderation, and a chain whose source has a
# last frame (the poster). The simulator fails prompts with [policy-fail]
# and rejects asset URLs containing "reject".
CAMPAIGN = """\
version: 1
defaults:
  model: doubao-seedance-2.0
  duration: 5
  ratio: "16:9"
  watermark: false
vars:
  brand: Lumen
assets:
  bottle: {url: https://cdn.example.com/catalog/bottle.png, moderate: true}
  banned: {url: https://cdn.example.com/catalog/reject-me.png, moderate: true}
jobs:
  - name: spin
    prompt: "The {{ brand }} bottle turns on a {{ backdrop }} backdrop. <script>alert(1)</script>"
    media: [{asset: bottle, role: reference_image}]
    matrix:
      backdrop: [marble, moss]
      ratio: ["16:9", "9:16"]
  - name: look
    prompt: "A {{ look }} look test"
    draft: true
    matrix: {look: [warm, cold]}
  - name: oops
    prompt: "This one breaks the rules [policy-fail]"
  - name: banned
    prompt: "Uses a rejected asset"
    media: [{asset: banned, role: reference_image}]
  - name: shot1
    prompt: "Opening shot of a harbour"
  - name: shot2
    prompt: "The boat sails out"
    media: [{from: shot1, frame: last, role: first_frame}]
promote: ["look[look=warm]"]
"""


@dataclass(frozen=True)
class Campaign:
    """A campaign applied with the simulator and its report (see conftest.py)."""

    folder: Path
    spec: Path
    lock: Path
    report: Path
