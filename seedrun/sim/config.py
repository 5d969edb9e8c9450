"""The simulator's knobs: one frozen record, defaults that behave like a healthy API."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimConfig:
    """How the simulated Seedance API behaves.

    Every random decision (run time, injected faults, server-chosen seeds) is a
    hash of ``(seed, entity, purpose)``, so two simulators with the same config
    answer the same requests the same way, whatever order they arrive in.
    """

    api_key: str = "sim-key"
    # Run time of a task: uniform in the range, deterministic per task.
    task_seconds: tuple[float, float] = (2.0, 4.0)
    # Server-side cap: tasks beyond it wait in `queued`, first come first served.
    concurrency: int | None = 10
    seed: int = 0
    # Prompt text containing it -> the task ends failed with the doc's policy message.
    fail_marker: str = "[policy-fail]"
    # Moderation: image URLs containing it are not passed.
    reject_marker: str = "reject"
    # Moderation: a URL containing it gets the sync wrapper's timeout error.
    moderation_timeout_marker: str = "slow-moderation"
    # Token bucket over all API requests; excess -> 429 + Retry-After (seconds).
    rate_limit_rps: float | None = None
    # Fraction of creates answered 500 WITHOUT creating a task.
    error_rate_before: float = 0.0
    # Fraction of creates that DO create a task and then answer 500.
    error_rate_after: float = 0.0
    # Fraction of task GETs (and list calls) answered 503.
    get_error_rate: float = 0.0
    # Read-after-write lag of a gateway: each task's first N GETs answer 404.
    read_lag_gets: int = 0
    # Fraction of task GETs answered with another task's object (its id, its
    # status); a list answer then also carries an item nobody asked for.
    wrong_id_rate: float = 0.0
    # Run time grows with the video: task_seconds is for a 5 s video, a 15 s
    # one runs 3 times as long.
    scale_by_duration: bool = False
    # Fraction of files whose first download is cut short.
    truncate_rate: float = 0.0
    # Video/last-frame URLs expire after this many seconds -> 403.
    url_ttl: float | None = None
    # Added seconds before every API answer.
    latency: float = 0.0
    # GET /api/v3/contents/generations/tasks (list); off -> 404.
    list_endpoint: bool = True
    # GET of an older task -> 404.
    retention_seconds: float = 7 * 86400
    # Extra queue wait for service_tier=flex before joining the FCFS queue.
    flex_queue_seconds: float = 0.0
    # Draft tasks run this many times faster.
    draft_speedup: float = 4.0
    # Path of a JSON-lines request log. Records never hold header values.
    request_log: str | None = None
    # Create parameters this "gateway" does not know: a create that sets one
    # (top level for official, metadata for unified) is answered 400 naming it.
    unsupported_params: tuple[str, ...] = ()
    # Moderation GETs each image and applies the doc's limits, as the real service
    # does: an expired presigned URL or a private bucket fails (seedrun/sim/fetching.py).
    fetch_images: bool = False

    def __post_init__(self) -> None:
        low, high = self.task_seconds
        if not 0 <= low <= high:
            raise ValueError(f"task_seconds must be 0 <= low <= high, got {self.task_seconds}")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.rate_limit_rps is not None and self.rate_limit_rps <= 0:
            raise ValueError(f"rate_limit_rps must be positive, got {self.rate_limit_rps}")
        for name in ("error_rate_before", "error_rate_after", "get_error_rate", "truncate_rate",
                     "wrong_id_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.read_lag_gets < 0:
            raise ValueError(f"read_lag_gets must be at least 0, got {self.read_lag_gets}")
        if self.draft_speedup <= 0:
            raise ValueError(f"draft_speedup must be positive, got {self.draft_speedup}")
        if not self.api_key:
            raise ValueError("api_key must not be empty")
