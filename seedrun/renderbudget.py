"""The work and size budget of template rendering (see ``seedrun.sandbox``).

A rendering runs under a ``running`` budget: every step the sandbox checks
calls ``spend``, and every value it hands on is measured by ``size_of``. The
budget of the rendering under way sits in a context variable, so compiled
templates, which jinja2 caches and shares, need no extra argument. Pure.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import jinja2

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
    clock_at: int = 0  # the clock is read again once ``work`` falls below this

    def spend(self, units: int) -> None:
        self.work -= units
        if self.work < self.clock_at:
            self.overdrawn()

    def overdrawn(self) -> None:
        """The slow path of ``spend``: out of units, or time to look at the clock."""
        if self.work < 0:
            if self.spec_work and self.spec is not None:
                raise self.spec.exhausted()
            raise LimitReached(f"more than {limits.MAX_RENDER_WORK:,} units of work")
        if time.monotonic() > self.deadline:
            raise LimitReached("rendering took too long")
        self.clock_at = max(0, self.work - _CLOCK_EVERY)  # never below 0: that is the limit


RUN: ContextVar[_Run | None] = ContextVar("seedrun_render_run", default=None)
# Units between two looks at the clock: a unit takes about a microsecond at most.
_CLOCK_EVERY = 1_000


def spend(units: int = 1) -> None:
    run = RUN.get()
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
        self.run = _Run(work, now + seconds, spec=self.spec, spec_work=spec_work, started=now)
        self.run.clock_at = max(0, work - _CLOCK_EVERY)
        self.token = RUN.set(self.run)

    def __exit__(self, *exc: object) -> None:
        RUN.reset(self.token)
        if self.spec is not None:
            spent = max(0, min(self.run.work, limits.MAX_RENDER_WORK))
            start = min(limits.MAX_RENDER_WORK, self.spec.work)
            self.spec.work -= start - spent
            self.spec.seconds -= time.monotonic() - self.run.started


# ---------------------------------------------------------------- measuring values

FLAT = (str, bytes, bytearray)
_CONTAINERS = (list, tuple, dict, set, frozenset)
_SCALARS = frozenset({int, float, bool, type(None)})


def size_of(value: Any, limit: int = limits.MAX_SIZE) -> int:
    """Characters plus items of ``value``, through nesting; refused past ``limit``.

    Shared parts count each time they appear (that is what printing them costs),
    but each distinct container is walked once, so the measure is cheap even for
    a list that holds itself a million times over.
    """
    kind = type(value)
    if kind is str:  # the common case, without a walk
        total = len(value)
        if total >= 100:
            spend(total // 100)
        if total > limit:
            raise LimitReached(f"a value of more than {limit:,} characters or items")
        return total
    if kind in _SCALARS:
        return 1
    memo: dict[int, int] = {}
    total = _measure(value, memo)
    # Walking the containers is work, and so is whatever is done with the value
    # (Python-level work per item, C-level per character of a string): a unit per
    # ten items, or per hundred characters, keeps big values from being free.
    spend(len(memo) + total // 10)
    if total > limit:
        raise LimitReached(f"a value of more than {limit:,} characters or items")
    return total


def _measure(value: Any, memo: dict[int, int]) -> int:
    if isinstance(value, FLAT):
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


def refuse_width(width: Any, what: str) -> None:
    if isinstance(width, int) and width > limits.MAX_SIZE:
        raise LimitReached(f"{what} {width:,} is larger than {limits.MAX_SIZE:,}")


def refuse_total(total: int, what: str) -> None:
    if total > limits.MAX_SIZE:
        raise LimitReached(f"{what} would make more than {limits.MAX_SIZE:,} characters or items")


def int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def refuse_bits(bits: int) -> None:
    if bits > limits.MAX_INT_BITS:
        raise LimitReached(f"an integer of more than {limits.MAX_INT_BITS:,} bits")


def counted(items: Iterator[Any]) -> Iterator[Any]:
    for item in items:
        spend(1)
        yield item
