"""Which hosts seedrun talks to. Pure: no IO, no trio, no httpx.

Two rules live here, each in one place:

- **The API base URL a spec names.** A spec is edited in pull requests and the
  key follows the base URL, so a spec may only name an ``https://`` host, or
  plain ``http://`` on this machine. "On this machine" means the host *is* a
  loopback address (``127.0.0.0/8``, ``::1``) or exactly ``localhost``; it is
  parsed, never matched by prefix, so ``127.0.0.1.attacker.example`` is a
  name like any other.
- **The addresses a download may reach.** A video URL comes from the server.
  It must not make seedrun fetch from this machine, the local network or a
  cloud metadata service (``169.254.169.254``), so only global unicast
  addresses are allowed, unless the API itself is on loopback (the simulator)
  or the user allows private addresses. The check is made on every address a
  name resolves to, and on the address actually connected (see netguard.py).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from seedrun.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = [
    "IPAddress",
    "address_problem",
    "check_spec_base_url",
    "host_address",
    "is_loopback_host",
    "literal_host_problem",
]


def host_address(host: str) -> IPAddress | None:
    """The IP address ``host`` spells (``[::1]`` brackets allowed), else None.

    Only the canonical forms ``ipaddress`` accepts count: ``127.1`` or
    ``0x7f.0.0.1`` are names here, which a resolver may still turn into
    loopback; that is why downloads check resolved addresses as well.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]  # an IPv6 zone id names an interface, not an address
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_loopback_host(host: str) -> bool:
    """True for a loopback address or exactly ``localhost`` (any case, one trailing dot)."""
    if host.strip().rstrip(".").lower() == "localhost":
        return True
    ip = host_address(host)
    return ip is not None and _unwrap(ip).is_loopback


def check_spec_base_url(url: str) -> None:
    """Refuse a spec's ``settings.base_url`` unless https, or http on loopback."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # a port that is not a number is a bad URL, not a name
    except ValueError:
        raise ConfigError(f"settings.base_url {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"settings.base_url {url!r} must be https://host[:port] (or http:// on loopback)"
        )
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            f"settings.base_url {url!r}: a spec may only name an https:// API host (or "
            "http:// on loopback: 127.0.0.0/8, ::1 or localhost); pass other URLs with "
            "--base-url or SEEDRUN_BASE_URL"
        )


def address_problem(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why a download must not connect to ``ip`` (None: it may)."""
    inner = _unwrap(ip)
    if inner.is_unspecified:
        return "an unspecified address"
    if inner.is_multicast:
        return "a multicast address"
    if allow_private:
        return None
    if inner.is_loopback:
        return "a loopback address"
    if inner.is_link_local:
        return "a link-local address"
    if inner.is_private:
        return "a private address"
    if not inner.is_global:
        return "a reserved address"
    return None


def literal_host_problem(host: str, *, allow_private: bool) -> str | None:
    """Why a download URL's host is refused before any lookup (None: look it up).

    Catches the hosts that need no resolver: address literals and ``localhost``.
    """
    if not allow_private and host.strip().rstrip(".").lower() in ("localhost",):
        return "a loopback address"
    if not allow_private and host.strip().rstrip(".").lower().endswith(".localhost"):
        return "a loopback address"  # RFC 6761: *.localhost resolves to loopback
    ip = host_address(host)
    return None if ip is None else address_problem(ip, allow_private=allow_private)
