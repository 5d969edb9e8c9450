"""The bounded jinja2 sandbox: templates from untrusted specs can neither escape nor hog.

jinja2's ``SandboxedEnvironment`` stops attribute escapes, but not work: a
filter with a huge width, a format string's ``%1000000000d``, nested loops,
huge integers or a list that refers to itself through many levels each take
minutes or gigabytes. Here every place where a template's work or data can
grow passes through one check, and the limits come from ``seedrun.limits``:

- **size**: every value a template hands to an operator, a call, a filter or
  the output is measured (characters of strings plus items of containers,
  through nesting, shared parts counted each time they appear) and refused past
  ``MAX_SIZE``; operations whose result can outgrow their inputs (``*``,
  ``**``, ``%``, ``center``, ``indent``, ``str.format`` widths, ``join``...)
  are checked *before* they run, from their arguments;
- **work**: each loop iteration, call, filter, operator and attribute lookup
  costs one unit, a filter one more per item it walks, and a rendering may
  spend ``MAX_RENDER_WORK`` units (a spec ``MAX_SPEC_RENDER_WORK`` over all its
  renderings); a wall-clock deadline backs the units up;
- **output**: a rendered field is at most ``MAX_OUTPUT`` characters, checked
  as it is produced, also inside macros and ``{% set %}`` blocks.

A limit reached raises ``LimitReached``, a ``SecurityError``, so the caller
words it like every other sandbox refusal. The budget and the measure live in
``seedrun.renderbudget``, the checks made before an operation runs in
``seedrun.growth``; this module routes every step through them. Pure: no IO.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from seedrun import limits
from seedrun.growth import check_format, check_method, check_percent, guard_filter
from seedrun.renderbudget import (
    FLAT,
    RUN,
    LimitReached,
    SpecBudget,
    counted,
    int_bits,
    refuse_bits,
    refuse_total,
    running,
    size_of,
    spend,
)

__all__ = ["BoundedEnvironment", "LimitReached", "SpecBudget", "render_bounded", "running"]


# ---------------------------------------------------------------- the environment


class _Bounded(NodeTransformer):
    """Routes loops, ``~``, comparisons and printed values through the environment's checks.

    Each becomes a call of one of the environment's own filters (``seedrun_*``):
    a filter is called directly, without the sandbox's per-call machinery.
    """

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _check("seedrun_iter", node.iter, [], node.lineno)  # type: ignore[arg-type]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _check("seedrun_concat", nodes.List(node.nodes), [], node.lineno)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        kinds = nodes.Const(tuple(op.op for op in node.ops))
        return _check("seedrun_compare", node.expr, [kinds, *(op.expr for op in node.ops)],
                      node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            n if isinstance(n, nodes.TemplateData) else _check("seedrun_out", n, [], n.lineno)
            for n in node.nodes
        ]
        return node


def _check(name: str, value: nodes.Expr, args: list[nodes.Expr], lineno: int) -> nodes.Filter:
    return nodes.Filter(value, name, args, [], None, None, lineno=lineno)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


_MACRO_CALL = 10

class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with seedrun's size and work limits on every step."""

    intercepted_binops = frozenset({"+", "*", "**", "%", "//", "/", "-"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: guard_filter(name, f) for name, f in self.filters.items()}
        self.filters.update(
            seedrun_iter=self.seedrun_iter,
            seedrun_concat=self.seedrun_concat,
            seedrun_compare=self.seedrun_compare,
            seedrun_out=self.seedrun_out,
        )

    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> str:
        tree = _Bounded().visit(source)
        return super()._generate(tree, *args, **kwargs)

    def concat(self, parts: Iterable[str]) -> str:
        # Macro bodies and `{% set %}` blocks collect their output in a list first.
        parts = list(parts)
        total = sum(map(len, parts))
        spend(len(parts) + total // 100)
        if total > limits.MAX_OUTPUT:
            raise LimitReached(f"output of more than {limits.MAX_OUTPUT:,} characters")
        return "".join(parts)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # A macro call (a new frame, its own output buffer) costs jinja2 a few microseconds.
        spend(_MACRO_CALL if isinstance(__obj, Macro | LoopContext) else 1)
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
            args = (counted(iter(args[0])), *args[1:])
        else:
            for a in (*args, *kwargs.values()):
                size_of(a)
            args = check_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if not isinstance(result, Iterator):
            size_of(result)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt, is_map = value.__self__, value.__name__ == "format_map"
        sandboxed = wrapped

        @functools.wraps(sandboxed)
        def checked(*args: Any, **kwargs: Any) -> str:
            if is_map:
                check_format(fmt, (), args[0] if args and isinstance(args[0], Mapping) else {})
            else:
                check_format(fmt, args, kwargs)
            return sandboxed(*args, **kwargs)

        return checked

    def getattr(self, obj: Any, attribute: str) -> Any:
        spend(1)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        spend(1)
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        spend(1)
        size_of(left)
        size_of(right)
        if op == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                refuse_bits(max(1, int_bits(left)) * right if abs(left) > 1 else 1)
        elif op == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(n, int) and isinstance(seq, (*FLAT, list, tuple)):
                    refuse_total(size_of(seq) * n, "repeating a value")
            if isinstance(left, int) and isinstance(right, int):
                refuse_bits(int_bits(left) + int_bits(right))
        elif op == "+":
            if isinstance(left, list | tuple) and isinstance(right, list | tuple):
                refuse_total(size_of(left) + size_of(right), "adding lists")
        elif op == "%" and isinstance(left, str):
            check_percent(left, right)
        return super().call_binop(context, op, left, right)

    # ---- the helpers the rewritten templates call (see _Bounded)

    def seedrun_iter(self, items: Any) -> Iterator[Any]:
        return counted(iter(items))

    def seedrun_concat(self, parts: list[Any]) -> str:
        texts = [str(p) if size_of(p) else "" for p in parts]
        return self.concat(texts)

    def seedrun_compare(self, first: Any, kinds: tuple[str, ...], *rest: Any) -> Any:
        operands = (first, *rest)
        for x in operands:
            size_of(x)  # comparing two huge nested lists walks both
        left, result = operands[0], True
        for kind, right in zip(kinds, operands[1:], strict=True):
            result = _COMPARE[kind](left, right)
            if not result:
                return result
            left = right
        return result

    def seedrun_out(self, value: Any) -> Any:
        size = size_of(value, limits.MAX_OUTPUT)
        run = RUN.get()
        if run is not None:
            run.produced += size
            if run.produced > 10 * limits.MAX_OUTPUT:
                raise LimitReached(f"output of more than {limits.MAX_OUTPUT:,} characters")
        return value


def render_bounded(chunks: Iterable[str]) -> str:
    """Joins the root output stream, refusing it as soon as it passes ``MAX_OUTPUT``."""
    out: list[str] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limits.MAX_OUTPUT:
            raise LimitReached(f"output of more than {limits.MAX_OUTPUT:,} characters")
        out.append(chunk)
    return "".join(out)
