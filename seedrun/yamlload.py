"""YAML text -> plain JSON-like data plus the line/column of every node.

pyyaml's constructors drop node marks, so we compose the node graph ourselves
and record, for each path into the document, where its key and value start.
Errors can then point at ``FILE:LINE:COL`` for schema errors, lints and
template errors alike.

Only JSON's value types come out: a timestamp stays the text it was written
as, and so does a YAML 1.1 base-60 number (``ratio: 16:9`` means "16:9", not
969); other YAML-only types (binary, NaN, infinity) are errors. Duplicate keys
are errors (a key given by a ``<<:`` merge may be overridden, as YAML intends).
Recursive aliases and alias bombs are refused instead of hanging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from seedrun.errors import Diagnostic, SpecError

Path = tuple[str | int, ...]

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# A document may expand aliases to at most this many nodes (or ten times its own size).
_MIN_NODE_BUDGET = 200_000


@dataclass(frozen=True)
class Marks:
    """1-based (line, col) of each value, and of each mapping key, by path."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The closest known mark for ``path``, walking up to its parents."""
        table = self.keys if key else self.values
        probe = path
        while probe:
            found = table.get(probe) or self.values.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def diag(self, path: Path, message: str, *, key: bool = False) -> Diagnostic:
        line, col = self.at(path, key=key)
        return Diagnostic(self.file, line, col, format_path(path), message)


def format_path(path: Path) -> str:
    """``("jobs", 1, "matrix", "ratio")`` -> ``jobs[1].matrix.ratio``."""
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
        builder = _Builder(loader, marks, _count_nodes(node))
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and not exc.context.startswith("while "):
            what = f"{exc.context}, {exc.problem}"  # "expected a single document ..., but ..."
        raise SpecError([Diagnostic(file, line, col, "", f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(file, 1, 1, "", f"YAML error: {exc}")]) from None
    except RecursionError:
        raise SpecError([Diagnostic(file, 1, 1, "", "YAML error: nesting is too deep")]) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise SpecError(builder.problems)
    return data, marks


def _count_nodes(root: yaml.Node) -> int:
    """Distinct nodes in the graph (aliases counted once)."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                todo.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    return len(seen)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, marks: Marks, distinct: int) -> None:
        self.loader = loader
        self.marks = marks
        self.problems: list[Diagnostic] = []
        self.budget = max(_MIN_NODE_BUDGET, 10 * distinct)
        self.active: set[int] = set()  # nodes on the current path, to catch recursive aliases

    def problem(self, node: yaml.Node, path: Path, message: str) -> None:
        line, col = _mark(node)
        self.problems.append(Diagnostic(self.marks.file, line, col, format_path(path), message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise SpecError(
                [Diagnostic(self.marks.file, *_mark(node), "", "YAML aliases expand too far")]
            )
        self.marks.values[path] = _mark(node)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.problem(node, path, "recursive YAML alias")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.active.discard(id(node))

    def scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        if node.tag == _TIMESTAMP_TAG:
            return node.value  # dates stay text: JSON has no date type
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, int | float) and not isinstance(value, bool) and ":" in node.value:
            return node.value  # YAML 1.1 base 60 (`ratio: 16:9` is 969): keep what was written
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(node, path, f"{node.value!r} is not a finite number")
            return None
        if value is None or isinstance(value, str | int | float | bool):
            return value
        self.problem(node, path, f"unsupported YAML type {node.tag!r}; use strings and numbers")
        return None

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        own = {id(k) for k, _ in node.value}
        self.loader.flatten_mapping(node)  # resolves `<<:` merge keys (merged pairs come first)
        out: dict[str, Any] = {}
        first: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "keys must be plain scalars")
                continue
            key = key_node.value
            child = (*path, key)
            if key in first and id(first[key]) in own:  # given twice in this very mapping
                line = _mark(first[key])[0]
                self.problem(key_node, child, f"duplicate key {key!r} (first at line {line})")
                continue
            # (a key from a `<<:` merge may be overridden)
            first[key] = key_node
            self.marks.keys[child] = _mark(key_node)
            out[key] = self.build(value_node, child)
        return out
