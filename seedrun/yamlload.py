"""YAML text -> plain Python data plus the line/column of every node.

pyyaml's constructors drop node marks, so we compose the node graph ourselves
and record, for each path into the document, where its key and value start.
Errors can then point at ``FILE:LINE:COL`` for schema errors, lints and
template errors alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from seedrun.errors import Diagnostic, SpecError

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Marks:
    """1-based (line, col) of each value, and of each mapping key, by path."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The closest known mark for ``path``, walking up to its parents."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def diag(self, path: Path, message: str, *, key: bool = False) -> Diagnostic:
        line, col = self.at(path, key=key)
        return Diagnostic(self.file, line, col, format_path(path), message)


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, file: str) -> tuple[Any, Marks]:
    """Parse one YAML document. Syntax errors and duplicate keys are SpecErrors."""
    marks = Marks(file)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, marks
        problems: list[Diagnostic] = []
        data = _build(loader, node, (), marks, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        raise SpecError([Diagnostic(file, line, col, "", f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(file, 1, 1, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise SpecError(problems)
    return data, marks


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, path: Path, marks: Marks, problems: list[Diagnostic]
) -> Any:
    marks.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<:` merge keys
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                line, col = _mark(key_node)
                problems.append(
                    Diagnostic(
                        marks.file, line, col, format_path(path), "keys must be plain scalars"
                    )
                )
                continue
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            if key in out:
                line, col = _mark(key_node)
                problems.append(
                    Diagnostic(marks.file, line, col, format_path(child), f"duplicate key {key!r}")
                )
            marks.keys[child] = _mark(key_node)
            out[key] = _build(loader, value_node, child, marks, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, i), marks, problems) for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)
