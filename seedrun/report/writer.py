"""Render the gallery page and write it atomically.

The page is one self-contained HTML file: inline CSS and JS, no CDN, no
network fonts. Its Content-Security-Policy allows exactly the one inline
script (by hash) and no connections, so nothing in the data can fetch or run
anything. All text from specs and servers is escaped by jinja2's autoescape;
the data the script reads is ``|tojson`` inside ``<script type="application/json">``.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from seedrun import bucket_outputs, outputfiles
from seedrun.errors import ConfigError
from seedrun.lockfile import Lock
from seedrun.report import model
from seedrun.spec import Spec
from seedrun.store import atomic_write_text

TEMPLATE = "gallery.html.j2"
SCRIPT = "gallery.js.j2"
DEFAULT_NAME = "report.html"

@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("seedrun", "report"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@lru_cache(maxsize=1)
def _script() -> str:
    """The page's script, verbatim (read, not rendered: it is static)."""
    env = _env()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, SCRIPT)
    return source.strip()


def script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def card_dom_id(group: int, card: int) -> str:
    return f"g{group}c{card}"


def page_data(report: model.Report) -> dict[str, Any]:
    """What the script needs to lay out grids and filter; the rest is in the markup."""
    groups = []
    for gi, group in enumerate(report.groups):
        cards = [
            {
                "el": card_dom_id(gi, ci),
                "id": card.id,
                "axes": dict(card.axes),
                "statuses": list(card.statuses),
                "text": "\n".join((card.id, card.prompt)).lower(),  # JS lowercases the query
            }
            for ci, card in enumerate(group.cards)
        ]
        groups.append(
            {
                "el": f"g{gi}",
                "axes": list(group.axes),
                "values": {axis: list(values) for axis, values in group.values},
                "cards": cards,
            }
        )
    return {"groups": groups}


def anchors(report: model.Report) -> dict[str, str]:
    """Job id -> the DOM id of the card that shows it (a final: its draft's card)."""
    out: dict[str, str] = {}
    for gi, group in enumerate(report.groups):
        for ci, card in enumerate(group.cards):
            for panel in card.panels:
                out[panel.id] = card_dom_id(gi, ci)
    return out


def render_report(report: model.Report) -> str:
    script = _script()
    return (
        _env()
        .get_template(TEMPLATE)
        .render(
            report=report,
            data=page_data(report),
            script=Markup(script),  # static, ours: not data
            script_hash=script_hash(script),
            card_dom_id=card_dom_id,
            anchors=anchors(report),
        )
    )


def default_report_path(lock_path: Path) -> Path:
    """``<name>.report.html`` beside ``<name>.lock``: each campaign its own page."""
    return outputfiles.default_report_path(lock_path)


def write_report(spec: Spec, lock: Lock, *, lock_path: Path, out: Path) -> Path:
    """Write the gallery of ``spec`` as recorded in ``lock`` to ``out``; return ``out``.

    Videos are linked by paths relative to ``out``'s folder, so keep the outputs
    folder beside the page when moving it (a CI artifact holding both works).
    Recorded files that are missing fall back to their remote URL.
    """
    lock_dir = lock_path.resolve().parent
    report_dir = out.resolve().parent
    refs = [
        ref
        for entry in lock.jobs.values()
        for ref in (entry.output, entry.last_frame)
        if ref is not None
    ]
    available = {ref.path for ref in refs if (lock_dir / ref.path).is_file()}
    report = model.build(
        spec,
        lock,
        lock_dir=lock_dir,
        report_dir=report_dir,
        available=available,
        lock_path=str(lock_path),
        remote=bucket_outputs.links(spec, refs),
        spec_dir=Path(spec.path).resolve().parent,
    )
    try:
        atomic_write_text(out, render_report(report))
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the report: {exc.strerror or exc}") from None
    return out
