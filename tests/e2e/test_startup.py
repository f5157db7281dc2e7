"""Start-up as an operator sees it: what the server says about its provider before serving."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.fake_openai import FakeOpenAI
from tests.support.harness import UPSTREAM_KEY
from tests.support.launch import server_env
from tests.support.processes import KEY, ServerProcess, free_port


def _run_server(upstream_url: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The server process to its end (a refused start ends at once)."""
    return subprocess.run(
        [sys.executable, "-m", "visionstudio.server.main", "--data-dir", str(data_dir),
         "--grpc-port", str(free_port()), "--http-port", str(free_port()),
         "--host", "127.0.0.1", "--log-format", "text"],
        env=server_env(upstream_url, UPSTREAM_KEY, [KEY], **env),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_an_unknown_model_is_refused_at_start_with_one_line(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    done = await asyncio.to_thread(
        _run_server, upstream.base_url, tmp_path, VISIONSTUDIO_MODEL="no-such-model"
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "'no-such-model'" in lines[0] and "VISIONSTUDIO_MODEL" in lines[0]
    # Refused before any image call could be paid for.
    assert not [r for r in upstream.requests if r.endpoint in ("generations", "edits")]


async def test_an_unreachable_provider_is_reported_loudly_and_the_service_is_not_ready(
    tmp_path: Path,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    server = ServerProcess(nowhere, tmp_path, VISIONSTUDIO_LOG_FORMAT="text")
    try:
        await server.ready()
        readyz = f"http://127.0.0.1:{server.http_port}/readyz"
        async with aiohttp.ClientSession() as http, http.get(readyz) as resp:
            assert resp.status == 503
    finally:
        server.kill()
    log = server.log.read_text()
    loud = [line for line in log.splitlines() if "PROVIDER UNREACHABLE" in line]
    assert len(loud) == 1, log
    assert "ERROR" in loud[0] and "OPENAI_BASE_URL" in loud[0] and nowhere in loud[0]


async def test_a_known_model_starts_quietly(upstream: FakeOpenAI, tmp_path: Path) -> None:
    server = ServerProcess(upstream.base_url, tmp_path, VISIONSTUDIO_LOG_FORMAT="text")
    try:
        await server.ready()
    finally:
        server.kill()
    log = server.log.read_text()
    assert "UNREACHABLE" not in log and "does not know the model" not in log
    assert upstream.model_lookups == ["gpt-image-2.5-flare"]
