"""The Seedance API over httpx: create, get, list, cancel, moderate, download.

Retries live here and follow one rule for creates: the API has no idempotency
key, so a create is retried only when it certainly created nothing (the
connection was never established, or the answer was 429). Any other failure of
a create is ``CreateUnknown`` and is never resubmitted.

The API key goes only into ``Authorization`` headers of requests to the API
base URL's origin. Downloads use a second httpx client that never has it.
Everything a server says is scrubbed of it at this boundary (the raw answer
before it is parsed, and the parsed records after), so a server that echoes
the key cannot make seedrun print, journal or record it.

A gateway may be hostile, so every answer is bounded: an API answer has an
overall deadline and a size cap, never follows a redirect, and every transport
failure becomes an error of seedrun's tree (see docs/gateways.md). Downloads
have a size cap and a minimum speed, and connect only to public addresses
unless the API itself is on loopback or the user allows private ones
(netguard.py checks the address actually connected).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pathlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpcore
import httpx
import trio

from seedrun import answers, netguard
from seedrun.api_facts import APIS, MODEL, MODERATION_MAX_URLS
from seedrun.errors import (
    ApiError,
    AuthError,
    BadResponse,
    ConfigError,
    CreateAnswerUnreadable,
    CreateUnknown,
    DownloadError,
    DownloadRefused,
    InvalidRequest,
    RateLimited,
    RequestRejected,
    TaskNotFound,
    TransientError,
    Unsupported,
    UrlExpired,
)
from seedrun.hosts import is_loopback_host, literal_host_problem
from seedrun.models import Download, Moderation, TaskState
from seedrun.pacer import Pacer
from seedrun.scrub import Scrubber
from seedrun.store import fsync_dir

__all__ = ["ClientStats", "SeedanceClient"]

log = logging.getLogger(__name__)

TASK_PATHS = {"official": "/api/v3/contents/generations/tasks", "unified": "/v1/video/generations"}
MODERATION_PATH = "/v1/images/moderations"
CREATE_DEADLINE = 300.0  # a create's whole answer, once sent
REQUEST_DEADLINE = 120.0  # any other API request's whole answer, per attempt
MAX_RETRY_AFTER = 120.0  # the longest Retry-After honoured; a longer one waits this long
MAX_ANSWER_BYTES = 8 << 20  # an API answer larger than this is a bad answer
MAX_DOWNLOAD_BYTES = 2 << 30  # settings.max_download_bytes default
MIN_DOWNLOAD_RATE = 16 << 10  # bytes/s a download must average over each window
DOWNLOAD_WINDOW = 30.0  # seconds
MAX_DOWNLOAD_REDIRECTS = 5
MODERATION_TIMEOUT_RETRIES = 3
MODERATION_CONCURRENCY = 4
DOWNLOAD_ATTEMPTS = 3
WRITE_CHUNK = 1 << 20
LIST_MAX_PAGES = 500

# Failures after which the request certainly never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass
class ClientStats:
    """Request counters for a progress view. Retries are counted once each in
    ``retries``; the other counters count logical requests (list: pages)."""

    creates: int = 0
    gets: int = 0
    lists: int = 0
    cancels: int = 0
    moderations: int = 0
    downloads: int = 0
    retries: int = 0
    rate_limited: int = 0


class _BearerAuth(httpx.Auth):
    """Adds the key to requests for one origin only; its repr never shows it."""

    def __init__(self, key: str, origin: tuple[str, str, int | None]) -> None:
        self._key = key
        self._origin = origin

    def __repr__(self) -> str:
        return f"_BearerAuth(origin={self._origin!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) == self._origin:
            request.headers["Authorization"] = f"Bearer {self._key}"
        yield request


class _Retry(Exception):
    """A download attempt failed in a way another attempt may fix."""


@dataclass(frozen=True)
class _Answer:
    """One API answer, read whole (or as far as it could be) and scrubbed of the key.

    ``problem`` says why the body could not be read whole or as UTF-8 text;
    ``retryable`` whether another attempt may read it (a cut, not a size)."""

    status_code: int
    headers: httpx.Headers
    text: str
    problem: str | None = None
    retryable: bool = False

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class SeedanceClient:
    """One run's connection to the Seedance API (both flavours)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        pacer: Pacer | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        request_deadline: float = REQUEST_DEADLINE,
        max_retry_after: float = MAX_RETRY_AFTER,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        min_download_rate: float = MIN_DOWNLOAD_RATE,
        download_window: float = DOWNLOAD_WINDOW,
        allow_private_downloads: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        files_transport: httpx.AsyncBaseTransport | None = None,
        download_resolver: netguard.Resolver | None = None,
        download_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        """``allow_private_downloads`` lets downloads reach loopback and private
        addresses; it is implied when the API itself is on loopback (the simulator).
        ``download_resolver`` and ``download_backend`` replace the name lookup and
        the socket layer of downloads (tests use them to see every connect)."""
        if not api_key:
            raise ConfigError("the API key is empty")
        if not api_key.isprintable() or not api_key.isascii():
            raise ConfigError("the API key has characters that cannot go in an HTTP header")
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"base URL must be http(s)://host[:port], got {base_url!r}")
        if max_download_bytes < 1:
            raise ConfigError("max_download_bytes must be at least 1")
        self._base_url = base_url
        self._auth = _BearerAuth(api_key, _origin(url))  # the only holder of the key
        self._scrubber = Scrubber(api_key)
        self._pacer = pacer
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._request_deadline = request_deadline
        self._max_retry_after = max_retry_after
        self._max_download_bytes = max_download_bytes
        self._min_download_rate = min_download_rate
        self._download_window = download_window
        self._allow_private = allow_private_downloads or is_loopback_host(url.host)
        self.stats = ClientStats()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            auth=self._auth,
            timeout=timeout,
            limits=limits,
            transport=transport,
            follow_redirects=False,  # a redirect of an API call is a bad answer, not followed
        )
        if files_transport is None and (transport is None or download_backend is not None):
            files_transport = netguard.guarded_transport(
                allow_private=self._allow_private,
                limits=limits,
                resolver=download_resolver,
                inner=download_backend,
            )
        self._files = httpx.AsyncClient(
            timeout=timeout,
            limits=limits,
            transport=files_transport or transport,
            follow_redirects=True,
            max_redirects=MAX_DOWNLOAD_REDIRECTS,
            headers={"Accept-Encoding": "identity"},
            event_hooks={"request": [self._check_download_hop]},
        )

    def __repr__(self) -> str:
        return f"SeedanceClient(base_url={self._base_url!r}, pacer={self._pacer!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await self._http.aclose()
            await self._files.aclose()

    # -- tasks -------------------------------------------------------------

    async def create(
        self,
        api: str,
        body: dict[str, Any],
        *,
        on_send: Callable[[], Awaitable[None]] | None = None,
    ) -> TaskState:
        """Submit one task. Never resubmits unless nothing can have been created.

        Cancellation: waiting for the pacer, and waiting between attempts that
        certainly created nothing, can be cancelled, and then nothing exists. From
        ``on_send`` (awaited before each attempt's bytes go out: the caller journals
        the create there) until the answer is read, the create is shielded, so an
        answer the server gave is always returned. The parse below has no
        checkpoint, so no Cancelled can come between the answer and the caller.
        """
        path = _task_path(api)
        with self._redacting():
            self.stats.creates += 1
            resp = await self._send("POST", path, json=body, create=True, on_send=on_send)
            if not resp.is_success:
                raise self._refusal(resp, "create")
            try:
                state = answers.parse_task_body(resp.text, api=api, default_status="queued")
            except BadResponse as exc:
                raise CreateAnswerUnreadable(
                    f"create answered HTTP {resp.status_code} but {exc.message}; "
                    "a task may exist, not resubmitting",
                    status=resp.status_code,
                ) from None
            return self._scrubber.record(state)

    async def get(self, api: str, task_id: str) -> TaskState:
        path = f"{_task_path(api)}/{quote(task_id, safe='')}"
        with self._redacting():
            self.stats.gets += 1
            resp = await self._send("GET", path)
            if resp.status_code == 404:
                raise TaskNotFound(f"task {task_id!r} not found (HTTP 404)", status=404)
            if not resp.is_success:
                raise self._refusal(resp, f"get {task_id!r}")
            state = answers.parse_task_body(resp.text, api=api, fallback_id=task_id)
            return self._scrubber.record(state)

    async def list_tasks(
        self, task_ids: Sequence[str], *, page_size: int = 100
    ) -> dict[str, TaskState]:
        """States of the given tasks from the official list endpoint, as many as it
        reports. Raises Unsupported (404/405/400) so the caller can GET one by one."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        wanted = list(dict.fromkeys(task_ids))
        found: dict[str, TaskState] = {}
        with self._redacting():
            for start in range(0, len(wanted), page_size):
                await self._list_chunk(wanted[start : start + page_size], page_size, found)
        return found

    async def _list_chunk(
        self, chunk: list[str], page_size: int, found: dict[str, TaskState]
    ) -> None:
        want = set(chunk)
        for page in range(1, LIST_MAX_PAGES + 1):
            params = httpx.QueryParams(
                {"page_num": page, "page_size": page_size, "filter.task_ids": chunk}
            )
            self.stats.lists += 1
            resp = await self._send("GET", TASK_PATHS["official"], params=params)
            if resp.status_code in (400, 404, 405):
                raise Unsupported(
                    f"the task list endpoint is not available (HTTP {resp.status_code})",
                    status=resp.status_code,
                )
            if not resp.is_success:
                raise self._refusal(resp, "list")
            states, total = answers.parse_task_page(resp.text)
            states = [self._scrubber.record(s) for s in states]
            found.update((s.task_id, s) for s in states if s.task_id in want)
            if (
                len(states) < page_size
                or want <= found.keys()
                or (total is not None and page * page_size >= total)
            ):
                return

    async def cancel(self, api: str, task_id: str) -> None:
        """Cancel (or delete) a task; official flavour only."""
        path = f"{_task_path(api)}/{quote(task_id, safe='')}"
        if api != "official":
            raise Unsupported("cancel has no unified form")
        with self._redacting():
            self.stats.cancels += 1
            resp = await self._send("DELETE", path)
            if resp.status_code == 404:
                raise TaskNotFound(f"task {task_id!r} not found (HTTP 404)", status=404)
            if resp.status_code == 405:
                raise Unsupported("the server does not offer cancel (HTTP 405)", status=405)
            if not resp.is_success:
                raise self._refusal(resp, f"cancel {task_id!r}")

    # -- moderation ----------------------------------------------------------

    async def moderate(self, urls: Sequence[str], *, batch_size: int = 1) -> dict[str, Moderation]:
        """Moderate image URLs, ``batch_size`` per request (a few requests at once)."""
        if not 1 <= batch_size <= MODERATION_MAX_URLS:
            raise ValueError(f"batch_size must be between 1 and {MODERATION_MAX_URLS}")
        unique = list(dict.fromkeys(urls))
        found: dict[str, Moderation] = {}
        failures: list[ApiError] = []
        limiter = trio.CapacityLimiter(MODERATION_CONCURRENCY)

        async def one(batch: list[str], nursery: trio.Nursery) -> None:
            async with limiter:
                try:
                    found.update(await self._moderate_batch(batch))
                except ApiError as exc:  # first failure wins; no ExceptionGroup for callers
                    failures.append(exc)
                    nursery.cancel_scope.cancel()

        with self._redacting():
            async with trio.open_nursery() as nursery:
                for start in range(0, len(unique), batch_size):
                    nursery.start_soon(one, unique[start : start + batch_size], nursery)
            if failures:
                raise failures[0]
        return {url: found[url] for url in unique}

    async def _moderate_batch(self, batch: list[str]) -> dict[str, Moderation]:
        body = {"model": MODEL, "images": batch}
        for attempt in range(MODERATION_TIMEOUT_RETRIES + 1):
            self.stats.moderations += 1
            resp = await self._send("POST", MODERATION_PATH, json=body)
            timeout = answers.moderation_timeout(resp.text)
            if timeout is None:
                if not resp.is_success:
                    raise self._refusal(resp, "moderation")
                verdicts = answers.parse_moderation(resp.text, batch)
                # Keyed by our own URLs; only the server's words are scrubbed.
                return {url: self._scrubber.record(m) for url, m in verdicts.items()}
            if attempt == MODERATION_TIMEOUT_RETRIES:
                raise TransientError(
                    f"moderation timed out {attempt + 1} times: {timeout}",
                    status=resp.status_code,
                )
            await self._retry_sleep(self._backoff(attempt), f"moderation timed out: {timeout}")
        raise AssertionError("unreachable")

    # -- downloads -----------------------------------------------------------

    async def download(self, url: str, dest: pathlib.Path) -> Download:
        """Stream ``url`` to ``dest`` atomically, verifying length; sha256 on the fly.
        Raises UrlExpired on 403/404/410, DownloadRefused for a URL seedrun will
        not fetch (never retried), and DownloadError when retries run out."""
        dest = pathlib.Path(dest)
        where = _public_part(url)
        with self._redacting():
            self.stats.downloads += 1
            _check_download_url(url, where, allow_private=self._allow_private)
            await trio.Path(dest.parent).mkdir(parents=True, exist_ok=True)
            reason = ""
            for attempt in range(DOWNLOAD_ATTEMPTS):
                if attempt:
                    await self._retry_sleep(self._backoff(attempt - 1), f"download: {reason}")
                try:
                    return await self._download_once(url, where, dest)
                except _Retry as exc:
                    reason = str(exc)
            raise DownloadError(f"download of {where} failed {DOWNLOAD_ATTEMPTS} times: {reason}")

    async def _check_download_hop(self, request: httpx.Request) -> None:
        """Every request of a download, the redirects included, before it is sent."""
        _check_download_url(
            str(request.url), _public_part(str(request.url)), allow_private=self._allow_private
        )

    async def _download_once(self, url: str, where: str, dest: pathlib.Path) -> Download:
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.part")
        saved = False
        try:
            async with self._files.stream("GET", url) as resp:
                status = resp.status_code
                if status in (403, 404, 410):
                    raise UrlExpired(
                        f"download URL {where} answered HTTP {status}; "
                        "fetch the task again for a fresh URL",
                        status=status,
                    )
                if status >= 500 or status in (408, 429):
                    raise _Retry(f"HTTP {status}")
                if not resp.is_success:
                    raise DownloadError(
                        f"download URL {where} answered HTTP {status}", status=status
                    )
                result = await self._save(resp, where, tmp, dest)
                saved = True
                return result
        except httpx.UnsupportedProtocol:
            raise DownloadError(f"cannot download {where}: not an http(s) URL") from None
        except httpx.InvalidURL:
            raise DownloadError(f"cannot download {where}: invalid URL") from None
        except httpx.TooManyRedirects:
            raise DownloadError(
                f"cannot download {where}: more than {MAX_DOWNLOAD_REDIRECTS} redirects"
            ) from None
        except httpx.DecodingError as exc:
            raise DownloadError(
                f"cannot download {where}: the body does not decode as its "
                f"Content-Encoding header says ({_describe(exc)})"
            ) from None
        except httpx.TransportError as exc:
            raise _Retry(_describe(exc)) from None
        except httpx.HTTPError as exc:  # any other httpx failure: one line, not a traceback
            raise DownloadError(f"cannot download {where}: {_describe(exc)}") from None
        finally:
            if not saved:
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await trio.to_thread.run_sync(_unlink_quietly, tmp)

    async def _save(
        self, resp: httpx.Response, where: str, tmp: pathlib.Path, dest: pathlib.Path
    ) -> Download:
        cap = self._max_download_bytes
        expected = resp.headers.get("Content-Length")
        if expected is not None and expected.isdigit() and int(expected) > cap:
            raise DownloadRefused(
                f"download of {where} is {int(expected)} bytes, more than the "
                f"{cap} of settings.max_download_bytes"
            )
        digest = hashlib.sha256()
        size = 0
        async with await trio.open_file(tmp, "wb") as out:
            buf = bytearray()
            # A minimum speed, not only httpx's per-read timeout: a server that drips a
            # byte at a time would restart that timeout forever. Each window must bring
            # its share of bytes; each full share moves the deadline one window on.
            window = self._download_window
            share = max(1, int(self._min_download_rate * window))
            with trio.move_on_after(window) as slow:
                next_mark = share
                async for chunk in resp.aiter_bytes():
                    digest.update(chunk)
                    size += len(chunk)
                    if size > cap:
                        raise DownloadRefused(
                            f"download of {where} passed the {cap} bytes of "
                            "settings.max_download_bytes; the partial file was removed"
                        )
                    if size >= next_mark:
                        next_mark = size + share
                        slow.deadline = trio.current_time() + window
                    buf += chunk
                    if len(buf) >= WRITE_CHUNK:
                        await out.write(bytes(buf))
                        buf.clear()
            if slow.cancelled_caught:
                raise _Retry(
                    f"too slow: less than {share} bytes in {window:g} s "
                    f"({size} bytes received)"
                )
            await out.write(bytes(buf))
            # Content-Length counts the bytes on the wire, which differ only when encoded.
            encoded = resp.headers.get("Content-Encoding", "identity") != "identity"
            received = resp.num_bytes_downloaded if encoded else size
            if expected is not None and expected.isdigit() and received != int(expected):
                raise _Retry(f"truncated: {received} of {expected} bytes")
            await out.flush()
            await trio.to_thread.run_sync(os.fsync, out.fileno())
        await trio.to_thread.run_sync(os.replace, tmp, dest)
        await trio.to_thread.run_sync(fsync_dir, dest.parent)
        return Download(path=str(dest), sha256=digest.hexdigest(), bytes=size)

    # -- the request loop ----------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: httpx.QueryParams | None = None,
        create: bool = False,
        on_send: Callable[[], Awaitable[None]] | None = None,
    ) -> _Answer:
        """Send one API request, retrying what is safe to retry. Returns the first
        answer that is not 429/5xx/3xx; raises AuthError on 401/403 at once."""
        what = f"{method} {path}"
        try:
            request = self._http.build_request(method, path, json=json, params=params)
        except httpx.InvalidURL as exc:  # e.g. a task id of megabytes from a bad answer
            raise InvalidRequest(f"{answers.snippet(what)}: cannot build the URL: {exc}") from None
        what = answers.snippet(what)
        deadline = CREATE_DEADLINE if create else self._request_deadline
        for attempt in range(self._max_retries + 1):
            last = attempt == self._max_retries
            if self._pacer is not None:
                await self._pacer.acquire()
            try:
                # Only bytes on the wire are shielded: a create waiting for its turn
                # above is dropped by Ctrl-C, a create sent below always returns.
                with trio.CancelScope(shield=create):
                    if on_send is not None:
                        await on_send()
                    with trio.fail_after(deadline):
                        resp = await self._exchange(request)
            except trio.TooSlowError:
                if create:
                    raise CreateUnknown(
                        f"{what}: no answer within {CREATE_DEADLINE:g} s after the request "
                        "was sent; a task may exist, not resubmitting"
                    ) from None
                failure, failed_status = f"no whole answer within {deadline:g} s", 0
                delay = self._backoff(attempt)
            except _NOT_SENT as exc:  # never reached the server: safe even for a create
                failure, failed_status = _describe(exc), 0
                delay = self._backoff(attempt)
            except httpx.HTTPError as exc:  # sent, then the exchange broke
                if create:
                    raise CreateUnknown(
                        f"{what}: {_describe(exc)} after the request was sent; "
                        "a task may exist, not resubmitting"
                    ) from None
                failure, failed_status = _describe(exc), 0
                delay = self._backoff(attempt)
            else:
                status = resp.status_code
                if 300 <= status < 400:
                    raise self._redirected(resp, what, create=create)
                if status in (401, 403):
                    code, message = answers.error_fields(resp.text)
                    raise AuthError(f"{what}: HTTP {status}: {message}", status=status, code=code)
                if status == 429:
                    wait = self._rate_limited(resp, what)
                    if last:
                        raise RateLimited(
                            f"{what}: HTTP 429 after {attempt + 1} attempts", retry_after=wait
                        )
                    failure, failed_status = "HTTP 429", status
                    delay = self._backoff(attempt) if wait is None else wait
                elif status >= 500 or status == 408:
                    if create:
                        _, message = answers.error_fields(resp.text)
                        raise CreateUnknown(
                            f"{what}: HTTP {status} ({message}); "
                            "a task may exist, not resubmitting",
                            status=status,
                        )
                    failure, failed_status = f"HTTP {status}", status
                    delay = self._backoff(attempt)
                elif resp.is_success and resp.problem is not None:
                    if create:
                        raise CreateAnswerUnreadable(
                            f"create answered HTTP {status} but {resp.problem}; "
                            "a task may exist, not resubmitting",
                            status=status,
                        )
                    if not resp.retryable:
                        raise BadResponse(
                            f"{what}: HTTP {status} but {resp.problem}", status=status
                        )
                    failure, failed_status = resp.problem, status
                    delay = self._backoff(attempt)
                else:
                    if self._pacer is not None:
                        self._pacer.note_success()
                    return resp
            if last:
                raise TransientError(
                    f"{what}: {failure}, {attempt + 1} attempts", status=failed_status
                )
            await self._retry_sleep(delay, f"{what}: {failure}")
        raise AssertionError("unreachable")

    async def _exchange(self, request: httpx.Request) -> _Answer:
        """Send ``request`` and read its answer, at most MAX_ANSWER_BYTES of it.

        Raises only for failures before an answer began; a body that breaks off,
        does not decode or is too big is an answer with a ``problem``, so the
        caller decides with the status in hand (a create that answered 2xx has
        most likely created a task)."""
        resp = await self._http.send(request, stream=True)
        content = bytearray()
        problem: str | None = None
        retryable = False
        try:
            async for chunk in resp.aiter_bytes():
                content += chunk
                if len(content) > MAX_ANSWER_BYTES:
                    problem = f"the answer is larger than {MAX_ANSWER_BYTES >> 20} MiB"
                    break
        except httpx.DecodingError as exc:
            encoding = resp.headers.get("Content-Encoding", "")
            problem = (
                f"the answer does not decode as its Content-Encoding {encoding!r} says "
                f"({_describe(exc)})"
            )
            retryable = True
        except httpx.TransportError as exc:  # cut off mid-way, a broken chunk, a reset
            problem, retryable = f"the answer broke off: {_describe(exc)}", True
        finally:
            await resp.aclose()
        raw = bytes(content)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", errors="replace")
            problem = problem or f"the answer is not UTF-8 text (bad byte at offset {exc.start})"
        return _Answer(
            status_code=resp.status_code,
            headers=resp.headers,
            text=self._scrub(text),
            problem=None if problem is None else self._scrub(problem),
            retryable=retryable,
        )

    def _redirected(self, resp: _Answer, what: str, *, create: bool) -> ApiError:
        """A 3xx of an API call: never followed (the key must not travel with it)."""
        status = resp.status_code
        location = answers.snippet(self._scrub(resp.headers.get("Location", "")))
        to = f" to {location!r}" if location else ""
        if create and status == 303:
            # 303 See Other says the POST was processed and its result is elsewhere.
            return CreateUnknown(
                f"{what}: HTTP 303 redirect{to}; a task may exist, not resubmitting "
                "(seedrun does not follow redirects of API calls: check the base URL)",
                status=status,
            )
        return BadResponse(
            f"{what}: HTTP {status} redirect{to}; seedrun does not follow redirects of "
            "API calls: check the base URL",
            status=status,
        )

    def _rate_limited(self, resp: _Answer, what: str) -> float | None:
        """Seconds to wait after a 429: its Retry-After, at most ``max_retry_after``."""
        asked = answers.parse_retry_after(resp.headers.get("Retry-After"), now=time.time())
        self.stats.rate_limited += 1
        wait = asked
        if asked is not None and asked > self._max_retry_after:
            log.warning(
                "%s: the server asks to wait %.0f s (Retry-After); waiting %.0f s, "
                "the most seedrun waits",
                what,
                asked,
                self._max_retry_after,
            )
            wait = self._max_retry_after
        if self._pacer is not None:
            self._pacer.note_rate_limited(wait)
        return wait

    def _refusal(self, resp: _Answer, what: str) -> ApiError:
        """The error for an answer that is neither success nor retryable."""
        status = resp.status_code
        code, message = answers.error_fields(resp.text)
        if 400 <= status < 500:
            return RequestRejected(
                f"{what} rejected (HTTP {status}): {message}", status=status, code=code
            )
        return BadResponse(
            f"{what}: unexpected HTTP {status}: {answers.snippet(resp.text)!r}", status=status
        )

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter (half fixed, half random)."""
        ceiling = min(self._backoff_cap, self._backoff_base * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def _retry_sleep(self, delay: float, why: str) -> None:
        self.stats.retries += 1
        log.info("retrying in %.2fs: %s", delay, self._scrub(why))
        await trio.sleep(delay)

    def _scrub(self, text: str) -> str:
        return self._scrubber.text(text)

    @contextlib.contextmanager
    def _redacting(self) -> Iterator[None]:
        """Strip the key from any error leaving the client (servers may echo it)."""
        try:
            yield
        except ApiError as exc:
            scrubbed = self._scrub(exc.message)
            if scrubbed != exc.message or any(self._scrub(str(a)) != str(a) for a in exc.args):
                exc.message = scrubbed
                exc.args = (scrubbed,)
            raise


def _check_download_url(url: str, where: str, *, allow_private: bool) -> None:
    """Refuse a download URL (or redirect hop) that is not http(s) or names a
    loopback/private address outright; names are checked again once resolved."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise DownloadError(f"cannot download {where}: invalid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DownloadError(f"cannot download {where}: not an http(s) URL")
    why = literal_host_problem(parsed.host, allow_private=allow_private)
    if why is not None:
        raise DownloadRefused(
            f"refusing to download {where}: {parsed.host} is {why}; pass "
            "--allow-private-downloads to apply to allow it"
        )


def _task_path(api: str) -> str:
    if api not in APIS:
        raise ValueError(f"api must be one of {APIS}, got {api!r}")
    return TASK_PATHS[api]


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)


def _describe(exc: Exception) -> str:
    """Type and text of an httpx error; httpx messages never hold header values.

    An error with no text of its own (a TLS failure reaches httpx as a bare
    ConnectError) borrows the text of the first cause that has one."""
    cause: BaseException | None = exc
    text = ""
    for _ in range(6):
        if cause is None or (text := str(cause)):
            break
        cause = cause.__cause__ or cause.__context__
    text = answers.snippet(text.replace("\n", " "))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _public_part(url: str) -> str:
    """A download URL without its query (signed URLs carry tokens there)."""
    try:
        return answers.snippet(str(httpx.URL(url).copy_with(query=None, fragment=None)))
    except (httpx.InvalidURL, TypeError):
        return answers.snippet(url.split("?", 1)[0])


def _unlink_quietly(path: pathlib.Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
