"""Limits held by two real ``api-serve`` processes on one Redis: the rate limits are shared, the
limiter's keys stay bounded, the client address comes from trusted proxies only, and a 50 MB body
is refused without being read."""

import contextlib
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle
from pathlib import Path

import httpx
import pytest
import yaml
from redis import Redis
from test_support.tokens import Tokens

from api_service.tokens import new_token
from core_config import Settings

from .conftest import ServedApi, api_environment, served_apis

ADDRESS_LIMIT = 40
ACCOUNT_LIMIT = 10
FIFTY_MB = 50 * 1024 * 1024
BLUEPRINT = Path(__file__).resolve().parents[3] / "render.yaml"
CLOUDFLARE_EDGE = "104.22.17.40"  # an address of Cloudflare's, as Render's proxy reports it
# Where Cloudflare's Workers fetch from another zone (Cloudflare's published ranges hold it): a caller
# relaying through a Worker reaches the edge from here.
WORKER_EGRESS = "2a06:98c0:3600::103"


def render_setting(key: str) -> str:
    """A variable the Render Blueprint gives the api."""
    api = next(s for s in yaml.safe_load(BLUEPRINT.read_text())["services"] if s["name"] == "bybit-api")
    return str(next(v["value"] for v in api["envVars"] if v.get("key") == key))


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"test-flood-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def apis(api_settings: Settings, prefix: str) -> Iterator[list[ServedApi]]:
    """Two API processes sharing Redis, counting X-Forwarded-For's hops as Render's api does, with
    127.0.0.1 standing in for Render's proxy: X-Forwarded-For from any other peer is not believed."""

    def environment(port: int) -> dict[str, str]:
        return api_environment(
            api_settings,
            port,
            RATE_LIMIT_KEY_PREFIX=prefix,
            RATE_LIMIT_PER_ADDRESS=f"{ADDRESS_LIMIT}/minute",
            RATE_LIMIT_ACCOUNT=f"{ACCOUNT_LIMIT}/minute",
            TRUSTED_PROXIES="127.0.0.1",
            PROXY_HOPS=render_setting("PROXY_HOPS"),
            # The limiter lets requests through when Redis does not answer in time; on a loaded
            # machine that must not blur the counts.
            HEALTH_CHECK_TIMEOUT="10",
        )

    with served_apis(2, environment) as started:
        yield started


@pytest.fixture(scope="module")
def redis(api_settings: Settings) -> Iterator[Redis]:
    client = Redis.from_url(api_settings.redis_url.get_secret_value())
    yield client
    client.close()


def flood(
    apis: list[ServedApi],
    path: str,
    count: int,
    headers: list[dict[str, str]],
    local_address: str | None = None,
) -> list[httpx.Response]:
    """``count`` requests at once, spread over both processes (request i sends ``headers[i]``)."""
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    with httpx.Client(transport=transport, timeout=30) as client:
        targets = cycle(api.base_url for api in apis)
        requests = [(f"{next(targets)}{path}", headers[i]) for i in range(count)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(lambda r: client.get(r[0], headers=r[1]), requests))


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    counted: dict[int, int] = {}
    for response in responses:
        counted[response.status_code] = counted.get(response.status_code, 0) + 1
    return counted


def assert_limited(response: httpx.Response, policy: str, limit: int) -> None:
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-policy"] == f'"{policy}";q={limit};w=60'
    assert response.headers["ratelimit"] == f'"{policy}";r=0;t={response.headers["retry-after"]}'


def test_a_token_past_its_limit_gets_429_from_both_processes(apis: list[ServedApi], tokens: Tokens) -> None:
    # Each request from another (proxied) address: only the token's limit can refuse them.
    headers = [{**tokens.user_auth, "X-Forwarded-For": f"203.0.113.{i}"} for i in range(ACCOUNT_LIMIT + 6)]
    responses = flood(apis, "/v1/me/bybit-credentials", len(headers), headers)
    assert statuses(responses) == {200: ACCOUNT_LIMIT, 429: 6}
    assert_limited(next(r for r in responses if r.status_code == 429), "account", ACCOUNT_LIMIT)


def test_an_address_past_its_limit_gets_429_from_both_processes(apis: list[ServedApi]) -> None:
    headers = [{"X-Forwarded-For": "198.51.100.9"}] * (ADDRESS_LIMIT + 12)
    responses = flood(apis, "/v1/meta", len(headers), headers)
    assert statuses(responses) == {200: ADDRESS_LIMIT, 429: 12}
    assert_limited(next(r for r in responses if r.status_code == 429), "address", ADDRESS_LIMIT)
    # The health checks are never limited: the load balancer keeps its view of the instance.
    assert httpx.get(f"{apis[0].base_url}/health/live", headers=headers[0]).status_code == 200


def test_an_untrusted_peer_cannot_choose_its_address(apis: list[ServedApi]) -> None:
    # From 127.0.0.2, which is no trusted proxy: its X-Forwarded-For is ignored, so every request
    # counts against 127.0.0.2 however it claims to be someone else.
    headers = [{"X-Forwarded-For": f"192.0.2.{i}"} for i in range(ADDRESS_LIMIT + 5)]
    responses = flood(apis, "/v1/meta", len(headers), headers, local_address="127.0.0.2")
    assert statuses(responses) == {200: ADDRESS_LIMIT, 429: 5}


