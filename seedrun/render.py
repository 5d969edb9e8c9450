"""Sandboxed jinja2 rendering of the strings in a job.

The environment is deterministic (no ``random`` filter, no ``lipsum``), so the
same spec renders the same bodies, and therefore the same keys, everywhere.
Text without template syntax is returned as is, and rendering keeps a trailing
newline, so ``{{ }}`` never changes the text around it. Templates come from
untrusted specs: ``seedrun.sandbox`` bounds their size and work.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import new_context

from seedrun.sandbox import BoundedEnvironment, LimitReached, SpecBudget, render_bounded, running

__all__ = ["RenderError", "SimpleParts", "SpecBudget", "is_template", "render", "simple_names"]


class RenderError(Exception):
    """A template failed; the message is ready for a diagnostic."""


@lru_cache(maxsize=1)
def _env() -> BoundedEnvironment:
    # autoescape off: these are prompts and URLs, not HTML. The report escapes on output.
    env = BoundedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.globals.pop("lipsum", None)
    env.filters.pop("random", None)
    return env


# A template that is only text and plain ``{{ name }}`` lookups renders without
# jinja2's per-call machinery: (is_name, text) parts. Output is identical.
SimpleParts = tuple[tuple[bool, str], ...]
_MISSING = object()


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template | SimpleParts:
    env = _env()
    simple = _simple_parts(env.parse(source))
    return simple if simple is not None else env.from_string(source)


def _simple_parts(tree: nodes.Template) -> SimpleParts | None:
    parts: list[tuple[bool, str]] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((False, child.data))
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                parts.append((True, child.name))
            else:
                return None
    return tuple(parts)


def _render_simple(parts: SimpleParts, context: Mapping[str, Any]) -> str:
    out: list[str] = []
    for is_name, text in parts:
        if not is_name:
            out.append(text)
            continue
        value = context.get(text, _MISSING)
        if value is _MISSING:
            value = _env().globals.get(text, _MISSING)
            if value is _MISSING:
                raise jinja2.UndefinedError(f"{text!r} is undefined")
        out.append(value if type(value) is str else str(value))
    return "".join(out)


def simple_names(source: str) -> SimpleParts | None:
    """The (is_name, text) parts of a template of text and plain ``{{ name }}`` lookups.

    None for anything else, or a template that does not compile (``render`` reports it).
    """
    if not is_template(source):
        return None
    try:
        compiled = _compile(source)
    except Exception:
        return None
    return compiled if isinstance(compiled, tuple) else None


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def _undefined(message: str, context: Mapping[str, Any]) -> str:
    name = message.removesuffix(" is undefined")
    if name != message:
        return f"undefined template variable {name}; defined: {', '.join(sorted(context))}"
    return f"undefined template value: {message}"


def render(source: str, context: Mapping[str, Any], budget: SpecBudget | None = None) -> str:
    """Render ``source``; every failure becomes a RenderError naming the cause.

    ``budget`` is what all renderings of one spec may still spend; each rendering
    also has limits of its own (see ``seedrun.limits``).
    """
    if not is_template(source):
        return source
    try:
        with running(budget):
            compiled = _compile(source)
            if isinstance(compiled, tuple):
                return _render_simple(compiled, context)
            # Template.render() copies every global into a new dict per call; share instead.
            env = _env()
            ctx = new_context(env, None, compiled.blocks, {**env.globals, **context}, shared=True)
            return render_bounded(compiled.root_render_func(ctx))
    except jinja2.UndefinedError as exc:
        raise RenderError(_undefined(exc.message or "", context)) from None
    except LimitReached as exc:
        raise RenderError(f"template exceeds a limit: {exc} (see docs/limits.md)") from None
    except MemoryError:
        raise RenderError("template error: out of memory") from None
    except jinja2.exceptions.SecurityError as exc:
        raise RenderError(f"template refused by the sandbox: {exc}") from None
    except jinja2.TemplateSyntaxError as exc:
        where = f" (template line {exc.lineno})" if exc.lineno and exc.lineno > 1 else ""
        raise RenderError(f"template syntax error: {exc.message}{where}") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"template error: {exc}") from None
    except RecursionError:
        raise RenderError("template error: recursion too deep") from None
    except Exception as exc:  # the template's own code failed: a spec error, not a crash
        raise RenderError(f"template error: {type(exc).__name__}: {exc}") from None
