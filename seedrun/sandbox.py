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
words it like every other sandbox refusal. Pure: no IO.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from seedrun import limits


class LimitReached(jinja2.exceptions.SecurityError):
    """A template went past one of seedrun's limits; the message names which."""


@dataclass
class SpecBudget:
    """What all renderings of one spec may still spend (shared by the expander)."""

    work: int = limits.MAX_SPEC_RENDER_WORK
    seconds: float = limits.MAX_SPEC_RENDER_SECONDS
    limit: int = field(init=False)

    def __post_init__(self) -> None:
        self.limit = self.work

    def exhausted(self) -> LimitReached:
        return LimitReached(
            f"the templates of this spec need more than {self.limit:,} units of work in all"
        )


@dataclass
class _Run:
    """The budget of the rendering under way."""

    work: int
    deadline: float
    produced: int = 0
    spec: SpecBudget | None = None
    spec_work: bool = False  # whether the spec's budget, not the rendering's, is the tighter
    started: float = field(default_factory=time.monotonic)

    def spend(self, units: int) -> None:
        self.work -= units
        if self.work < 0:
            if self.spec_work and self.spec is not None:
                raise self.spec.exhausted()
            raise LimitReached(f"more than {limits.MAX_RENDER_WORK:,} units of work")
        if time.monotonic() > self.deadline:
            raise LimitReached("rendering took too long")


_RUN: ContextVar[_Run | None] = ContextVar("seedrun_render_run", default=None)


def _spend(units: int = 1) -> None:
    run = _RUN.get()
    if run is not None:
        run.spend(units)


class running:
    """Binds a fresh rendering budget (drawn from ``spec``) for the ``with`` body."""

    def __init__(self, spec: SpecBudget | None) -> None:
        self.spec = spec

    def __enter__(self) -> None:
        now = time.monotonic()
        work, seconds, spec_work = limits.MAX_RENDER_WORK, limits.MAX_RENDER_SECONDS, False
        if self.spec is not None:
            if self.spec.work <= 0:
                raise self.spec.exhausted()
            if self.spec.seconds <= 0:
                raise LimitReached("the templates of this spec took too long to render in all")
            spec_work = self.spec.work < work
            work, seconds = min(work, self.spec.work), min(seconds, self.spec.seconds)
        self.run = _Run(work, now + seconds, spec=self.spec, spec_work=spec_work)
        self.token = _RUN.set(self.run)

    def __exit__(self, *exc: object) -> None:
        _RUN.reset(self.token)
        if self.spec is not None:
            spent = max(0, min(self.run.work, limits.MAX_RENDER_WORK))
            start = min(limits.MAX_RENDER_WORK, self.spec.work)
            self.spec.work -= start - spent
            self.spec.seconds -= time.monotonic() - self.run.started


# ---------------------------------------------------------------- measuring values

_FLAT = (str, bytes, bytearray)
_CONTAINERS = (list, tuple, dict, set, frozenset)


def size_of(value: Any, limit: int = limits.MAX_SIZE) -> int:
    """Characters plus items of ``value``, through nesting; refused past ``limit``.

    Shared parts count each time they appear (that is what printing them costs),
    but each distinct container is walked once, so the measure is cheap even for
    a list that holds itself a million times over.
    """
    memo: dict[int, int] = {}
    total = _measure(value, memo)
    _spend(len(memo))
    if total > limit:
        raise LimitReached(f"a value of more than {limit:,} characters or items")
    return total


def _measure(value: Any, memo: dict[int, int]) -> int:
    if isinstance(value, _FLAT):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    key = id(value)
    known = memo.get(key)
    if known is not None:
        return known
    memo[key] = 1  # a container inside itself prints as `[...]`
    items: Iterable[Any] = (
        (x for kv in value.items() for x in kv) if isinstance(value, dict) else value
    )
    n = len(value) + sum(_measure(x, memo) for x in items)
    memo[key] = n
    return n


def _refuse_width(width: Any, what: str) -> None:
    if isinstance(width, int) and width > limits.MAX_SIZE:
        raise LimitReached(f"{what} {width:,} is larger than {limits.MAX_SIZE:,}")


def _refuse_total(total: int, what: str) -> None:
    if total > limits.MAX_SIZE:
        raise LimitReached(f"{what} would make more than {limits.MAX_SIZE:,} characters or items")


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _refuse_bits(bits: int) -> None:
    if bits > limits.MAX_INT_BITS:
        raise LimitReached(f"an integer of more than {limits.MAX_INT_BITS:,} bits")


# ---------------------------------------------------------------- format strings

_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


def check_percent(fmt: str, args: Any) -> None:
    """``fmt % args`` stays small: no width or precision past ``MAX_SIZE``."""
    star = False
    for m in _PERCENT.finditer(fmt):
        for part in m.groups():
            if part == "*":
                star = True
            elif part is not None:
                _refuse_width(int(part), "a format width")
    if star:
        for arg in args if isinstance(args, tuple) else (args,):
            _refuse_width(arg, "a format width")


