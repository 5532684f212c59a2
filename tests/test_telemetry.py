"""Telemetry end to end: a real ``api-serve`` and a real worker process exporting over OTLP/HTTP to a
local receiver, and serving Prometheus scrape pages.

One sync enqueued with ``POST /v1/market/sync`` must arrive as one trace: the API's server span,
the Celery message (its context carried in the task headers), the worker's task, each Bybit call
and each database write inside it. The scrape pages must carry the operator's series, labelled by
route templates and endpoints only.
"""

import asyncio
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from local_stack.ports import free_port
from test_support.api_process import ApiProcess
from test_support.telemetry import OtlpReceiver, ReceivedSpan
from test_support.tokens import issue_tokens
from test_support.worker_process import WorkerProcess, wait_until

from bybit_client.testing import FakeBybit
from core_config import Settings
from db_user import generate_key_file

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP span kinds


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


def telemetry_env(otlp: OtlpReceiver, prometheus_port: int) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_METRICS_EXPORTER": "otlp,prometheus",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(prometheus_port),
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # spans leave within 0.1 s, so the test need not wait
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
    }


@pytest.fixture(scope="module")
def traced_settings(worker_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The worker's settings on a queue of this module's own, plus the API's master key file."""
    key_file = tmp_path_factory.mktemp("master-key") / "master.key"
    generate_key_file(key_file)
    # Tasks are polled often: limits no test here reaches, on counters of this module's own.
    return worker_settings.model_copy(
        update={
            "render_master_key_path": key_file,
            "celery_queue": f"{worker_settings.celery_queue}-otel",
            "rate_limit_per_address": "100000/minute",
            "rate_limit_operator": "100000/minute",
            "rate_limit_key_prefix": f"test-ratelimit-{uuid.uuid4().hex[:8]}",
        }
    )


@pytest.fixture(scope="module")
def operator(traced_settings: Settings) -> dict[str, str]:
    return asyncio.run(issue_tokens(traced_settings)).operator_auth


@pytest.fixture(scope="module")
def worker_metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def traced_worker(
    traced_settings: Settings, otlp: OtlpReceiver, worker_metrics_port: int
) -> Iterator[WorkerProcess]:
    env = {**telemetry_env(otlp, worker_metrics_port), "OTEL_SERVICE_NAME": ""}
    with WorkerProcess(traced_settings, extra_env=env) as process:
        yield process


@pytest.fixture(scope="module")
def traced_api(
    traced_settings: Settings,
    traced_worker: WorkerProcess,
    otlp: OtlpReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiProcess]:
    env = telemetry_env(otlp, free_port())
    api = ApiProcess(traced_settings, env, tmp_path_factory.mktemp("api"))
    try:
        api.wait_ready()
        yield api
    finally:
        api.stop()


def run_sync(api: ApiProcess, body: dict[str, object], request_id: str, auth: dict[str, str]) -> str:
    accepted = httpx.post(
        f"{api.base_url}/v1/market/sync", json=body, headers={"X-Request-ID": request_id, **auth}, timeout=10
    )
    assert accepted.status_code == 202, accepted.text
    task_id: str = accepted.json()["task_id"]
    deadline = time.monotonic() + 60
    while True:
        status = httpx.get(f"{api.base_url}/v1/tasks/{task_id}", headers=auth, timeout=10).json()
        if status["state"] in ("succeeded", "failed"):
            assert status["state"] == "succeeded", status
            return task_id
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def _ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def test_a_sync_is_one_trace_from_the_request_to_bybit_and_the_database(
    traced_api: ApiProcess,
    traced_worker: WorkerProcess,
    otlp: OtlpReceiver,
    fake_bybit: FakeBybit,
    clean_general_database: object,
    operator: dict[str, str],
) -> None:
    task_id = run_sync(traced_api, {"kind": "instruments", "category": "linear"}, "trace-one-sync", operator)
    pages = fake_bybit.count("/v5/market/instruments-info")
    assert pages >= 2  # 640 linear instruments come in several pages

    def root(spans: list[ReceivedSpan]) -> ReceivedSpan | None:
        return next(
            (s for s in spans if s.kind == SERVER and s.attributes.get("request_id") == "trace-one-sync"),
            None,
        )

    def complete(spans: list[ReceivedSpan]) -> bool:
        server = root(spans)
        if server is None:
            return False
        in_trace = [s for s in spans if s.trace_id == server.trace_id]
        bybit = [s for s in in_trace if s.name.startswith("bybit GET /v5/market/instruments-info")]
        finished = any(
            s.kind == CONSUMER and s.attributes.get("messaging.message.id") == task_id for s in in_trace
        )
        # The run's row opened and closed (the instruments themselves go in by COPY, without a span).
        writes = [s for s in in_trace if s.service == "worker" and s.name.startswith(("INSERT", "UPDATE"))]
        return finished and len(bybit) == pages and len(writes) >= 2

    spans = otlp.wait_for(complete)
    server = root(spans)
    assert server is not None
    assert server.service == "api"
    assert server.name == "POST /v1/market/sync"
    assert server.attributes["http.route"] == "/v1/market/sync"
    trace = [s for s in spans if s.trace_id == server.trace_id]
    by_id = {s.span_id: s for s in trace}
    # One tree: every span but the server span has its parent in the trace.
    assert [s for s in trace if s.parent_span_id not in by_id] == [server]

    publish = next(s for s in trace if s.kind == PRODUCER and s.service == "api")
    assert server in _ancestors(publish, by_id)
    run = next(s for s in trace if s.kind == CONSUMER and s.parent_span_id == publish.span_id)
    assert run.service == "worker"
    assert run.attributes["messaging.message.id"] == task_id
    # The context travelled in the message headers (a chunked sync's later messages too).

    bybit = [s for s in trace if s.name.startswith("bybit ")]
    writes = [s for s in trace if s.service == "worker" and s.name.startswith(("INSERT", "UPDATE"))]
    for span in [*bybit, *writes]:
        assert run in _ancestors(span, by_id), span.name
    assert {s.kind for s in bybit} == {CLIENT}
    assert {s.attributes["url.template"] for s in bybit} == {"/v5/market/instruments-info"}
    statements = [str(s.attributes.get("db.statement", "")) for s in writes]
    assert any("INSERT INTO sync_runs" in statement for statement in statements)
    # The upsert's statements (its COPY makes no span of its own): the lock, the read back.
    upsert = [
        s
        for s in trace
        if s.service == "worker" and "JOIN instruments" in str(s.attributes.get("db.statement"))
    ]
    assert upsert
    assert all(run in _ancestors(span, by_id) for span in upsert)

    # The log lines of that work carry the trace id (and the ids of their own spans), beside the ids.
    trace_id = server.trace_id
    access = [line for line in traced_api.output().splitlines() if "POST /v1/market/sync 202" in line]
    assert len(access) == 1
    assert "request_id=trace-one-sync" in access[0]
    assert f"trace_id={trace_id}" in access[0]
    assert f"span_id={server.span_id}" in access[0]
    synced = [line for line in traced_worker.output().splitlines() if "instruments synced" in line]
    assert synced
    for line in synced:
        assert f"trace_id={trace_id}" in line
        assert f"task_id={task_id}" in line
        assert "request_id=trace-one-sync" in line  # sent in the message headers
    span_ids = {re.search(r"span_id=([0-9a-f]{16})", line).group(1) for line in synced}  # type: ignore[union-attr]
    assert span_ids <= set(by_id)


def scrape(url: str) -> list[tuple[str, dict[str, str]]]:
    """Every sample of a Prometheus text page as (name, labels)."""
    samples = []
    for line in httpx.get(url, timeout=10).text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", line)
        assert match, line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        samples.append((match.group(1), labels))
    return samples


def test_scrape_pages_carry_the_operators_series_with_bounded_labels(
    traced_api: ApiProcess,
    traced_worker: WorkerProcess,
    worker_metrics_port: int,
    fake_bybit: FakeBybit,
    clean_general_database: object,
    operator: dict[str, str],
) -> None:
    base = traced_api.base_url
    run_sync(traced_api, {"kind": "instruments", "category": "spot"}, "metrics-sync", operator)
    for path in (
        "/v1/market/instruments?limit=5&base_coin=BTC",
        "/v1/market/instruments?limit=7&cursor=not-a-cursor",
        "/v1/market/instruments/spot/BTCUSDT",
        "/v1/market/instruments/spot/NOSUCHCOIN",
        "/v1/market/instruments/spot/bad symbol!",
        "/v1/no/such/route/XYZZY",
    ):
        httpx.get(base + path, timeout=10)

    api = scrape(f"{base}/metrics")
    durations = [labels for name, labels in api if name == "http_server_request_duration_seconds_count"]
    routes = {labels.get("http_route") for labels in durations}
    assert {
        "/v1/market/sync",
        "/v1/market/instruments",
        "/v1/market/instruments/{category}/{symbol}",
    } <= routes
    statuses = {(labels.get("http_route"), labels["http_response_status_code"]) for labels in durations}
    assert {
        ("/v1/market/instruments/{category}/{symbol}", "404"),
        ("/v1/market/instruments", "400"),
    } <= statuses
    label_values = " ".join(value for _, labels in api for value in labels.values())
    for raw in ("BTCUSDT", "NOSUCHCOIN", "XYZZY", "not-a-cursor", "base_coin", "limit="):
        assert raw not in label_values  # route templates only: no paths, no query strings
    pools = {
        (labels["db_client_connection_pool_name"], labels["db_client_connection_state"])
        for name, labels in api
        if name == "db_client_connection_count"
    }
    assert {("general", "used"), ("general", "idle")} <= pools  # the general database's pool

    worker_page = f"http://127.0.0.1:{worker_metrics_port}/metrics"

    def worker_has_series() -> bool:
        names = {name for name, _ in scrape(worker_page)}
        return "sync_rows_written_count" in names

    wait_until(worker_has_series, 20, "the worker's scrape page to show the sync")
    worker = scrape(worker_page)
    runs = {
        (labels["celery_task_name"], labels["celery_task_state"])
        for name, labels in worker
        if name == "celery_task_runs_total"
    }
    assert {("sync.instruments", "started"), ("sync.instruments", "succeeded")} <= runs
    assert any(
        name == "celery_task_duration_seconds_count" and labels["celery_task_name"] == "sync.instruments"
        for name, labels in worker
    )
    calls = [labels for name, labels in worker if name == "bybit_client_call_duration_seconds_count"]
    assert {labels["url_template"] for labels in calls} == {"/v5/market/instruments-info"}
    assert any(
        name == "sync_rows_written_count" and labels == {**labels, "sync_kind": "instruments"}
        for name, labels in worker
    )
    queues = [labels for name, labels in worker if name == "celery_queue_length"]
    assert [q["messaging_destination_name"] for q in queues] == [traced_worker.settings.celery_queue]
    assert any(name == "db_client_connection_count" for name, _ in worker)
