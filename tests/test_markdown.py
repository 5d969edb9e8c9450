"""Markdown for pull requests: the plan comment and the cell/code helpers."""

from __future__ import annotations

from lockfactory import entry, file_ref

from seedrun import plan as planner
from seedrun.lockfile import Lock
from seedrun.markdown import PLAN_MARKER, cell, code, code_cell, fenced, plan_markdown
from seedrun.spec import load_spec

SPEC = """
version: 1
jobs:
  - name: spin
    prompt: "The bottle | turns on {{ backdrop }}."
    matrix:
      backdrop: [marble, moss, sand, snow]
  - name: city
    prompt: >-
      A cinematic aerial shot of a futuristic cubic city at sunrise,
      with long shadows and a slow push-in
"""


def _plan(lock: Lock) -> str:
    spec = load_spec(SPEC, "jobs.yaml")
    items = planner.plan(spec.jobs, lock)
    return plan_markdown(spec, items, planner.counts(items))


def test_plan_markdown() -> None:
    spec = load_spec(SPEC, "jobs.yaml")
    key = {j.id: j.key for j in spec.jobs}
    lock = Lock(
        {},
        {
            "spin[backdrop=marble]": entry(
                "a", key=key["spin[backdrop=marble]"], output=file_ref("outputs/m.mp4", b"m")
            ),
            "spin[backdrop=moss]": entry("b", key="0" * 64),
            "spin[backdrop=sand]": entry(
                "c", "failed", key=key["spin[backdrop=sand]"], error={"code": "E", "message": "x"}
            ),
            "spin[backdrop=snow]": entry("d", key=key["spin[backdrop=snow]"]),
            "old": entry("old"),
        },
    )
    assert _plan(lock) == (
        "<!-- seedrun-plan -->\n"
        "### seedrun plan: `jobs.yaml`\n"
        "\n"
        "**5 jobs**: 1 create, 1 replace, 1 retry, 1 download, 1 unchanged, 1 orphan. "
        "New paid tasks: **3**.\n"
        "\n"
        "| Action | Job | Why | Prompt |\n"
        "| --- | --- | --- | --- |\n"
        "| replace | `spin[backdrop=moss]` | request changed | The bottle \\| turns on moss. |\n"
        "| retry | `spin[backdrop=sand]` | E: x | The bottle \\| turns on sand. |\n"
        "| download | `spin[backdrop=snow]` | video not downloaded yet "
        "| The bottle \\| turns on snow. |\n"
        "| create | `city` |  | A cinematic aerial shot of a futuristic cubic city at sunrise, "
        "with long shadow… |\n"
        "| orphan | `old` | no longer in the spec |  |\n"
        "\n"
        "<details><summary>1 unchanged</summary>\n"
        "\n"
        "`spin[backdrop=marble]`\n"
        "\n"
        "</details>\n"
    )


def test_plan_markdown_nothing_to_do_and_caps() -> None:
    spec = load_spec(SPEC, "jobs.yaml")
    items = planner.plan(spec.jobs, Lock())
    md = plan_markdown(spec, items, planner.counts(items), max_rows=2)
    assert md.startswith(PLAN_MARKER + "\n")
    assert "**5 jobs**: 5 create. New paid tasks: **5**." in md
    assert md.count("| create |") == 2
    assert "\n… and 3 more (see `seedrun plan`)" in md
    lock = Lock({}, {j.id: entry(j.id, key=j.key, output=None) for j in spec.jobs})
    done = {j: e.with_(output=file_ref("o", b"")) for j, e in lock.jobs.items()}
    items = planner.plan(spec.jobs, Lock({}, done))
    md = plan_markdown(spec, items, planner.counts(items), max_rows=2)
    assert "| Action |" not in md
    assert "<details><summary>5 unchanged</summary>" in md
    assert "`spin[backdrop=moss]` … and 3 more" in md


def test_helpers() -> None:
    assert cell("a |  b\nc") == "a \\| b c"
    assert cell("x" * 10, 5) == "xxxx…"
    assert code("a`b") == "``a`b``"
    assert code("`a") == "`` `a ``"
    assert code_cell("a|b") == "`a\\|b`"
    assert fenced(["```", "x"], "diff") == ["````diff", "```", "x", "````"]
    assert fenced(["x"]) == ["```", "x", "```"]


def test_plan_markdown_gives_each_new_task_its_estimate_and_source() -> None:
    from seedrun.cost import Estimate

    spec = load_spec(SPEC, "jobs.yaml")
    items = [i for i in planner.plan(spec.jobs, Lock()) if i.id in ("city", "spin[backdrop=moss]")]
    estimates = {
        "city": Estimate(102_960, "formula"),
        "spin[backdrop=moss]": Estimate(98_000, "history of 3 tasks"),
    }
    md = plan_markdown(spec, items, planner.counts(items), estimates=estimates)
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert rows[0] == "| Action | Job | Why | Tokens | Prompt |"
    assert rows[2] == (
        "| create | `spin[backdrop=moss]` |  | 98,000 (history of 3 tasks) "
        "| The bottle \\| turns on moss. |"
    )
    assert rows[3].startswith("| create | `city` |  | 102,960 (formula) | A cinematic")