def check_format(fmt: str, args: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
    """``fmt.format(...)`` stays small: no width or precision past ``MAX_SIZE``."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    nested = False
    for _, _, spec, _ in fields:
        if not spec:
            continue
        nested = nested or "{" in spec
        for digits in _DIGITS.findall(spec):
            _refuse_width(int(digits), "a format width")
    if nested:  # widths taken from the arguments
        for arg in [*args, *kwargs.values()]:
            _refuse_width(arg, "a format width")


# ---------------------------------------------------------------- filters


def _arg(bound: inspect.BoundArguments, name: str) -> Any:
    return bound.arguments.get(name)


def _lines_bound(text: Any, per_line: int) -> int:
    s = str(text)
    return len(s) + (s.count("\n") + 1) * per_line


def _check_indent(b: inspect.BoundArguments) -> None:
    width = _arg(b, "width")
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    _refuse_width(per_line, "an indent width")
    _refuse_total(_lines_bound(_arg(b, "s"), per_line), "indent")


def _check_wordwrap(b: inspect.BoundArguments) -> None:
    s, width, wrap = str(_arg(b, "s")), _arg(b, "width"), _arg(b, "wrapstring") or "\n"
    if isinstance(width, int) and width >= 1:
        pieces = len(s.split()) + len(s) // width + s.count("\n") + 1
        _refuse_total(len(s) + pieces * len(str(wrap)), "wordwrap")


def _check_replace(b: inspect.BoundArguments) -> None:
    _refuse_total(
        _replace_bound(str(_arg(b, "s")), str(_arg(b, "old")), str(_arg(b, "new"))), "replace"
    )


def _replace_bound(s: str, old: str, new: str) -> int:
    if not old:
        return len(s) + (len(s) + 1) * len(new)
    return len(s) + (len(s) // len(old)) * max(0, len(new) - len(old))


def _check_format_filter(b: inspect.BoundArguments) -> None:
    args, kwargs = _arg(b, "args"), _arg(b, "kwargs")
    check_percent(str(_arg(b, "value")), kwargs or args)


def _check_batch(b: inspect.BoundArguments) -> None:
    if _arg(b, "fill_with") is not None:
        _refuse_width(_arg(b, "linecount"), "a batch size")


def _check_slice(b: inspect.BoundArguments) -> None:
    _refuse_width(_arg(b, "slices"), "a slice count")


def _check_round(b: inspect.BoundArguments) -> None:
    precision = _arg(b, "precision")
    if isinstance(precision, int) and abs(precision) > limits.MAX_PRECISION:
        raise LimitReached(f"a round precision past {limits.MAX_PRECISION}")


def _check_tojson(b: inspect.BoundArguments) -> None:
    indent = _arg(b, "indent")
    width = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    if width > limits.MAX_INDENT:
        raise LimitReached(f"a tojson indent past {limits.MAX_INDENT}")


def _check_sum(b: inspect.BoundArguments) -> None:
    start = _arg(b, "start")
    if not isinstance(start, int | float):  # summing lists copies them over and over
        raise LimitReached("sum with a start that is not a number")


_FILTER_CHECKS: dict[str, Callable[[inspect.BoundArguments], None]] = {
    "center": lambda b: _refuse_width(_arg(b, "width"), "a center width"),
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "replace": _check_replace,
    "format": _check_format_filter,
    "batch": _check_batch,
    "slice": _check_slice,
    "round": _check_round,
    "tojson": _check_tojson,
    "sum": _check_sum,
}


_PASSED = frozenset({"eval_ctx", "environment", "context"})


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    check = _FILTER_CHECKS.get(name)
    signature = inspect.signature(func) if check else None
    # jinja2's async-aware filters take the context first, although the sync
    # function their signature shows does not: drop it before binding.
    first = next(iter(signature.parameters), "") if signature else ""
    drop = int(hasattr(func, "jinja_pass_arg") and first not in _PASSED)

    @functools.wraps(func)  # keeps jinja2's pass_context/pass_environment marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _spend(1 + sum(size_of(a) for a in args) + sum(size_of(v) for v in kwargs.values()))
        if check is not None and signature is not None:
            try:
                bound = signature.bind(*args[drop:], **kwargs)
            except TypeError:
                pass  # a wrong call: the filter itself says so
            else:
                bound.apply_defaults()
                check(bound)
        if name == "join":
            args = _join_args(args)
        result = func(*args, **kwargs)
        if isinstance(result, Iterator):
            return _counted(result)  # map, select, batch...: lazy, count as consumed
        size_of(result)
        return result

    return guarded


def _join_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``join``'s items materialized and measured, before one huge string is made."""
    (eval_ctx, value, *rest) = args
    items = list(_counted(iter(value)))
    sep = str(rest[0]) if rest else ""
    _refuse_total(sum(size_of(x) for x in items) + len(sep) * len(items), "join")
    return (eval_ctx, items, *rest)


def _counted(items: Iterator[Any]) -> Iterator[Any]:
    for item in items:
        _spend(1)
        yield item


# ---------------------------------------------------------------- method calls


def _check_method(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Checks a method whose result can outgrow its object; may materialize ``args``."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, _FLAT):
        if name in ("center", "ljust", "rjust", "zfill") and args:
            _refuse_width(args[0], f"a {name} width")
        elif name == "expandtabs":
            tab = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(tab, int):
                tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
                _refuse_total(len(owner) + tabs * tab, "expandtabs")
        elif name == "replace" and len(args) >= 2:
            _refuse_total(_replace_bound(str(owner), str(args[0]), str(args[1])), "replace")
        elif name == "join" and args:
            items = list(_counted(iter(args[0])))
            _refuse_total(sum(size_of(x) for x in items) + len(owner) * len(items), "join")
            return (items, *args[1:])
        elif name == "translate" and args and isinstance(args[0], Mapping):
            longest = max((size_of(v) for v in args[0].values()), default=1)
            _refuse_total(len(owner) * max(1, longest), "translate")
    elif isinstance(owner, int) and name == "to_bytes":
        _refuse_width(args[0] if args else kwargs.get("length", 1), "a byte length")
    return args


# ---------------------------------------------------------------- the environment


class _Bounded(NodeTransformer):
    """Routes loops, ``~`` and printed values through the environment's checks."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _env_call("seedrun_iter", [node.iter], node.lineno)  # type: ignore[list-item]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _env_call("seedrun_concat", [nodes.List(node.nodes)], node.lineno)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        operands = [node.expr, *(op.expr for op in node.ops)]
        kinds = nodes.Const(tuple(op.op for op in node.ops))
        return _env_call("seedrun_compare", [kinds, *operands], node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            n if isinstance(n, nodes.TemplateData) else _env_call("seedrun_out", [n], n.lineno)
            for n in node.nodes
        ]
        return node


def _env_call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None, lineno=lineno)


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


_F = Callable[..., Any]


def _free(func: _F) -> _F:
    """Marks a helper that checks its own arguments (``call`` need not measure them)."""
    func.seedrun_check_free = True  # type: ignore[attr-defined]
    return func


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with seedrun's size and work limits on every step."""

    intercepted_binops = frozenset({"+", "*", "**", "%", "//", "/", "-"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> str:
        tree = _Bounded().visit(source)
        return super()._generate(tree, *args, **kwargs)

    def concat(self, parts: Iterable[str]) -> str:
        # Macro bodies and `{% set %}` blocks collect their output in a list first.
        parts = list(parts)
        total = sum(map(len, parts))
        _spend(len(parts))
        if total > limits.MAX_OUTPUT:
            raise LimitReached(f"output of more than {limits.MAX_OUTPUT:,} characters")
        return "".join(parts)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _spend(1)
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
            args = (_counted(iter(args[0])), *args[1:])
        elif not getattr(__obj, "seedrun_check_free", False):
            for a in (*args, *kwargs.values()):
                size_of(a)
            args = _check_method(__obj, args, kwargs)
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
        _spend(1)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _spend(1)
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        _spend(1)
        size_of(left)
        size_of(right)
        if op == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                _refuse_bits(max(1, _int_bits(left)) * right if abs(left) > 1 else 1)
        elif op == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(n, int) and isinstance(seq, (*_FLAT, list, tuple)):
                    _refuse_total(size_of(seq) * n, "repeating a value")
            if isinstance(left, int) and isinstance(right, int):
                _refuse_bits(_int_bits(left) + _int_bits(right))
        elif op == "+":
            if isinstance(left, list | tuple) and isinstance(right, list | tuple):
                _refuse_total(size_of(left) + size_of(right), "adding lists")
        elif op == "%" and isinstance(left, str):
            check_percent(left, right)
        return super().call_binop(context, op, left, right)

    # ---- the helpers the rewritten templates call (see _Bounded)

    @_free
    def seedrun_iter(self, items: Any) -> Iterator[Any]:
        return _counted(iter(items))

    @_free
    def seedrun_concat(self, parts: list[Any]) -> str:
        texts = [str(p) if size_of(p) else "" for p in parts]
        return self.concat(texts)

    @_free
    def seedrun_compare(self, kinds: tuple[str, ...], *operands: Any) -> Any:
        for x in operands:
            size_of(x)  # comparing two huge nested lists walks both
        left, result = operands[0], True
        for kind, right in zip(kinds, operands[1:], strict=True):
            result = _COMPARE[kind](left, right)
            if not result:
                return result
            left = right
        return result

    @_free
    def seedrun_out(self, value: Any) -> Any:
        size = size_of(value, limits.MAX_OUTPUT)
        run = _RUN.get()
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
