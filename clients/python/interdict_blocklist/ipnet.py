"""IP addresses and networks as subjects, with the rules of `interdict::core::ip`.

- An entry is an address (`203.0.113.7`) or a CIDR (`203.0.113.0/24`); host bits
  are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
- IPv4-mapped IPv6 addresses (`::ffff:203.0.113.7`), as dual-stack sockets report
  them, are the IPv4 address they carry, on either side.
"""

from __future__ import annotations

import ipaddress
from typing import Optional, Tuple, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

_DIGITS = frozenset("0123456789")


def unmap(addr: IPAddress) -> IPAddress:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def parse_address(text: Union[str, IPAddress]) -> IPAddress:
    """An IPv4 or IPv6 address as Rust's `IpAddr::from_str` reads it (no zone ids)."""
    if isinstance(text, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return text
    if not isinstance(text, str) or "%" in text or not text.isascii():
        raise ValueError(f"{text!r} is not an IPv4/IPv6 address")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4/IPv6 address") from None


class IpNet:
    """A network: an address with a prefix length; a single address is a full-length prefix."""

    __slots__ = ("_v4", "_network", "_prefix", "_mask")

    def __init__(self, text: str):
        addr_text, slash, prefix_text = text.partition("/")
        addr = unmap(parse_address(addr_text))
        full = addr.max_prefixlen
        if slash:
            if not (1 <= len(prefix_text) <= 3 and all(c in _DIGITS for c in prefix_text)):
                raise ValueError(f"{text!r} is not an IPv4/IPv6 address or CIDR")
            prefix = int(prefix_text)
        else:
            prefix = full
        if prefix > full:
            raise ValueError(f"{text!r} is not an IPv4/IPv6 address or CIDR")
        self._v4 = full == 32
        self._prefix = prefix
        self._mask = 0 if prefix == 0 else ((1 << full) - 1) ^ ((1 << (full - prefix)) - 1)
        self._network = int(addr) & self._mask

    def contains(self, addr: Union[str, IPAddress]) -> bool:
        addr = unmap(parse_address(addr))
        if (addr.version == 4) != self._v4:
            return False
        return int(addr) & self._mask == self._network

    __contains__ = contains

    def __str__(self) -> str:
        cls = ipaddress.IPv4Address if self._v4 else ipaddress.IPv6Address
        network = cls(self._network)
        full = 32 if self._v4 else 128
        return str(network) if self._prefix == full else f"{network}/{self._prefix}"

    def __repr__(self) -> str:
        return f"IpNet({str(self)!r})"


def parse_net(text: str) -> Optional[IpNet]:
    """The network of an entry, or None when it is not an address or CIDR (such an
    entry matches nothing, as in the Rust reference)."""
    try:
        return IpNet(text)
    except ValueError:
        return None


__all__: Tuple[str, ...] = ("IpNet", "parse_address", "parse_net", "unmap")
