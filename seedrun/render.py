"""Sandboxed jinja2 rendering of the strings in a job."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment


class RenderError(Exception):
    """A template failed; the message is ready for a diagnostic."""


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    # autoescape off: these are prompts and URLs, not HTML. The report escapes on output.
    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return _env().from_string(source)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source``; every failure becomes a RenderError naming the cause."""
    if not is_template(source):
        return source
    try:
        return _compile(source).render(context)
    except jinja2.UndefinedError as exc:
        raise RenderError(f"undefined template variable: {exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise RenderError(f"template refused by the sandbox: {exc}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"template syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"template error: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RenderError(f"template error: {type(exc).__name__}: {exc}") from None
