"""The SSRF guard (docs/semantics.md, *Targets*): an HTTP target may only reach public addresses.

Checked on the *resolved* addresses at every attempt, and the request then goes to the
address that was checked (no second lookup a DNS rebinding could answer differently).
Refused unless the operator's allowlist holds them: loopback, RFC 1918 and other
private ranges, link-local (169.254.0.0/16, incl. the 169.254.169.254 metadata
address; fe80::/10), CGNAT 100.64.0.0/10, ULA fc00::/7, unspecified (0.0.0.0, ::),
multicast, reserved and documentation ranges, and IPv6 forms that embed an IPv4
address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, NAT64) judged by that address.
Hostnames are resolved by the system resolver, so a decimal (``2130706433``) or
shortened (``127.1``) IPv4 form resolves to the address it denotes and is judged by it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

from domain.errors import ExecutionFailed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_BLOCKED: tuple[tuple[str, Network], ...] = tuple(
    (name, ipaddress.ip_network(cidr))
    for name, cidr in (
        ("unspecified", "0.0.0.0/8"),
        ("private", "10.0.0.0/8"),
        ("CGNAT", "100.64.0.0/10"),
        ("loopback", "127.0.0.0/8"),
        ("link-local", "169.254.0.0/16"),
        ("private", "172.16.0.0/12"),
        ("IETF protocol", "192.0.0.0/24"),
        ("documentation", "192.0.2.0/24"),
        ("private", "192.168.0.0/16"),
        ("benchmarking", "198.18.0.0/15"),
        ("documentation", "198.51.100.0/24"),
        ("documentation", "203.0.113.0/24"),
        ("multicast", "224.0.0.0/4"),
        ("reserved", "240.0.0.0/4"),
        ("unspecified", "::/128"),
        ("loopback", "::1/128"),
        ("IPv4-compatible", "::/96"),
        ("discard", "100::/64"),
        ("documentation", "2001:db8::/32"),
        ("ULA", "fc00::/7"),
        ("link-local", "fe80::/10"),
        ("site-local", "fec0::/10"),
        ("multicast", "ff00::/8"),
    )
)


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: Address, allow: Iterable[Network] = ()) -> str | None:
    """Why ``address`` may not be reached (None: it may)."""
    if any(address.version == net.version and address in net for net in allow):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_v4(address)
        if inner is not None:
            why = refusal(inner, allow)
            return None if why is None else f"{why} (embedded in {address})"
    for name, network in _BLOCKED:
        if address.version == network.version and address in network:
            return f"{address} is {name} ({network})"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


async def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def resolve_checked(
    host: str, port: int, allow: Sequence[Network], resolve: Resolver = system_resolver
) -> Address:
    """The address to connect to: every address ``host`` resolves to must be allowed
    (one bad answer refuses the lot, so a mixed answer cannot be raced)."""
    literal = host.strip("[]")
    try:
        addresses: list[Address] = [ipaddress.ip_address(literal)]
    except ValueError:
        try:
            answers = await resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise ExecutionFailed(f"cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in answers]
    if not addresses:
        raise ExecutionFailed(f"{host} resolves to no address")
    for address in addresses:
        why = refusal(address, allow)
        if why is not None:
            raise ExecutionFailed(
                f"refused by the SSRF guard: {host} -> {why}; an operator can allow it "
                "with KAIROS_HTTP_ALLOW",
                ssrf=True,
            )
    return addresses[0]


def parse_allowlist(text: str) -> tuple[Network, ...]:
    """``KAIROS_HTTP_ALLOW``: comma-separated addresses or CIDR ranges."""
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in text.split(",")
            if part.strip()
        )
    except ValueError as exc:
        raise ValueError(f"KAIROS_HTTP_ALLOW: {exc}") from None
