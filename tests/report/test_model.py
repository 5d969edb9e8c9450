from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from seedrun.lockfile import FileRef, Lock, LockEntry
from seedrun.report.model import Card, Group, Panel, Report, build, href, show

from .helpers import make_job, make_spec

LOCK_DIR = PurePosixPath("/work/campaigns")
SPIN_PROMPT = "The bottle turns on a marble <b>backdrop</b>"


def _ref(path: str) -> FileRef:
    return FileRef(path=path, sha256="0" * 64, bytes=100)


def test_whole_report() -> None:
    spin_a = make_job(
        "spin[backdrop=marble,ratio=16:9]",
        name="spin",
        prompt=SPIN_PROMPT,
        params={"ratio": "16:9", "camera_fixed": True, "duration": 5},
        matrix=(("backdrop", "marble"), ("ratio", "16:9")),
    )
    spin_b = make_job(
        "spin[backdrop=moss,ratio=16:9]",
        name="spin",
        prompt="moss",
        params={},
        matrix=(("backdrop", "moss"), ("ratio", "16:9")),
    )
    draft = make_job("look[look=warm]", name="look", kind="draft", matrix=(("look", "warm"),))
    final = make_job(
        "look[look=warm]#final",
        name="look",
        kind="final",
        matrix=(("look", "warm"),),
        deps=("look[look=warm]",),
    )
    oops = make_job("oops", params={})
    banned = make_job("banned", params={})
    later = make_job("later", params={"seed": 7})
    spec = make_spec(spin_a, spin_b, draft, final, oops, banned, later)
    lock = Lock(
        jobs={
            spin_a.id: LockEntry(
                key=spin_a.key,
                status="succeeded",
                task_id="task_1",
                video_url="https://files.example.com/1.mp4",
                output=_ref("outputs/spin__backdrop=marble,ratio=16_9.mp4"),
                last_frame_url="https://files.example.com/1.png",
                last_frame=_ref("outputs/spin.last.png"),
                seed=42,
                usage={"completion_tokens": 100, "total_tokens": 100},
                revised_prompt="revised",
            ),
            # recorded for an older version of the job: shown, marked stale
            spin_b.id: LockEntry(
                key="old-key",
                status="succeeded",
                video_url="https://files.example.com/2.mp4",
                output=_ref("outputs/gone.mp4"),  # not on disk: the remote URL is used
            ),
            draft.id: LockEntry(
                key=draft.key,
                status="succeeded",
                kind="draft",
                output=_ref("outputs/look #1.mp4"),
                usage={"total_tokens": 20},
            ),
            final.id: LockEntry(
                key=final.key,
                status="failed",
                kind="final",
                error={"code": "task_failed", "message": "policy"},
            ),
            oops.id: LockEntry(
                key=oops.key,
                status="failed",
                task_id="task_9",
                error={"code": "task_failed", "message": "The request failed."},
            ),
            banned.id: LockEntry(
                key=banned.key,
                status="blocked",
                error={"code": "blocked", "message": "asset x failed moderation: nope"},
            ),
            "removed": LockEntry(
                key="k",
                status="succeeded",
                request={"content": [{"type": "text", "text": "an old prompt"}]},
                output=_ref("outputs/removed.mp4"),
            ),
        }
    )
    available = {
        "outputs/spin__backdrop=marble,ratio=16_9.mp4",
        "outputs/spin.last.png",
        "outputs/look #1.mp4",
        "outputs/removed.mp4",
    }

    report = build(
        spec,
        lock,
        lock_dir=LOCK_DIR,
        report_dir=PurePosixPath("/work/site"),
        available=available,
        lock_path="campaigns/launch.lock",
    )

    assert report == Report(
        title="launch.yaml",
        spec_path="campaigns/launch.yaml",
        lock_path="campaigns/launch.lock",
        groups=(
            Group(
                name="spin",
                axes=("backdrop", "ratio"),
                values=(("backdrop", ("marble", "moss")), ("ratio", ("16:9",))),
                cards=(
                    Card(
                        id="spin[backdrop=marble,ratio=16:9]",
                        name="spin",
                        axes=(("backdrop", "marble"), ("ratio", "16:9")),
                        prompt=SPIN_PROMPT,
                        params=(("ratio", "16:9"), ("camera_fixed", "true"), ("duration", "5")),
                        main=Panel(
                            id="spin[backdrop=marble,ratio=16:9]",
                            kind="video",
                            status="succeeded",
                            video="../campaigns/outputs/spin__backdrop=marble,ratio=16_9.mp4",
                            poster="../campaigns/outputs/spin.last.png",
                            task_id="task_1",
                            seed=42,
                            tokens=100,
                            revised_prompt="revised",
                        ),
                    ),
                    Card(
                        id="spin[backdrop=moss,ratio=16:9]",
                        name="spin",
                        axes=(("backdrop", "moss"), ("ratio", "16:9")),
                        prompt="moss",
                        params=(),
                        main=Panel(
                            id="spin[backdrop=moss,ratio=16:9]",
                            kind="video",
                            status="succeeded",
                            video="https://files.example.com/2.mp4",
                            video_remote=True,
                            stale=True,
                        ),
                    ),
                ),
            ),
            Group(
                name="look",
                axes=("look",),
                values=(("look", ("warm",)),),
                cards=(
                    Card(
                        id="look[look=warm]",
                        name="look",
                        axes=(("look", "warm"),),
                        prompt="A cubic city at sunrise",
                        params=(("duration", "5"),),
                        main=Panel(
                            id="look[look=warm]",
                            kind="draft",
                            status="succeeded",
                            video="../campaigns/outputs/look%20%231.mp4",
                            tokens=20,
                        ),
                        final=Panel(
                            id="look[look=warm]#final",
                            kind="final",
                            status="failed",
                            error="task_failed: policy",
                        ),
                    ),
                ),
            ),
            Group(
                name="oops",
                axes=(),
                values=(),
                cards=(
                    Card(
                        id="oops",
                        name="oops",
                        axes=(),
                        prompt="A cubic city at sunrise",
                        params=(),
                        main=Panel(
                            id="oops",
                            kind="video",
                            status="failed",
                            error="task_failed: The request failed.",
                            task_id="task_9",
                        ),
                    ),
                ),
            ),
            Group(
                name="banned",
                axes=(),
                values=(),
                cards=(
                    Card(
                        id="banned",
                        name="banned",
                        axes=(),
                        prompt="A cubic city at sunrise",
                        params=(),
                        main=Panel(
                            id="banned",
                            kind="video",
                            status="blocked",
                            blocked="asset x failed moderation: nope",
                        ),
                    ),
                ),
            ),
            Group(
                name="later",
                axes=(),
                values=(),
                cards=(
                    Card(
                        id="later",
                        name="later",
                        axes=(),
                        prompt="A cubic city at sunrise",
                        params=(("seed", "7"),),
                        main=Panel(id="later", kind="video", status="pending"),
                    ),
                ),
            ),
            Group(
                name="(not in the spec)",
                axes=(),
                values=(),
                cards=(
                    Card(
                        id="removed",
                        name="(not in the spec)",
                        axes=(),
                        prompt="an old prompt",
                        params=(),
                        main=Panel(
                            id="removed",
                            kind="video",
                            status="succeeded",
                            video="../campaigns/outputs/removed.mp4",
                        ),
                    ),
                ),
            ),
        ),
        counts=(("failed", 2), ("blocked", 1), ("pending", 1), ("succeeded", 4)),
        total_tokens=120,
    )


