"""One small tree of error types.

Every error the user can cause or meet is a ``SeedrunError``; the CLI maps it
to a one-line message and ``exit_code``. Nothing here may ever hold the API key:
messages are built from server answers and spec text only.
"""

from __future__ import annotations

from dataclasses import dataclass

# Documented exit codes (README, "Exit codes").
EXIT_OK = 0
EXIT_JOBS_FAILED = 1
EXIT_USAGE = 2
EXIT_PLAN_CHANGES = 3  # plan --detailed-exitcode: apply has work to do (as terraform's 2)
EXIT_INTERRUPTED = 130


class SeedrunError(Exception):
    """Root of every error seedrun raises on purpose."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec file, located by YAML node marks."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(SeedrunError):
    """An invalid spec. Carries every diagnostic found, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.col, d.path))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ConfigError(SeedrunError):
    """Bad configuration or usage: missing key, bad flag value, unreadable file."""


class LockError(SeedrunError):
    """The lockfile is unreadable, invalid, or held by another run."""


class ApiError(SeedrunError):
    """An answer from the Seedance API that seedrun cannot turn into progress.

    ``status`` is the HTTP status (0 when no answer arrived). ``code`` and
    ``message`` come from the server's error body when it has one.
    """

    exit_code = EXIT_JOBS_FAILED

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


class AuthError(ApiError):
    """401/403: the whole run stops at once, without retries."""

    exit_code = EXIT_USAGE


class RequestRejected(ApiError):
    """400/422: this job's request was refused; the server's message is kept."""


class RateLimited(ApiError):
    """429 that outlived the client's retries."""

    def __init__(self, message: str, *, retry_after: float | None, status: int = 429) -> None:
        super().__init__(message, status=status, code="rate_limited")
        self.retry_after = retry_after


class TransientError(ApiError):
    """5xx, timeout or connection error that outlived the client's retries."""


class BadResponse(ApiError):
    """A body that is not JSON, or not of the documented shape."""


class CreateUnknown(ApiError):
    """A create request whose outcome is unknown: a task may or may not exist.

    The API has no idempotency key, so seedrun never resubmits on its own.
    """


class TaskNotFound(ApiError):
    """GET answered 404 (or the task is past the 7-day retention)."""


class Unsupported(ApiError):
    """The flavour or server does not offer this operation (cancel, list)."""


class DownloadError(ApiError):
    """A video could not be downloaded whole."""


class UrlExpired(DownloadError):
    """403/404/410 on a download URL: fetch the task again for a fresh one."""


class CreateAnswerUnreadable(CreateUnknown, BadResponse):
    """A create answered 2xx with a body seedrun cannot read.

    A task was most likely created, so this is a ``CreateUnknown`` (never
    resubmit) as well as a ``BadResponse`` (the body is quoted in the message).
    """


class StorageError(SeedrunError):
    """A bucket (uploads or outputs) refused or failed a request.

    Messages name the bucket, the key and the asset; never a credential (they
    come from the AWS environment and are only ever read by boto3).
    ``fatal`` marks refusals that no retry helps: bad credentials, no such bucket.
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        self.message = message
        self.fatal = fatal
        super().__init__(message)


class DownloadRefused(DownloadError):
    """A download seedrun will not make: a private address, too big, not http(s).

    Never retried: another attempt would be refused the same way.
    """


class InvalidRequest(ApiError):
    """A request seedrun cannot even build (a task id too long for a URL)."""
