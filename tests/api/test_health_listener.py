"""grpc.health.v1 on a port of its own (VISIONSTUDIO_HEALTH_PORT), answered by grpc's threads:
at 1,000 streams the event loop is busy for seconds at a time and a check on the gRPC port
waits behind it (#15: p99 462 ms); this one does not, and still reports readiness."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2
from visionstudio.server.api.readiness import SERVICE_NAME

from tests.fake_openai import FakeOpenAI
from tests.support.harness import Harness

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
LISTENING = {"health_port": 0, "health_probe_interval_s": 0.1}


def _health_port(harness: Harness) -> int:
    listener = harness.service.grpc.health_listener
    assert listener is not None
    return listener.port


def _status(channel: grpc.Channel, service: str, timeout_s: float = 5.0) -> int:
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    answer = check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    return int(answer.status)


async def _eventually_status(channel: grpc.Channel, service: str, status: int) -> bool:
    for _ in range(100):
        if await asyncio.to_thread(_status, channel, service) == status:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("harness", [LISTENING], indirect=True)
async def test_the_health_port_reports_readiness_and_shutdown(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{_health_port(harness)}") as channel:
        assert await asyncio.to_thread(_status, channel, "") == SERVING
        assert await _eventually_status(channel, SERVICE_NAME, SERVING)
        await upstream.stop()
        assert await _eventually_status(channel, SERVICE_NAME, NOT_SERVING)
        # Liveness is not readiness: the process still serves.
        assert await asyncio.to_thread(_status, channel, "") == SERVING
        await harness.service.readiness.shut_down()
        assert await asyncio.to_thread(_status, channel, "") == NOT_SERVING


def _busy(seconds: float) -> None:
    """The event loop busy with CPU work, as under 1,000 streams of images."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sum(range(1000))


@pytest.mark.parametrize("harness", [LISTENING], indirect=True)
async def test_the_health_port_answers_while_the_event_loop_is_busy(harness: Harness) -> None:
    ports = {"health port": _health_port(harness), "gRPC port": harness.service.grpc_port}
    channels = {name: grpc.insecure_channel(f"127.0.0.1:{port}") for name, port in ports.items()}
    answers: dict[str, float | grpc.StatusCode] = {}

    def probe(name: str) -> None:
        started = time.monotonic()
        try:
            _status(channels[name], "", timeout_s=1.0)
            answers[name] = time.monotonic() - started
        except grpc.RpcError as error:
            answers[name] = error.code()

    try:
        for name in channels:  # connected before the loop is blocked
            await asyncio.to_thread(_status, channels[name], "")
        probes = [threading.Thread(target=probe, args=(name,)) for name in channels]
        for thread in probes:
            thread.start()
        _busy(1.5)
        for thread in probes:
            thread.join()
    finally:
        for channel in channels.values():
            channel.close()
    assert answers["gRPC port"] == grpc.StatusCode.DEADLINE_EXCEEDED
    quick = answers["health port"]
    assert isinstance(quick, float) and quick < 0.5, answers
