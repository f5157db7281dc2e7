"""The Grafana dashboard and the alert rules use only metrics a running server really exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import promql_parser
from prometheus_client.parser import text_string_to_metric_families
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.deploy.artifacts import ALERTS, DASHBOARD, load_json, load_yaml
from tests.support.harness import API_KEY, AUTH, Harness, collect

# Series Prometheus makes itself for every target, not the server.
PROMETHEUS_SERIES = {"up"}
# Grafana's variables, replaced the way Grafana does before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$instance": ".*"}
# The sample names each metric type exposes besides the family name.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def dashboard_queries() -> Iterator[str]:
    dashboard: dict[str, Any] = load_json(DASHBOARD)
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(metric, label) is Grafana's, not PromQL: only the metric is checked.
            metric = variable["definition"].removeprefix("label_values(").split(",")[0]
            yield metric


def alert_expressions() -> Iterator[str]:
    for group in load_yaml(ALERTS)["groups"]:
        for rule in group["rules"]:
            yield rule["expr"]


def metric_names(query: str) -> set[str]:
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(query), visit)
    return names


async def exported_series(harness: Harness) -> set[str]:
    url = f"http://127.0.0.1:{harness.service.http_port}/metrics"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"x-api-key": API_KEY}) as response,
    ):
        assert response.status == 200
        text = await response.text()
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, ("",))
    }


async def test_every_metric_in_the_dashboard_and_alerts_is_exported(harness: Harness) -> None:
    # One real call first, so the exposition is the one of a server that has served.
    request = pb.GenerateImageRequest(prompt="a lighthouse", number_of_images=1)
    await collect(harness.stub.GenerateImage(request, metadata=AUTH))
    exported = await exported_series(harness) | PROMETHEUS_SERIES
    used = {
        name
        for query in [*dashboard_queries(), *alert_expressions()]
        for name in metric_names(query)
    }
    assert used, "no queries found"
    assert used - exported == set(), f"not exported by the server: {used - exported}"


def test_alert_rules_are_complete() -> None:
    names = set()
    for group in load_yaml(ALERTS)["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] not in names
            names.add(rule["alert"])
            assert rule["labels"]["severity"] in {"page", "ticket", "info"}
            assert rule["annotations"]["summary"]
            promql_parser.parse(rule["expr"])


def test_dashboard_covers_the_service_signals() -> None:
    used = {name for query in dashboard_queries() for name in metric_names(query)}
    for signal in (
        "visionstudio_calls_total",
        "visionstudio_call_duration_seconds_bucket",
        "visionstudio_images_total",
        "visionstudio_upstream_requests_total",
        "visionstudio_upstream_retries_total",
        "visionstudio_provider_budget_waiting",
        "visionstudio_upstream_queued",
    ):
        assert signal in used
