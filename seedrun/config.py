"""Where the API key and base URL come from. Precedence: CLI > environment > spec > default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from seedrun import hosts
from seedrun.errors import ConfigError

DEFAULT_BASE_URL = "https://cubicspaces.cloud"
KEY_ENV = "SEEDRUN_API_KEY"
BASE_URL_ENV = "SEEDRUN_BASE_URL"


@dataclass(frozen=True)
class ApiConfig:
    base_url: str
    api_key: str

    def __repr__(self) -> str:  # never show the key
        return f"ApiConfig(base_url={self.base_url!r}, api_key=<hidden>)"


def resolve(
    *, cli_base_url: str | None, spec_base_url: str | None, env: Mapping[str, str] | None = None
) -> ApiConfig:
    env = os.environ if env is None else env
    if spec_base_url and not (cli_base_url or env.get(BASE_URL_ENV)):
        hosts.check_spec_base_url(spec_base_url)
    base = cli_base_url or env.get(BASE_URL_ENV) or spec_base_url or DEFAULT_BASE_URL
    key = env.get(KEY_ENV, "").strip()
    if not key:
        raise ConfigError(
            f"no API key: set {KEY_ENV} (export {KEY_ENV}=...), or run against the built-in "
            "simulator with --sim"
        )
    return ApiConfig(base_url=base.rstrip("/"), api_key=key)


def check_spec_base_url(url: str | None) -> None:
    """The base-URL rule for specs (seedrun.hosts), for ``validate`` and ``apply`` alike."""
    if url:
        hosts.check_spec_base_url(url)
