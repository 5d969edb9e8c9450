"""The campaign gallery: one self-contained HTML page of a spec's videos.

``model`` turns a spec and its lockfile into a view model (pure);
``writer`` renders ``gallery.html.j2`` and writes the page atomically.
"""

from __future__ import annotations

from seedrun.report.writer import default_report_path, render_report, write_report

__all__ = ["default_report_path", "render_report", "write_report"]
