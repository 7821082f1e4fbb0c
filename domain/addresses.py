"""Which addresses an HTTP target may reach (docs/semantics.md, *Targets*): the SSRF
guard's policy, pure. The guard itself (``adapters/http_target/ssrf.py``) applies it to
the addresses a host resolves to at every attempt; a job's write applies it to what can
be known then: an address written literally in its URL, or ``localhost``.

The operator's policy: ``allow`` (``KAIROS_HTTP_ALLOW``, addresses or CIDR ranges)
and ``allow_loopback`` (a development stack admits loopback webhooks).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)

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


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """What the operator admits beyond public addresses."""

    allow: tuple[Network, ...] = ()
    allow_loopback: bool = False

    @property
    def admitted(self) -> tuple[Network, ...]:
        return self.allow + (LOOPBACK if self.allow_loopback else ())

    def refusal(self, address: Address) -> str | None:
        return refusal(address, self.admitted)

    def host_refusal(self, host: str) -> str | None:
        """Why ``host`` (a URL's host) is refused already as written: a literal address
        the policy refuses, or ``localhost`` when loopback is not admitted. A name is
        judged when it is resolved, at delivery (None here)."""
        name = host.strip("[]").lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            name = "127.0.0.1"
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return None
        return self.refusal(address)
