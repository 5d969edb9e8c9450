"""Everything one running simulator remembers, open for tests to inspect.

``SimState`` holds the task engine, the asset ids moderation issued, counters
per endpoint, the rate-limit bucket, URL signing, and the request log. The log
records whether a request carried an Authorization header, never its value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import parse_qs

from seedrun.sim.config import SimConfig
from seedrun.sim.engine import Engine, SimTask, happens

FILE_PATHS = {"video": ("/files/videos/", ".mp4"), "frame": ("/files/frames/", ".png")}


@dataclass
class _Bucket:
    """Token bucket: ``rate`` tokens a second, holding at most one second's worth."""

    rate: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float | None:
        """Take a token; None when granted, else the seconds until one is free."""
        capacity = max(1.0, self.rate)
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


@dataclass
class SimState:
    """The live state of one simulator. Counters count requests that passed auth."""

    config: SimConfig
    engine: Engine = field(init=False)
    files_url: str = ""  # set by serve_sim once the files port is bound
    creates: int = 0
    gets: int = 0
    lists: int = 0
    cancels: int = 0
    moderations: int = 0
    downloads: int = 0  # file bodies sent, truncated ones included
    truncated: int = 0
    rate_limited: int = 0
    misdirected: int = 0  # answers that carried another task (wrong_id_rate)
    assets: set[str] = field(default_factory=set)  # asset:// URLs moderation issued
    requests: list[dict[str, Any]] = field(default_factory=list)  # the request log
    _bucket: _Bucket | None = field(init=False, default=None)
    _log: TextIO | None = field(init=False, default=None)
    _gets_per_entity: Counter[str] = field(default_factory=Counter)
    _answered_gets: Counter[str] = field(default_factory=Counter)
    _downloaded: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.engine = Engine(self.config, epoch_offset=time.time() - time.monotonic())
        if self.config.rate_limit_rps is not None:
            rate = self.config.rate_limit_rps
            self._bucket = _Bucket(rate, max(1.0, rate), self.now())

    @property
    def tasks(self) -> dict[str, SimTask]:
        """Every task created so far, by id (each keeps its request ``body``)."""
        return self.engine.tasks

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def happens(self, rate: float, entity: str, purpose: str) -> bool:
        return happens(rate, self.config.seed, entity, purpose)

    def get_fails(self, entity: str) -> bool:
        """Whether this GET of ``entity`` is answered 503 (the n-th GET is its own draw)."""
        self._gets_per_entity[entity] += 1
        n = self._gets_per_entity[entity]
        return self.happens(self.config.get_error_rate, f"{entity}#{n}", "get-503")

    def lagging(self, task_id: str) -> bool:
        """Whether this GET of an existing task is still inside the read-after-write lag."""
        self._answered_gets[task_id] += 1
        return self._answered_gets[task_id] <= self.config.read_lag_gets

    def answers_other(self, entity: str) -> bool:
        """Whether this answer carries another task's object (each GET its own draw)."""
        n = self._answered_gets.get(entity, 0)
        other = self.happens(self.config.wrong_id_rate, f"{entity}#{n}", "wrong-id")
        self.misdirected += other
        return other

    def retry_after(self, now: float) -> int | None:
        """None when the request may pass, else whole seconds for Retry-After."""
        if self._bucket is None:
            return None
        wait = self._bucket.take(now)
        if wait is None:
            return None
        self.rate_limited += 1
        return max(1, math.ceil(wait))

    # --- file URLs ---------------------------------------------------------

    def _signature(self, path: str, expires: str) -> str:
        key = hashlib.sha256(f"seedrun-sim-urls:{self.config.seed}".encode()).digest()
        return hmac.new(key, f"{path}?{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def mint_url(self, task: SimTask, kind: str) -> str:
        """A fresh URL for the task's video or last frame, signed when URLs expire."""
        prefix, suffix = FILE_PATHS[kind]
        path = f"{prefix}{task.id}{suffix}"
        if self.config.url_ttl is None:
            return f"{self.files_url}{path}"
        expires = f"{time.time() + self.config.url_ttl:.3f}"
        signature = self._signature(path, expires)
        return f"{self.files_url}{path}?expires={expires}&signature={signature}"

    def url_refusal(self, path: str, query: str) -> str | None:
        """Why a signed file URL is refused (403), or None when it is good."""
        if self.config.url_ttl is None:
            return None
        params = parse_qs(query)
        expires = params.get("expires", [""])[0]
        signature = params.get("signature", [""])[0]
        if not expires or not hmac.compare_digest(signature, self._signature(path, expires)):
            return "Signature does not match"
        if time.time() > float(expires):
            return "Request has expired"
        return None

    def truncates(self, path: str) -> bool:
        """Whether to cut this download short: only a file's first download can be."""
        first = path not in self._downloaded
        self._downloaded.add(path)
        return first and self.happens(self.config.truncate_rate, path, "truncate")

    # --- request log -------------------------------------------------------

    def open_log(self) -> None:
        if self.config.request_log is not None:
            self._log = open(self.config.request_log, "a", encoding="utf-8")  # noqa: SIM115

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def record(self, origin: str, method: str, path: str, query: str, status: int,
               has_auth: bool) -> None:
        if self.config.api_key in query:
            query = query.replace(self.config.api_key, "***")
        entry: dict[str, Any] = {
            "origin": origin,
            "method": method,
            "path": path,
            "query": query,
            "status": status,
            "time": round(self.now(), 6),
            "has_auth": has_auth,
        }
        self.requests.append(entry)
        if self._log is not None:
            self._log.write(json.dumps(entry) + "\n")
            self._log.flush()
