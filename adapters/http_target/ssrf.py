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
from collections.abc import Awaitable, Callable, Sequence

from domain.addresses import LOOPBACK, Address, Network, refusal
from domain.errors import ExecutionFailed, TargetRefused

__all__ = ["LOOPBACK", "Address", "Network", "parse_allowlist", "refusal", "resolve_checked"]

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


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
            raise TargetRefused(
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
