"""YAML text -> plain JSON-like data plus the line/column of every node.

pyyaml's constructors drop node marks, so we compose the node graph ourselves
and record, for each path into the document, where its key and value start.
Errors can then point at ``FILE:LINE:COL`` for schema errors, lints and
template errors alike.

Only JSON's value types come out: a timestamp stays the text it was written
as, and so does a YAML 1.1 base-60 number (``ratio: 16:9`` means "16:9", not
969); other YAML-only types (binary, NaN, infinity) are errors. Duplicate keys
are errors (a key given by a ``<<:`` merge may be overridden, as YAML intends).
Recursive aliases and alias bombs are refused instead of hanging, and so is
nesting deeper than ``limits.MAX_DEPTH`` and integers longer than 64 bits.

libyaml (PyYAML's C loader) reads the text when it is installed: it keeps the
same marks and is several times faster on large specs. A syntax error is worded
by PyYAML's Python parser, so messages are the same on every machine, and an
unclosed ``[``/``{``/quote is named where it was opened, not only where the
parser gave up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from seedrun import limits
from seedrun.errors import Diagnostic, SpecError
from seedrun.safetext import clean

Path = tuple[str | int, ...]

_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAX_INT = 1 << (limits.MAX_INT_BITS_IN_FILE - 1)

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
        else:  # keys come from the spec: escaped, so a message stays one safe line
            out += f".{clean(part)}" if out else clean(str(part))
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, file: str) -> tuple[Any, Marks]:
    """Parse one YAML document. Syntax errors and duplicate keys are SpecErrors."""
    marks = Marks(file)
    loader = _FastLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, marks
        builder = _Builder(loader, marks, _count_nodes(node))
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        if exc.problem and "maximum nesting depth" in exc.problem and exc.problem_mark:
            mark = exc.problem_mark  # libyaml's own limit (1000), far past ours
            raise SpecError(
                [Diagnostic(file, mark.line + 1, mark.column + 1, "", _too_deep())]
            ) from None
        line, col, message = syntax_error(text) or (1, 1, "invalid YAML")
        problem = f"YAML syntax error: {message}"
        raise SpecError([Diagnostic(file, line, col, "", problem)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(file, 1, 1, "", f"YAML error: {exc}")]) from None
    except RecursionError:
        raise SpecError([Diagnostic(file, 1, 1, "", f"YAML error: {_too_deep()}")]) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise SpecError(builder.problems)
    return data, marks


def _too_deep() -> str:
    return f"nesting is deeper than {limits.MAX_DEPTH} levels (see docs/limits.md)"


def syntax_error(text: str) -> tuple[int, int, str] | None:
    """(line, col, message) of the first syntax error, worded by PyYAML's Python parser.

    An unclosed flow collection or quoted string is located where it was
    opened; the message says where the parser gave up.
    """
    try:
        yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return _locate(text, exc)
    except RecursionError:
        return 1, 1, _too_deep()
    except yaml.YAMLError as exc:
        return 1, 1, str(exc)
    return None


def _locate(text: str, exc: yaml.MarkedYAMLError) -> tuple[int, int, str]:
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context and not exc.context.startswith("while "):
        what = f"{exc.context}, {exc.problem}"  # "expected a single document ..., but ..."
    if mark is None:
        return 1, 1, what
    opener = _unclosed(text, mark.index)
    if opener is None and exc.context_mark and exc.context == "while scanning a quoted scalar":
        opener = ("quoted string", exc.context_mark.line + 1, exc.context_mark.column + 1)
    at_end = not text[mark.index :].strip()
    if opener is not None:
        name, line, col = opener
        if at_end:
            return line, col, f"the {name} opened here is never closed ({what})"
        what = f"{what} (inside the {name} opened at line {line}, column {col})"
    last_line = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if at_end and mark.line + 1 > max(1, last_line):  # "after the end": say the last line
        return max(1, last_line), 1, f"{what} at the end of the file"
    return mark.line + 1, mark.column + 1, what


def _unclosed(text: str, stop: int) -> tuple[str, int, int] | None:
    """The innermost ``[`` or ``{`` still open at offset ``stop``, as (name, line, col)."""
    stack: list[yaml.Token] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= stop:
                break
            if isinstance(token, yaml.FlowSequenceStartToken | yaml.FlowMappingStartToken):
                stack.append(token)
            elif isinstance(token, yaml.FlowSequenceEndToken | yaml.FlowMappingEndToken) and stack:
                stack.pop()
    except (yaml.YAMLError, RecursionError):
        pass
    if not stack:
        return None
    top = stack[-1]
    name = "'['" if isinstance(top, yaml.FlowSequenceStartToken) else "'{'"
    return name, top.start_mark.line + 1, top.start_mark.column + 1


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
        if len(path) > limits.MAX_DEPTH:
            raise SpecError(
                [Diagnostic(self.marks.file, *_mark(node), format_path(path[:3]) + "...",
                            _too_deep())]
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
        try:
            value = self.loader.construct_object(node, deep=True)
        except ValueError:  # Python's 4300-digit limit on int("...")
            value = _MAX_INT
        if type(value) is int and not -_MAX_INT <= value < _MAX_INT:
            bits = limits.MAX_INT_BITS_IN_FILE
            self.problem(node, path, f"integer too large (more than {bits} bits)")
            return None
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
