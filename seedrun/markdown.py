"""Markdown for pull-request comments: lockfile diffs and plans. Pure.

A comment starts with an HTML marker (``<!-- seedrun-diff -->``,
``<!-- seedrun-plan -->``) so a CI step can find and update its own comment.
Tables are capped at ``max_rows`` rows: GitHub refuses comments over 65,536
characters, and a reviewer reads the first rows anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote

from seedrun.cost import Estimate
from seedrun.diff import (
    PROMPT,
    Change,
    LockDiff,
    describe_field,
    line_diff,
    summary_line,
    word_segments,
)
from seedrun.plan import CREATES, PlanItem
from seedrun.safetext import clean
from seedrun.spec import Spec

DIFF_MARKER = "<!-- seedrun-diff -->"
PLAN_MARKER = "<!-- seedrun-plan -->"
MAX_ROWS = 200
QUIET_ACTIONS = ("unchanged",)


def cell(text: str, width: int = 80) -> str:
    """Text safe inside a table cell: one line, pipes escaped, cut to ``width``."""
    one = clean(" ".join(text.split()))
    if len(one) > width:
        one = one[: width - 1] + "…"
    return one.replace("\\", "\\\\").replace("|", "\\|")


def code(text: str) -> str:
    """Inline code that survives backticks in ``text`` (and control characters)."""
    text = clean(text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_cell(text: str) -> str:
    """Inline code inside a table cell: GFM needs ``\\|`` even in code there."""
    return code(text).replace("|", "\\|")


def fenced(lines: Sequence[str], lang: str = "") -> list[str]:
    """A fenced block whose fence is longer than any backtick run inside."""
    lines = [clean(ln) for ln in lines]
    longest = max((len(m) for ln in lines for m in re.findall(r"`+", ln)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", *lines, fence]


def _link(path: str, link_base: str | None) -> str:
    if link_base:
        return f"[{cell(path, 120)}]({link_base.rstrip('/')}/{quote(path)})"
    return code_cell(path)


# ---------------------------------------------------------------- diff


def diff_markdown(
    diff: LockDiff,
    *,
    old_label: str,
    new_label: str,
    link_base: str | None = None,
    max_rows: int = MAX_ROWS,
) -> str:
    """A PR comment: summary, one table row per changed job, then prompt diffs."""
    out = [
        DIFF_MARKER,
        "### seedrun: lockfile changes",
        "",
        f"{code(old_label)} → {code(new_label)}: {summary_line(diff)}",
    ]
    if diff.changes:
        out += [
            "",
            "| Job | Change | Status | What changed | Video |",
            "| --- | --- | --- | --- | --- |",
        ]
        out += [_diff_row(c, link_base) for c in diff.changes[:max_rows]]
        if len(diff.changes) > max_rows:
            out.append(f"\n… and {len(diff.changes) - max_rows} more (see `seedrun diff`)")
    prompts = [c for c in diff.changes[:max_rows] if PROMPT in c.fields]
    if prompts:
        out += ["", "#### Prompt changes"]
        for c in prompts:
            fc = c.fields[PROMPT]
            out += ["", f"<details open><summary>{_html(c.id)}</summary>", ""]
            old, new = str(fc.old or ""), str(fc.new or "")
            out += [_word_html(old, new), ""]
            out += fenced(line_diff(old, new), "diff")
            out += ["", "</details>"]
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html(text: str) -> str:
    return f"<code>{_escape(clean(text))}</code>"


def _word_html(old: str, new: str) -> str:
    """The prompt with removed words struck out and added ones underlined.

    One line of raw HTML (a GFM HTML block), so the prompt's own ``*``, ``_``
    or backticks are shown as typed, not read as markdown.
    """
    tags = {"=": ("", ""), "-": ("<del>", "</del>"), "+": ("<ins>", "</ins>")}
    body = "".join(
        tags[op][0] + _escape(text).replace("\n", "<br>") + tags[op][1]
        for op, text in word_segments(old, new)
    )
    return f"<div>{body}</div>"


def _diff_row(c: Change, link_base: str | None) -> str:
    e = c.entry
    status = e.status
    if c.change == "status" and "status" in c.fields:
        status = f"{c.fields['status'].old} → {c.fields['status'].new}"
    what = _what_changed(c)
    video: list[str] = []
    if c.change != "removed":
        if e.output is not None:
            video.append(_link(e.output.path, link_base))
        if e.video_url:
            video.append(f"[video_url]({e.video_url})")
    cells = [code_cell(c.id), c.change, cell(status), what, " ".join(video) or "—"]
    return "| " + " | ".join(cells) + " |"


def _chain_cell(text: str) -> str:
    """``last frame of `job`, which was replaced`` with the job id as inline code."""
    return re.sub(r"`([^`]*)`", lambda m: code_cell(m.group(1)), cell(text, 200))


def _what_changed(c: Change) -> str:
    if c.change == "added":
        return "new job"
    if c.change == "removed":
        return "no longer in the lockfile"
    parts: list[str] = []
    for name, fc in c.fields.items():
        if name == PROMPT:
            parts.append("prompt (below)")
        elif name == "key" or (c.change == "status" and name in ("status", "output")):
            continue  # the key says nothing to a reviewer; status and video have columns
        else:
            # Each side cut on its own: a long old value must not hide the new one.
            text = describe_field(name, fc, "→", width=40).removeprefix(f"{name}: ")
            label = code_cell(name) if fc.note is None else cell(name)
            parts.append(f"{label}: {_chain_cell(text) if fc.note else cell(text, 100)}")
    return "; ".join(parts) or "—"


# ---------------------------------------------------------------- plan


def plan_markdown(
    spec: Spec,
    items: Iterable[PlanItem],
    counts: Mapping[str, int],
    *,
    max_rows: int = MAX_ROWS,
    estimates: Mapping[str, Estimate | None] | None = None,
) -> str:
    """A PR comment for ``seedrun plan``: what apply would do, quiet jobs folded away.

    With ``estimates``, a column gives each new task's tokens and their source.
    """
    items = list(items)
    jobs = spec.by_id()
    total = sum(1 for i in items if i.action != "orphan")
    creates = sum(n for a, n in counts.items() if a in CREATES)
    summary = ", ".join(f"{n} {a}" for a, n in counts.items()) or "nothing to do"
    out = [
        PLAN_MARKER,
        f"### seedrun plan: {code(spec.path)}",
        "",
        f"**{total} job{'s' if total != 1 else ''}**: {summary}. New paid tasks: **{creates}**.",
    ]
    loud = [i for i in items if i.action not in QUIET_ACTIONS]
    if loud:
        if estimates is None:
            out += ["", "| Action | Job | Why | Prompt |", "| --- | --- | --- | --- |"]
        else:
            out += [
                "",
                "| Action | Job | Why | Tokens | Prompt |",
                "| --- | --- | --- | --- | --- |",
            ]
        for item in loud[:max_rows]:
            job = jobs.get(item.id)
            prompt = cell(job.prompt) if job is not None else ""
            tokens = ""
            if estimates is not None:
                found = estimates.get(item.id)
                shown = f"{found.tokens:,} ({found.source})" if found is not None else ""
                tokens = f" {shown} |"
            out.append(
                f"| {item.action} | {code_cell(item.id)} | {_reason_cell(item.reason)} |"
                f"{tokens} {prompt} |"
            )
        if len(loud) > max_rows:
            out.append(f"\n… and {len(loud) - max_rows} more (see `seedrun plan`)")
    quiet = [i for i in items if i.action in QUIET_ACTIONS]
    if quiet:
        out += ["", f"<details><summary>{len(quiet)} unchanged</summary>", ""]
        shown_ids = ", ".join(code(i.id) for i in quiet[:max_rows])
        more = f" … and {len(quiet) - max_rows} more" if len(quiet) > max_rows else ""
        out += [shown_ids + more, "", "</details>"]
    return "\n".join(out) + "\n"


def _reason_cell(reason: str) -> str:
    """A plan reason: job ids in it (`` `shot1` ``) stay inline code in the cell."""
    return _chain_cell(reason) if "`" in reason else cell(reason)
