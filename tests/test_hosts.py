"""The host rules as pure functions: the spec's base URL, and download addresses.

No test here opens a socket: the addresses are only parsed."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from seedrun.cli import main
from seedrun.config import resolve
from seedrun.errors import ConfigError
from seedrun.hosts import (
    address_problem,
    check_spec_base_url,
    host_address,
    is_loopback_host,
    literal_host_problem,
)

HTTP_REFUSED = (
    "settings.base_url {url!r}: a spec may only name an https:// API host (or http:// on "
    "loopback: 127.0.0.0/8, ::1 or localhost); pass other URLs with --base-url or "
    "SEEDRUN_BASE_URL"
)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.255.0.9",
        "::1",
        "[::1]",
        "localhost",
        "LOCALHOST",
        "localhost.",
        "::ffff:127.0.0.1",
    ],
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1.attacker.example",
        "127.attacker.example",
        "localhost.attacker.example",
        "mylocalhost",
        "128.0.0.1",
        "10.0.0.1",
        "::2",
        "",
    ],
)
def test_names_that_only_look_like_loopback(host: str) -> None:
    assert not is_loopback_host(host)


@pytest.mark.parametrize(
    "url",
    [
        "https://cubicspaces.cloud",
        "https://10.0.0.1:8443",
        "http://127.0.0.1:8080",
        "http://localhost:9",
        "http://[::1]:8080/",
    ],
)
def test_spec_base_urls_allowed(url: str) -> None:
    check_spec_base_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1.attacker.example:8080",
        "http://localhost.attacker.example",
        "http://127.0.0.1@attacker.example/",
        "http://cubicspaces.cloud",
        "http://10.0.0.1",
    ],
)
def test_spec_base_urls_refused(url: str) -> None:
    with pytest.raises(ConfigError) as exc:
        check_spec_base_url(url)
    assert str(exc.value) == HTTP_REFUSED.format(url=url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "ftp://x.example",
            "settings.base_url 'ftp://x.example' must be https://host[:port] "
            "(or http:// on loopback)",
        ),
        (
            "https://",
            "settings.base_url 'https://' must be https://host[:port] (or http:// on loopback)",
        ),
        ("http://127.0.0.1:port", "settings.base_url 'http://127.0.0.1:port' is not a valid URL"),
    ],
)
def test_spec_base_urls_malformed(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        check_spec_base_url(url)
    assert str(exc.value) == message


def test_resolve_applies_the_rule_to_the_spec_only() -> None:
    bad = "http://127.0.0.1.attacker.example:8080"
    with pytest.raises(ConfigError):
        resolve(cli_base_url=None, spec_base_url=bad, env={"SEEDRUN_API_KEY": "k"})
    # An explicit --base-url is the user's own choice, not the pull request's.
    conf = resolve(
        cli_base_url="http://gw.internal", spec_base_url=bad, env={"SEEDRUN_API_KEY": "k"}
    )
    assert conf.base_url == "http://gw.internal"


def test_validate_refuses_what_apply_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "http://127.0.0.1.attacker.example:8080"
    (tmp_path / "spec.yaml").write_text(
        f"version: 1\nsettings: {{base_url: '{url}'}}\njobs: [{{name: a, prompt: p}}]\n",
        encoding="utf-8",
    )
    code = main(["validate", "spec.yaml"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert HTTP_REFUSED.format(url=url) in err
    assert "Traceback" not in err


# -- download addresses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("2002:a00:1::", "a private address"),  # 6to4 around 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "a link-local address"),  # NAT64 around 169.254.169.254
        ("100.64.0.1", "a reserved address"),  # carrier-grade NAT
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
    ],
)
def test_download_addresses_refused(address: str, why: str) -> None:
    assert address_problem(ipaddress.ip_address(address), allow_private=False) == why


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "8.8.8.8"])
def test_download_addresses_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), allow_private=False) is None


def test_allow_private_allows_all_but_nonsense() -> None:
    for address in ("127.0.0.1", "169.254.169.254", "10.0.0.1", "fd00::1"):
        assert address_problem(ipaddress.ip_address(address), allow_private=True) is None
    assert address_problem(ipaddress.ip_address("0.0.0.0"), allow_private=True) == (
        "an unspecified address"
    )


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("localhost", "a loopback address"),
        ("video.localhost", "a loopback address"),
        ("[::1]", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("cdn.example", None),
        ("93.184.215.14", None),
    ],
)
def test_literal_hosts(host: str, why: str | None) -> None:
    assert literal_host_problem(host, allow_private=False) == why


def test_host_address() -> None:
    assert host_address("[::1]") == ipaddress.ip_address("::1")
    assert host_address("fe80::1%eth0") == ipaddress.ip_address("fe80::1")
    assert host_address("127.0.0.1.attacker.example") is None
