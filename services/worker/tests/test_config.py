"""The Celery configuration, beat's schedule and the CLI's start-up, from settings."""

import inspect
import subprocess
import sys
from datetime import timedelta
from typing import Unpack, get_type_hints

import pytest
from celery.schedules import crontab

from core_config import ConfigError, build_settings
from worker_contract import SYNC_INSTRUMENTS, SYNC_KLINES, TASK_ARGUMENTS
from worker_service import SyncRequestError, beat_schedule, celery_config, check_timing, create_app
from worker_service.tasks import check_request, sync_instruments_task, sync_klines_task


def test_celery_is_configured_for_at_least_once_delivery_from_settings() -> None:
    settings = build_settings(
        environment="test", redis_url="redis://127.0.0.1:6379/3", celery_queue="syncs", task_result_ttl=600
    )
    config = celery_config(settings)
    assert config["broker_url"] == config["result_backend"] == "redis://127.0.0.1:6379/3"
    assert config["accept_content"] == ["json"]
    assert (config["task_serializer"], config["result_serializer"]) == ("json", "json")
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["task_track_started"] is True
    assert config["task_default_queue"] == "syncs"
    assert config["result_expires"] == 600
    assert config["broker_connection_retry_on_startup"] is True
    # A task is handed to another worker only after it could have finished (the hard limit).
    assert config["task_soft_time_limit"] < config["task_time_limit"]
    assert config["broker_transport_options"]["visibility_timeout"] > config["task_time_limit"]
    # Tasks are chunks of a short bound, so a task lost with its worker runs again within two minutes.
    assert config["broker_transport_options"]["visibility_timeout"] <= 110
    assert settings.sync_chunk_seconds < config["task_soft_time_limit"]
    assert 0 < config["worker_soft_shutdown_timeout"] < settings.worker_shutdown_delay
    assert config["beat_scheduler"] == "worker_service.beat_scheduler:OneSyncPerPeriod"
    assert config["redbeat_key_prefix"] == "redbeat:syncs:"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"celery_visibility_timeout": 50, "task_time_limit": 50}, "CELERY_VISIBILITY_TIMEOUT"),
        ({"worker_soft_shutdown_timeout": 58, "worker_shutdown_delay": 60}, "WORKER_SOFT_SHUTDOWN_TIMEOUT"),
        ({"sync_chunk_seconds": 40, "task_soft_time_limit": 40}, "SYNC_CHUNK_SECONDS"),
        ({"task_soft_time_limit": 50, "task_time_limit": 50}, "TASK_SOFT_TIME_LIMIT"),
    ],
)
def test_time_settings_that_cannot_work_together_are_refused(
    overrides: dict[str, float], variable: str
) -> None:
    settings = build_settings(environment="test", **overrides)
    with pytest.raises(ConfigError) as refused:
        check_timing(settings)
    assert [name for name, _ in refused.value.problems] == [variable]
    with pytest.raises(ConfigError):
        create_app(settings)


def test_the_worker_stops_at_start_on_time_settings_that_cannot_work_together() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "worker_service", "worker"],
        env={"PATH": "/usr/bin:/bin", "CELERY_VISIBILITY_TIMEOUT": "30", "TASK_TIME_LIMIT": "50"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "CELERY_VISIBILITY_TIMEOUT: must be above TASK_TIME_LIMIT, or a running task is run twice"
    ]


@pytest.mark.parametrize(
    ("name", "task"), [(SYNC_INSTRUMENTS, sync_instruments_task), (SYNC_KLINES, sync_klines_task)]
)
def test_the_tasks_take_the_arguments_of_the_contract(name: str, task: object) -> None:
    run = task.run  # type: ignore[attr-defined]
    parameters = inspect.signature(run).parameters
    # The contract's arguments, and the worker's own: ``progress``, what a sync's earlier chunks
    # did; ``budget_waits``, how its retries waited for the call budget.
    assert [(key, p.kind) for key, p in parameters.items()] == [  # the bound method: no ``self``
        ("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("budget_waits", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("request", inspect.Parameter.VAR_KEYWORD),
    ]
    assert get_type_hints(run)["request"] == Unpack[TASK_ARGUMENTS[name]]
    assert task.name == name  # type: ignore[attr-defined]


def test_a_short_visibility_timeout_is_swept_for_often() -> None:
    config = celery_config(build_settings(environment="test", celery_visibility_timeout=2))
    options = config["broker_transport_options"]
    assert options["visibility_timeout"] == 2
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 2


def test_the_app_registers_the_tasks_by_their_contract_names() -> None:
    app = create_app(build_settings(environment="test"))
    assert {"worker.ping", "sync.instruments", "sync.klines"} <= set(app.tasks)


def test_beat_syncs_instruments_hourly_each_configured_kline_periodically_and_sweeps() -> None:
    settings = build_settings(
        environment="test",
        celery_queue="syncs",
        sync_kline_category="spot",
        sync_kline_symbols="BTCUSDT,ETHUSDT",
        sync_kline_intervals="1,60",
        sync_kline_every=30,
    )
    schedule = beat_schedule(settings)
    instruments = schedule.pop("instruments hourly")
    assert instruments["task"] == "sync.instruments"
    assert instruments["schedule"] == crontab(minute="0")
    assert instruments["kwargs"] == {"category": None}
    sweep = schedule.pop("sweep abandoned syncs")
    assert (sweep["task"], sweep["schedule"]) == ("sync.sweep", timedelta(seconds=60))
    assert sorted(
        (entry["kwargs"]["symbol"], entry["kwargs"]["interval"]) for entry in schedule.values()
    ) == [
        ("BTCUSDT", "1"),
        ("BTCUSDT", "60"),
        ("ETHUSDT", "1"),
        ("ETHUSDT", "60"),
    ]
    for entry in schedule.values():
        assert entry["task"] == "sync.klines"
        assert entry["schedule"] == timedelta(seconds=30)
        assert entry["kwargs"]["category"] == "spot"
        assert entry["options"]["queue"] == "syncs"
        assert entry["options"]["expires"] < 30  # a missed period is not run late


def test_every_command_stops_on_a_bad_setting_with_one_line_and_no_traceback() -> None:
    for command in ("worker", "beat", "health"):
        done = subprocess.run(
            [sys.executable, "-m", "worker_service", command],
            env={"PATH": "/usr/bin:/bin", "REDIS_URL": "http://nope", "CELERY_QUEUE": "bad queue!"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 2, done.stderr
        assert lines[0].startswith("REDIS_URL: ")
        assert lines[1].startswith("CELERY_QUEUE: ")
        assert "Traceback" not in done.stderr


def test_a_message_off_the_contract_is_refused() -> None:
    with pytest.raises(SyncRequestError, match="unknown start; missing interval"):
        check_request(SYNC_KLINES, {"category": "linear", "symbol": "BTCUSDT", "start": 1})
    with pytest.raises(SyncRequestError, match="missing category"):
        check_request(SYNC_INSTRUMENTS, {})
    # The range's keys may be left out.
    check_request(SYNC_KLINES, {"category": "linear", "symbol": "BTCUSDT", "interval": "1"})
