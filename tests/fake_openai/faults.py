"""Injected trouble, as FakeOpenAIConfig queues it: latency, dropped and hung calls, failures."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.fake_openai.config import FakeOpenAIConfig


class Dropped(Exception):
    """Raised by a handler whose connection must be closed without an answer."""


async def injected_failure(config: FakeOpenAIConfig, image_call: bool) -> web.Response | None:
    """The canned answer queued for this request, if any. Before it, an image call may take a
    queued drop (raises Dropped) or hang (returns only when the client hangs up: cancelled)."""
    if image_call and config.drop_next > 0:
        config.drop_next -= 1
        raise Dropped
    if image_call and config.hang_next > 0:
        config.hang_next -= 1
        await asyncio.Event().wait()  # only the client hanging up (cancellation) ends this
    if not config.fail_next:
        return None
    failure = config.fail_next.pop(0)
    if failure.raw is not None:
        return web.Response(
            body=failure.raw,
            status=failure.status,
            headers=failure.headers,
            content_type=failure.content_type,
        )
    payload = failure.body if "error" in failure.body else {"error": failure.body}
    return web.json_response(payload, status=failure.status, headers=failure.headers)


def close_without_answer(request: web.Request) -> web.Response:
    """What a handler returns for a Dropped call: the connection is closed instead."""
    if request.transport is not None:
        request.transport.abort()
    # Never sent: aiohttp finds the transport closed and lets the connection go quietly.
    return web.Response()


def next_latency(config: FakeOpenAIConfig) -> float:
    """The seconds this image call takes: the next queued latency, else the standing one."""
    if config.next_latencies:
        return config.next_latencies.pop(0)
    return config.latency_s
