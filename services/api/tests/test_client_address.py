"""The client address by hop position, driven in process: which entry counts, what is never
believed, and the key IPv6 callers are counted by."""

import pytest
from starlette.types import Message, Receive, Scope, Send

from api_service.client_address import ClientAddressMiddleware, rate_limit_key

PROXY = "10.21.157.68"  # Render's proxy, as a Rails app on Render saw it


async def client_seen(
    peer: str, forwarded: list[str], hops: int = 2, proto: str | None = None
) -> tuple[str, str]:
    seen: dict[str, Scope] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["scope"] = scope

    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    if proto is not None:
        headers.append((b"x-forwarded-proto", proto.encode()))
    scope: Scope = {"type": "http", "client": (peer, 4321), "scheme": "http", "headers": headers}

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        pass

    await ClientAddressMiddleware(app, trusted=["10.0.0.0/8"], hops=hops)(scope, receive, send)
    return seen["scope"]["client"][0], seen["scope"]["scheme"]


async def test_the_entry_hops_from_the_right_counts_whatever_comes_before_it() -> None:
    assert (await client_seen(PROXY, ["203.0.113.9, 104.22.17.40"]))[0] == "203.0.113.9"
    forged = ["192.0.2.1, 192.0.2.2, 203.0.113.9, 104.22.17.40"]
    assert (await client_seen(PROXY, forged))[0] == "203.0.113.9"
    # Several headers read as one list, in order.
    assert (await client_seen(PROXY, ["192.0.2.1", "203.0.113.9, 104.22.17.40"]))[0] == "203.0.113.9"


async def test_fewer_entries_than_hops_give_the_farthest_proxys_word() -> None:
    assert (await client_seen(PROXY, ["104.22.17.40"]))[0] == "104.22.17.40"


async def test_an_untrusted_peer_or_a_non_address_leaves_the_peer_the_client() -> None:
    assert (await client_seen("198.51.100.1", ["203.0.113.9, 104.22.17.40"]))[0] == "198.51.100.1"
    assert (await client_seen(PROXY, ["not-an-address, 104.22.17.40"]))[0] == PROXY
    assert (await client_seen(PROXY, []))[0] == PROXY


async def test_the_scheme_is_the_last_forwarded_proto_from_a_trusted_peer_only() -> None:
    assert (await client_seen(PROXY, [], proto="http, https"))[1] == "https"
    assert (await client_seen(PROXY, [], proto="gopher"))[1] == "http"
    assert (await client_seen("198.51.100.1", [], proto="https"))[1] == "http"


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:17:42::1", "2001:db8:17:42::/64"),
        ("2001:db8:17:42:ffff:1:2:3", "2001:db8:17:42::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("unknown", "unknown"),
    ],
)
def test_ipv6_callers_are_counted_by_their_64(address: str, key: str) -> None:
    assert rate_limit_key(address) == key
