"""Which peer a request really comes from. No Django or DRF imports: settings.py uses it at start-up."""

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def parse_trusted_proxies(entries: Iterable[str]) -> tuple[str, ...]:
    """Validate DEPOT_TRUSTED_PROXIES at start-up: addresses or CIDR networks, e.g. 10.0.0.0/8."""
    cleaned = tuple(entry.strip() for entry in entries if entry.strip())
    for entry in cleaned:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ValueError(
                f"DEPOT_TRUSTED_PROXIES: {entry!r} is not an address or network ({exc})"
            ) from exc
    return cleaned


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(trusted))


def client_address(meta: Mapping[str, str], trusted: tuple[str, ...]) -> str:
    """The address to account a request to: the first untrusted hop, reading X-Forwarded-For right to left.

    X-Forwarded-For is read only when the direct peer (REMOTE_ADDR) is a trusted proxy.
    """
    remote = meta.get("REMOTE_ADDR", "") or ""
    if not trusted or not _is_trusted(remote, trusted):
        return remote
    hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # a malformed entry: the proxy chain cannot be read further, blame the proxy
        if not _is_trusted(hop, trusted):
            return hop
    return remote


def proxy_networks(entries: tuple[str, ...]) -> list[str]:
    """The entries as the servers' strict parsers want them: networks without host bits (10.1.2.3/8 -> 10.0.0.0/8)."""
    return [str(network) for network in _networks(tuple(entries))]