def test_report_beside_the_lock_links_plain_relative_paths() -> None:
    job = make_job("city")
    lock = Lock(
        jobs={"city": LockEntry(key=job.key, status="succeeded", output=_ref("outputs/city.mp4"))}
    )
    report = build(make_spec(job), lock, lock_dir=LOCK_DIR, report_dir=LOCK_DIR)
    assert report.groups[0].cards[0].main.video == "outputs/city.mp4"


def test_axis_values_keep_first_seen_order_across_jobs() -> None:
    jobs = [
        make_job(f"s{i}", name="s", matrix=(("seed", seed), ("hd", hd)))
        for i, (seed, hd) in enumerate([(3, True), (1, True), (3, False), (2, None)])
    ]
    report = build(make_spec(*jobs), Lock(), lock_dir=LOCK_DIR, report_dir=LOCK_DIR)
    assert report.groups[0].values == (
        ("seed", ("3", "1", "2")),
        ("hd", ("true", "false", "null")),
    )


def test_no_download_and_no_remote_url_means_no_video() -> None:
    job = make_job("city")
    lock = Lock(
        jobs={"city": LockEntry(key=job.key, status="succeeded", output=_ref("outputs/city.mp4"))}
    )
    report = build(make_spec(job), lock, lock_dir=LOCK_DIR, report_dir=LOCK_DIR, available=())
    assert report.groups[0].cards[0].main == Panel(id="city", kind="video", status="succeeded")


def test_only_web_urls_become_links() -> None:
    job = make_job("city")
    entry = LockEntry(
        key=job.key,
        status="succeeded",
        video_url="javascript:alert(1)",
        last_frame_url=" data:text/html,<script>",
    )
    report = build(
        make_spec(job), Lock(jobs={"city": entry}), lock_dir=LOCK_DIR, report_dir=LOCK_DIR
    )
    panel = report.groups[0].cards[0].main
    assert (panel.video, panel.poster) == (None, None)


def test_unknown_and_cancelled_jobs_show_their_error() -> None:
    job = make_job("city")
    entry = LockEntry(
        key=job.key, status="unknown", error={"code": "create_unknown", "message": "create_unknown"}
    )
    report = build(
        make_spec(job), Lock(jobs={"city": entry}), lock_dir=LOCK_DIR, report_dir=LOCK_DIR
    )
    assert report.groups[0].cards[0].main.error == "create_unknown"


def test_href_quotes_each_segment() -> None:
    assert href(LOCK_DIR, LOCK_DIR, "outputs/a b#c?d[e]%f:g.mp4") == (
        "outputs/a%20b%23c%3Fd%5Be%5D%25f%3Ag.mp4"
    )
    assert href(LOCK_DIR, PurePosixPath("/work/campaigns/site/deep"), "outputs/x.mp4") == (
        "../../outputs/x.mp4"
    )


def test_href_to_another_windows_drive_is_a_file_url() -> None:
    got = href(PureWindowsPath("D:/runs"), PureWindowsPath("C:/site"), "outputs/x y.mp4")
    assert got == "file:///D:/runs/outputs/x%20y.mp4"


def test_show_writes_values_as_yaml_would() -> None:
    assert [show(v) for v in ("16:9", 5, 1.5, True, None, [1, "a"])] == [
        "16:9",
        "5",
        "1.5",
        "true",
        "null",
        '[1, "a"]',
    ]
