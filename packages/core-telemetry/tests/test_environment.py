"""Which telemetry the OTEL_* variables switch on, and the one line a wrong value gives."""

import pytest

from core_config import ConfigError
from core_telemetry import plan_from_environment


def test_nothing_is_on_without_a_variable_asking() -> None:
    assert not plan_from_environment({}).enabled
    # OTLP is the default exporter, but with no endpoint nothing would be sent anywhere.
    assert not plan_from_environment({"OTEL_TRACES_EXPORTER": "otlp"}).enabled


def test_an_endpoint_switches_traces_and_metrics_on() -> None:
    plan = plan_from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otlp.example:4318"})
    assert plan.trace_exporters == ("otlp",)
    assert plan.metric_exporters == ("otlp",)
    assert not plan.prometheus


def test_signal_endpoints_and_none_choose_per_signal() -> None:
    plan = plan_from_environment(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
            "OTEL_METRICS_EXPORTER": "none",
        }
    )
    assert (plan.traces, plan.metrics) == (True, False)


def test_console_and_prometheus_need_no_endpoint() -> None:
    plan = plan_from_environment(
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_EXPORTER_PROMETHEUS_PORT": "9500",
        }
    )
    assert plan.trace_exporters == ("console",)
    assert plan.prometheus
    assert plan.prometheus_port == 9500


def test_sdk_disabled_wins() -> None:
    env = {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert not plan_from_environment(env).enabled


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
            "OTEL_EXPORTER_OTLP_ENDPOINT: not an http:// or https:// URL of an OTLP/HTTP receiver",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "jaeger"},
            "OTEL_TRACES_EXPORTER: 'jaeger' is not one of otlp, console, none",
        ),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported (the OTLP/HTTP exporter)",
        ),
        (
            {"OTEL_EXPORTER_PROMETHEUS_PORT": "99999"},
            "OTEL_EXPORTER_PROMETHEUS_PORT: not a port number (1-65535)",
        ),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_variable(env: dict[str, str], line: str) -> None:
    with pytest.raises(ConfigError) as raised:
        plan_from_environment(env)
    assert raised.value.lines() == [line]
