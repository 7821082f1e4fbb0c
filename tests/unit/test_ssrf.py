"""The SSRF guard: every address class docs/semantics.md, *Targets*, names is refused,
as a literal, as a hostname that resolves to it, in IPv4-mapped IPv6 form and as a
decimal IPv4; the operator's allowlist lets one through."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from adapters.http_target.ssrf import parse_allowlist, resolve_checked
from domain.addresses import AddressPolicy
from domain.errors import ExecutionFailed, TargetRefused

REFUSED = {
    "loopback": "127.0.0.1",
    "loopback (other)": "127.8.9.10",
    "loopback v6": "::1",
    "RFC 1918 10/8": "10.1.2.3",
    "RFC 1918 172.16/12": "172.20.0.1",
    "RFC 1918 192.168/16": "192.168.1.1",
    "link-local": "169.254.10.10",
    "metadata": "169.254.169.254",
    "link-local v6": "fe80::1",
    "CGNAT": "100.64.0.1",
    "ULA": "fd12:3456::1",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped metadata": "::ffff:169.254.169.254",
    "IPv4-mapped private": "::ffff:10.0.0.1",
    "unspecified": "0.0.0.0",
    "unspecified v6": "::",
    "multicast": "224.0.0.1",
    "multicast v6": "ff02::1",
    "NAT64 of private": "64:ff9b::a00:1",
    "6to4 of loopback": "2002:7f00:1::",
}


def fixed(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        return answers[host]

    return resolve


@pytest.mark.parametrize(("kind", "address"), REFUSED.items(), ids=list(REFUSED))
async def test_each_literal_address_class_is_refused(kind: str, address: str) -> None:
    """A literal address of each class is refused before any connection."""
    with pytest.raises(ExecutionFailed, match="refused by the SSRF guard"):
        await resolve_checked(address, 80, ())


@pytest.mark.parametrize(("kind", "address"), REFUSED.items(), ids=list(REFUSED))
async def test_a_hostname_resolving_to_each_class_is_refused(kind: str, address: str) -> None:
    """The resolved address is judged, not the name."""
    resolver = fixed({"innocent.example": [address]})
    with pytest.raises(ExecutionFailed, match=r"innocent\.example -> "):
        await resolve_checked("innocent.example", 443, (), resolver)


async def test_one_bad_answer_among_good_ones_refuses_the_name() -> None:
    """A name answering a public and a private address is refused (no racing the pick)."""
    resolver = fixed({"mixed.example": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(ExecutionFailed, match=r"10\.0\.0\.5 is private"):
        await resolve_checked("mixed.example", 443, (), resolver)


async def test_decimal_and_short_ipv4_forms_and_localhost_resolve_to_loopback() -> None:
    """2130706433, 0x7f.1 and 127.1 are 127.0.0.1 to the system resolver; localhost too."""
    for host in ("2130706433", "0x7f.1", "127.1", "localhost"):
        with pytest.raises(ExecutionFailed, match="loopback"):
            await resolve_checked(host, 80, ())


async def test_public_addresses_pass_and_the_allowlist_admits_a_private_one() -> None:
    """A public address is answered as the one to connect to; an allowlisted CIDR
    admits a private address, also in its IPv4-mapped form."""
    assert str(await resolve_checked("93.184.216.34", 443, ())) == "93.184.216.34"
    resolver = fixed({"api.example": ["2606:4700::6810:84e5"]})
    assert str(await resolve_checked("api.example", 443, (), resolver)) == "2606:4700::6810:84e5"
    allow = parse_allowlist("127.0.0.1/32, 10.0.0.0/8")
    assert str(await resolve_checked("127.0.0.1", 80, allow)) == "127.0.0.1"
    assert str(await resolve_checked("::ffff:10.1.1.1", 80, allow)) == "::ffff:a01:101"
    with pytest.raises(ExecutionFailed):
        await resolve_checked("192.168.0.1", 80, allow)


def test_a_bad_allowlist_is_refused_with_its_setting_named() -> None:
    """KAIROS_HTTP_ALLOW with a typo fails at start, naming the setting."""
    with pytest.raises(ValueError, match="KAIROS_HTTP_ALLOW"):
        parse_allowlist("127.0.0.1/33")


async def test_a_refusal_is_final_and_the_policy_can_admit_loopback() -> None:
    """The guard's refusal is a TargetRefused (no retry can help); a policy admitting
    loopback lets 127.0.0.1 and ::1 through and nothing private besides."""
    with pytest.raises(TargetRefused):
        await resolve_checked("10.0.0.1", 80, ())
    dev = AddressPolicy(allow_loopback=True)
    assert str(await resolve_checked("127.0.0.1", 80, dev.admitted)) == "127.0.0.1"
    assert str(await resolve_checked("::1", 80, dev.admitted)) == "::1"
    with pytest.raises(TargetRefused):
        await resolve_checked("192.168.0.1", 80, dev.admitted)


def test_a_host_is_judged_as_written_when_it_is_an_address_or_localhost() -> None:
    """host_refusal: literal private or loopback addresses and localhost are refused,
    names are left to delivery, and the operator's policy is honoured."""
    strict = AddressPolicy()
    for host in ("127.0.0.1", "[::1]", "localhost", "api.localhost", "10.1.2.3", "169.254.169.254"):
        assert strict.host_refusal(host) is not None, host
    for host in ("hooks.example.com", "93.184.216.34", "internal.corp"):
        assert strict.host_refusal(host) is None, host
    assert AddressPolicy(allow_loopback=True).host_refusal("localhost") is None
    assert AddressPolicy(allow=parse_allowlist("10.0.0.0/8")).host_refusal("10.1.2.3") is None
