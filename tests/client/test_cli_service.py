"""The `visionstudio` command against the real service: piped and in a pseudo-terminal, the job
commands, Ctrl-C and the health probe. The CLI runs as its own process where a terminal or a
signal is part of the story."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import grpc
import pytest
from visionstudio.client.cli import main
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.client.terminal import run_in_terminal
from tests.fake_openai import FakeOpenAI
from tests.support.harness import API_KEY, AUTH, Harness, eventually
from tests.support.ports import free_port

CLI = [sys.executable, "-m", "visionstudio.client.cli"]


def _global(harness: Harness) -> list[str]:
    return ["--target", f"127.0.0.1:{harness.service.grpc_port}", "--api-key", API_KEY]


def _exists(path: str) -> bool:
    return Path(path).exists()


def _files(directory: Path, pattern: str) -> list[Path]:
    return list(directory.glob(pattern))


async def _cli(argv: list[str]) -> int:
    # main() runs its own event loop; the service needs this one.
    return await asyncio.to_thread(main, argv)


async def test_piped_json_run_then_the_job_commands(
    harness: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*_global(harness), "generate", "two boats", "-n", "2", "--partial-images", "1"]
    assert await _cli([*argv, "--json", "-o", str(tmp_path / "a")]) == 0
    out = capsys.readouterr()
    made = json.loads(out.out)
    job_id = made["job_id"]
    assert [_exists(i["path"]) for i in made["images"]] == [True, True]
    assert made["usage"]["output_tokens"] > 0
    assert len(_files(tmp_path / "a", f"{job_id}-*-preview-0.png")) == 2
    # Piped: plain lines, the same ones a script greps.
    assert f"job {job_id}: making 2 image(s)" in out.err
    assert "[2/2] image" in out.err

    assert await _cli([*_global(harness), "job", job_id]) == 0
    assert f"job {job_id}: generate, succeeded, 2/2 image(s)" in capsys.readouterr().out
    assert await _cli([*_global(harness), "jobs", "--status", "succeeded", "--since", "1h"]) == 0
    assert capsys.readouterr().out.startswith(job_id)
    assert await _cli([*_global(harness), "jobs", "--status", "failed"]) == 0
    assert capsys.readouterr().out.strip() == ""
    assert await _cli([*_global(harness), "usage", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == "2"  # proto3 JSON: int64 as text
    assert await _cli([*_global(harness), "watch", job_id, "-o", str(tmp_path / "b")]) == 0
    saved = capsys.readouterr().out.splitlines()
    assert sorted(Path(p).name for p in saved) == [f"{job_id}-0.png", f"{job_id}-1.png"]


async def test_a_terminal_gets_a_live_line_per_image(harness: Harness, tmp_path: Path) -> None:
    argv = [*CLI, *_global(harness), "generate", "a lighthouse", "-n", "2", "-o", str(tmp_path)]
    code, text = await run_in_terminal(argv)
    assert code == 0
    assert "image 0: saved ->" in text and "image 1: saved ->" in text
    assert "2 image(s) in" in text  # the summary line after the live display
    assert len(_files(tmp_path, "*.png")) == 2


async def test_ctrl_c_names_the_job_and_how_to_follow_it(
    harness: Harness, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    upstream.config.next_latencies = [30]
    argv = [*CLI, *_global(harness), "generate", "a slow ship", "-o", str(tmp_path)]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    accepted = await proc.stderr.readline()  # "job ID: making 1 image(s) with MODEL"
    job_id = accepted.decode().split(":")[0].removeprefix("job ")
    proc.send_signal(signal.SIGINT)
    _, err = await proc.communicate()
    assert proc.returncode == 130
    text = err.decode()
    assert f"visionstudio watch {job_id}" in text and f"visionstudio job {job_id}" in text
    assert "--idempotency-key " in text


async def test_health_exits_0_when_serving_and_1_when_nothing_answers(harness: Harness) -> None:
    target = f"127.0.0.1:{harness.service.grpc_port}"
    assert await eventually(lambda: harness.service.readiness.reachable, 5)
    # The address before the command, or after it as the container probes write it.
    for argv in (["--target", target, "health"], ["health", "--target", target]):
        probe = await asyncio.create_subprocess_exec(*CLI, *argv, stdout=asyncio.subprocess.PIPE)
        out, _ = await probe.communicate()
        assert (probe.returncode, out.strip()) == (0, b"SERVING")
    dead = [*CLI, "--target", f"127.0.0.1:{free_port()}", "--timeout", "2", "health"]
    probe = await asyncio.create_subprocess_exec(*dead, stdout=asyncio.subprocess.PIPE)
    await probe.communicate()
    assert probe.returncode == 1


async def test_cancel_stops_a_running_job_and_leaves_a_finished_one_as_it_was(
    harness: Harness, upstream: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.config.hang_next = 1  # the job's only upstream call never answers
    call = harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a slow one"), metadata=AUTH)
    job_id = (await anext(aiter(call))).accepted.job_id
    assert await _cli([*_global(harness), "cancel", job_id]) == 0
    assert f"job {job_id}: generate, cancelled" in capsys.readouterr().out
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        async for _ in call:
            pass
    assert ended.value.code() == grpc.StatusCode.CANCELLED
    # Cancelling again changes nothing: the job is already over.
    assert await _cli([*_global(harness), "cancel", job_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "JOB_STATUS_CANCELLED"
