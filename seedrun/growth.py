"""Checks, before they run, of the template operations whose result can outgrow
their inputs: format widths, ``center``, ``indent``, ``replace``, ``join``,
``batch``... (see ``seedrun.sandbox``). Each raises ``LimitReached``. Pure.
"""

from __future__ import annotations

import functools
import inspect
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from seedrun import limits
from seedrun.renderbudget import (
    FLAT,
    LimitReached,
    counted,
    refuse_total,
    refuse_width,
    size_of,
    spend,
)

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
                refuse_width(int(part), "a format width")
    if star:
        for arg in args if isinstance(args, tuple) else (args,):
            refuse_width(arg, "a format width")


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
            refuse_width(int(digits), "a format width")
    if nested:  # widths taken from the arguments
        for arg in [*args, *kwargs.values()]:
            refuse_width(arg, "a format width")


# ---------------------------------------------------------------- filters


def _arg(bound: inspect.BoundArguments, name: str) -> Any:
    return bound.arguments.get(name)


def _lines_bound(text: Any, per_line: int) -> int:
    s = str(text)
    return len(s) + (s.count("\n") + 1) * per_line


def _check_indent(b: inspect.BoundArguments) -> None:
    width = _arg(b, "width")
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    refuse_width(per_line, "an indent width")
    refuse_total(_lines_bound(_arg(b, "s"), per_line), "indent")


def _check_wordwrap(b: inspect.BoundArguments) -> None:
    s, width, wrap = str(_arg(b, "s")), _arg(b, "width"), _arg(b, "wrapstring") or "\n"
    if isinstance(width, int) and width >= 1:
        pieces = len(s.split()) + len(s) // width + s.count("\n") + 1
        refuse_total(len(s) + pieces * len(str(wrap)), "wordwrap")


def _check_replace(b: inspect.BoundArguments) -> None:
    refuse_total(
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
        refuse_width(_arg(b, "linecount"), "a batch size")


def _check_slice(b: inspect.BoundArguments) -> None:
    refuse_width(_arg(b, "slices"), "a slice count")


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
    "center": lambda b: refuse_width(_arg(b, "width"), "a center width"),
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


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    check = _FILTER_CHECKS.get(name)
    signature = inspect.signature(func) if check else None
    # jinja2's async-aware filters take the context first, although the sync
    # function their signature shows does not: drop it before binding.
    first = next(iter(signature.parameters), "") if signature else ""
    drop = int(hasattr(func, "jinja_pass_arg") and first not in _PASSED)

    @functools.wraps(func)  # keeps jinja2's pass_context/pass_environment marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        spend(1)
        for a in (*args, *kwargs.values()):
            size_of(a)  # charges the items the filter will walk
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
            return counted(result)  # map, select, batch...: lazy, count as consumed
        size_of(result)
        return result

    return guarded


def _join_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``join``'s items materialized and measured, before one huge string is made."""
    (eval_ctx, value, *rest) = args
    items = list(counted(iter(value)))
    sep = str(rest[0]) if rest else ""
    refuse_total(sum(size_of(x) for x in items) + len(sep) * len(items), "join")
    return (eval_ctx, items, *rest)




# ---------------------------------------------------------------- method calls


def check_method(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Checks a method whose result can outgrow its object; may materialize ``args``."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, FLAT):
        if name in ("center", "ljust", "rjust", "zfill") and args:
            refuse_width(args[0], f"a {name} width")
        elif name == "expandtabs":
            tab = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(tab, int):
                tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
                refuse_total(len(owner) + tabs * tab, "expandtabs")
        elif name == "replace" and len(args) >= 2:
            refuse_total(_replace_bound(str(owner), str(args[0]), str(args[1])), "replace")
        elif name == "join" and args:
            items = list(counted(iter(args[0])))
            refuse_total(sum(size_of(x) for x in items) + len(owner) * len(items), "join")
            return (items, *args[1:])
        elif name == "translate" and args and isinstance(args[0], Mapping):
            longest = max((size_of(v) for v in args[0].values()), default=1)
            refuse_total(len(owner) * max(1, longest), "translate")
    elif isinstance(owner, int) and name == "to_bytes":
        refuse_width(args[0] if args else kwargs.get("length", 1), "a byte length")
    return args
