"""Who the caller is: its address read by hop position from a trusted proxy's X-Forwarded-For, and
the key the rate limits count it by.

Each proxy in front of the api appends the address it received the request from to
X-Forwarded-For, so the last ``PROXY_HOPS`` entries were written by proxies and everything before
them by whoever sent the request. The client is the entry ``PROXY_HOPS`` from the right: the address
the farthest proxy saw. No entry's own value is trusted, so a caller relaying through a host inside
a proxy's network (a Cloudflare Worker, for one) is counted as that host, not as whatever it wrote.
The header is read only on connections from ``TRUSTED_PROXIES`` (on Render, its proxy on the
private network); from any other peer the peer is the client. X-Forwarded-Proto is read the same
way, its last entry. Uvicorn's own proxy-header handling, which skips every trusted address from the
right instead of counting hops, is left off (``serve.py``).

IPv6 callers are counted by their /64: one host is routinely given a whole /64, so counting the full
address would hand it 2^64 buckets.
"""

from collections.abc import Sequence
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from starlette.types import ASGIApp, Receive, Scope, Send

_SCHEMES = frozenset({"http", "https"})


def rate_limit_key(address: str) -> str:
    """The key ``address`` is counted by: an IPv4 address itself, an IPv6 address's /64 (an
    IPv4-mapped one as its IPv4 address), anything else (no address at all) as it is."""
    try:
        parsed = ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(IPv6Network((parsed, 64), strict=False))
    return address


@lru_cache(maxsize=4096)
def _address(text: str) -> str | None:
    """``text`` as an address in its canonical spelling, or None when it is none. Cached: parsing
    costs microseconds, and a client sends request after request from one address."""
    try:
        return str(ip_address(text))
    except ValueError:
        return None


def _forwarded(scope: Scope) -> tuple[list[str], str | None]:
    """X-Forwarded-For's entries (several headers read as one list, in order: RFC 9110, 5.3) and
    X-Forwarded-Proto's last entry, in one pass over the headers."""
    forwarded_for: list[str] = []
    proto: str | None = None
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            forwarded_for.extend(entry.strip() for entry in value.decode("latin-1").split(","))
        elif name == b"x-forwarded-proto":
            proto = value.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
    return [entry for entry in forwarded_for if entry], proto


class ClientAddressMiddleware:
    """Sets the scope's ``client`` (and ``scheme``) from a trusted proxy's forwarding headers."""

    def __init__(self, app: ASGIApp, *, trusted: Sequence[str], hops: int) -> None:
        self.app = app
        self.hops = hops
        self.trusted: list[IPv4Network | IPv6Network] = [ip_network(item, strict=False) for item in trusted]
        # A proxy connects from a few addresses, again and again: each is judged once.
        self._is_trusted = lru_cache(maxsize=1024)(self._judge)

    def _judge(self, peer: str) -> bool:
        try:
            address = ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client or not self._is_trusted(client[0]):
            await self.app(scope, receive, send)
            return
        entries, proto = _forwarded(scope)
        scope = dict(scope)
        if entries:
            # Fewer entries than hops: every one was written by a proxy, the leftmost the farthest.
            address = _address(entries[-self.hops] if len(entries) >= self.hops else entries[0])
            # Not an address: a proxy would not write that, so the peer stays the client.
            if address is not None:
                scope["client"] = (address, 0)
        if proto in _SCHEMES:
            scope["scheme"] = proto
        await self.app(scope, receive, send)