def test_behind_renders_proxies_each_caller_is_counted_by_its_own_address(apis: list[ServedApi]) -> None:
    # Render's proxy reports "<caller>, <Cloudflare edge>": callers sharing an edge are not one.
    headers = [
        {"X-Forwarded-For": f"198.51.100.{100 + i}, {CLOUDFLARE_EDGE}"} for i in range(ADDRESS_LIMIT + 5)
    ]
    assert statuses(flood(apis, "/v1/meta", len(headers), headers)) == {200: ADDRESS_LIMIT + 5}
    # Whatever a caller writes in front of the chain is not believed: it is counted as itself.
    forged = [
        {"X-Forwarded-For": f"192.0.2.{i}, 198.51.100.50, {CLOUDFLARE_EDGE}"}
        for i in range(ADDRESS_LIMIT + 5)
    ]
    assert statuses(flood(apis, "/v1/meta", len(forged), forged)) == {200: ADDRESS_LIMIT, 429: 5}


def test_a_relay_inside_cloudflare_cannot_choose_its_address(apis: list[ServedApi]) -> None:
    # A caller relaying through a Cloudflare Worker writes its own X-Forwarded-For; Cloudflare appends
    # the Worker's address, Render's proxy the edge's. Trusting Cloudflare's ranges would skip the
    # Worker's address (it is Cloudflare's) and count whatever the caller wrote; by hop position the
    # relay itself is counted, however many addresses it makes up.
    forged = [
        {"X-Forwarded-For": f"192.0.2.{i}, {WORKER_EGRESS}, {CLOUDFLARE_EDGE}"}
        for i in range(ADDRESS_LIMIT + 5)
    ]
    assert statuses(flood(apis, "/v1/meta", len(forged), forged)) == {200: ADDRESS_LIMIT, 429: 5}


def test_ipv6_callers_in_one_64_share_their_limit(apis: list[ServedApi]) -> None:
    # One host is routinely given a whole /64: each of its addresses is the same caller.
    headers = [
        {"X-Forwarded-For": f"2001:db8:17:42::{i + 1:x}, {CLOUDFLARE_EDGE}"} for i in range(ADDRESS_LIMIT + 5)
    ]
    assert statuses(flood(apis, "/v1/meta", len(headers), headers)) == {200: ADDRESS_LIMIT, 429: 5}
    # The next /64 is another caller.
    other = {"X-Forwarded-For": f"2001:db8:17:43::1, {CLOUDFLARE_EDGE}"}
    assert httpx.get(f"{apis[0].base_url}/v1/meta", headers=other).status_code == 200


def test_the_limiters_keys_stay_bounded(apis: list[ServedApi], redis: Redis, prefix: str) -> None:
    # A flood of made-up (well-formed) tokens from one address: past the address limit, no token
    # gets a counter, so the keys grow with what the limits let through, not with the flood.
    before = len(list(redis.scan_iter(f"{prefix}*")))
    headers = [
        {"Authorization": f"Bearer {new_token()}", "X-Forwarded-For": "192.0.2.200"} for _ in range(300)
    ]
    responses = flood(apis, "/v1/me/bybit-credentials", len(headers), headers)
    assert statuses(responses) == {401: ADDRESS_LIMIT, 429: 300 - ADDRESS_LIMIT}
    keys = list(redis.scan_iter(f"{prefix}*"))
    assert len(keys) - before <= 1 + ADDRESS_LIMIT  # the address's counter, one per token let through
    assert all(0 < redis.ttl(key) <= 60 for key in keys)  # every counter goes with its window


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def read_status(sock: socket.socket) -> str:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return head.split(b"\r\n", 1)[0].decode()


def request_head(api: ServedApi, length_header: str) -> bytes:
    host = api.base_url.removeprefix("http://")
    return (
        f"PUT /v1/me/bybit-credentials HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Forwarded-For: 192.0.2.77\r\n{length_header}\r\n\r\n"
    ).encode()


def test_a_50_mb_body_is_refused_unread(apis: list[ServedApi]) -> None:
    api = apis[0]
    host, port = api.base_url.removeprefix("http://").split(":")
    before = rss_kb(api.pid)
    # Declared: the 413 comes back while not one byte of the body has been sent.
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_head(api, f"Content-Length: {FIFTY_MB}"))
        assert read_status(sock).startswith("HTTP/1.1 413 ")
    # Chunked, so undeclared: counted as it arrives and refused once past the limit; the server
    # stops reading, so the sender cannot push the 50 MB through.
    chunk = b"%x\r\n%s\r\n" % (1024 * 1024, b"x" * 1024 * 1024)
    sent = 0

    def send_body(sock: socket.socket) -> None:
        nonlocal sent
        try:
            while sent < FIFTY_MB:
                sock.sendall(chunk)
                sent += 1024 * 1024
        except OSError:
            pass  # the server answered and closed the connection

    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_head(api, "Transfer-Encoding: chunked"))
        with ThreadPoolExecutor(max_workers=1) as pool:
            sending = pool.submit(send_body, sock)
            assert read_status(sock).startswith("HTTP/1.1 413 ")
            with contextlib.suppress(OSError):  # the server may have closed it already
                sock.shutdown(socket.SHUT_RDWR)
            sending.result()
    assert sent < FIFTY_MB
    assert rss_kb(api.pid) - before < 20 * 1024
