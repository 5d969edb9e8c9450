"""An httpx transport for downloads that connects only to allowed addresses.

Checking a URL's host name is not enough: any name can resolve to
``127.0.0.1`` or ``169.254.169.254``, and a name checked now may resolve
differently when the connection is made (DNS rebinding). So this transport's
network backend resolves the name itself, checks *every* address it got
(:func:`seedrun.hosts.address_problem`), and connects to a checked address,
never to the name. TLS still verifies the certificate against the URL's host
name: httpcore passes the request's host as ``server_hostname``.

The rule runs on every connection, so it covers redirects too. Behind an
``HTTPS_PROXY``/``HTTP_PROXY`` the proxy makes the connection, and only the
address literals in the URL are checked (by the caller, see client.py).
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx
import trio

from seedrun.errors import DownloadRefused
from seedrun.hosts import IPAddress, address_problem, host_address

__all__ = ["GuardedBackend", "Resolver", "guarded_transport", "resolve_host"]

# (host, port) -> the addresses it resolves to, as text.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

RESOLVE_TIMEOUT = 15.0


async def resolve_host(host: str, port: int) -> Sequence[str]:
    """Every address ``host`` resolves to (trio runs the lookup in a thread, cancellably)."""
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to a checked address."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._resolve = resolver or resolve_host
        self._inner = inner or httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._checked(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:  # in the resolver's order, as a plain connect would
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DownloadRefused("downloads never use a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    async def _checked(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        literal = host_address(host)
        if literal is not None:
            found = [literal]
        else:
            try:
                with trio.fail_after(RESOLVE_TIMEOUT if timeout is None else timeout):
                    texts = await self._resolve(host, port)
            except trio.TooSlowError:
                raise httpcore.ConnectTimeout(f"looking up {host} took too long") from None
            except OSError as exc:  # socket.gaierror: no such name
                raise httpcore.ConnectError(f"cannot look up {host}: {exc}") from None
            found = [a for a in (host_address(t) for t in texts) if a is not None]
            if not found:
                raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in found:
            why = address_problem(address, allow_private=self._allow_private)
            if why is not None:
                shown = host if literal is not None else f"{host} (resolves to {address})"
                raise DownloadRefused(
                    f"refusing to download from {shown}: {why}; pass "
                    "--allow-private-downloads to apply to allow it"
                )
        return found


def guarded_transport(
    *,
    allow_private: bool,
    limits: httpx.Limits,
    resolver: Resolver | None = None,
    inner: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncHTTPTransport:
    """An ``AsyncHTTPTransport`` whose connections go through a :class:`GuardedBackend`.

    httpx does not take a network backend, so the pool it built is replaced by
    one with the same settings and ours (httpx maps its errors as usual).
    """
    transport = httpx.AsyncHTTPTransport(limits=limits)
    built = transport._pool  # the default pool: only its TLS context is kept
    ssl_context = getattr(built, "_ssl_context", None)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(
            allow_private=allow_private, resolver=resolver, inner=inner
        ),
    )
    return transport
