"""`visionstudio batch` and its companions against the real service: a JSON Lines file of the
three operations saved image by image, `--watch` resuming, a bad line refused before anything is
sent, a failing item failing the exit code, and Ctrl-C naming the batch."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from pathlib import Path

import pytest
from visionstudio.client.cli import main
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.client.terminal import run_in_terminal
from tests.fake_openai import FakeOpenAI
from tests.support.harness import API_KEY, AUTH, Harness, png

CLI = [sys.executable, "-m", "visionstudio.client.cli"]


def _global(harness: Harness) -> list[str]:
    return ["--target", f"127.0.0.1:{harness.service.grpc_port}", "--api-key", API_KEY]


async def _cli(argv: list[str]) -> int:
    # main() runs its own event loop; the service needs this one.
    return await asyncio.to_thread(main, argv)


def _write_lines(path: Path, *bodies: dict[str, object]) -> Path:
    path.write_text("\n".join(json.dumps(b) for b in bodies) + "\n\n")
    return path


def _mixed(tmp_path: Path) -> Path:
    (tmp_path / "photo.png").write_bytes(png((64, 48)))
    photo = base64.b64encode(png((40, 40))).decode()
    return _write_lines(
        tmp_path / "batch.jsonl",
        {"item_id": "castle", "prompt": "a castle", "number_of_images": 2, "aspect_ratio": "3:2"},
        {"item_id": "night", "prompt": "make it night", "image_path": "photo.png"},
        {"item_id": "frame", "prompt": "a meadow", "image_file": photo,
         "inpaint_border_only": True, "border_percentage": 0.2, "output_format": "webp"},
    )  # fmt: skip


def _saved(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


async def test_a_file_of_three_operations_saves_every_image_then_watch_resumes(
    harness: Harness, upstream: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert await _cli([*_global(harness), "batch", str(_mixed(tmp_path)), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    expected = ["castle/0.png", "castle/1.png", "frame/0.webp", "night/0.png"]
    assert _saved(out) == expected
    assert sorted(printed.out.split()) == [str(out / name) for name in expected]
    # Piped: plain lines, the same ones a script greps.
    assert "[4/4 images]" in printed.err and "[3/3 items] item" in printed.err
    batch_id = printed.err.split(":")[0].removeprefix("batch ")

    # A watch into the same directory keeps what is there and fetches what is missing (by URL:
    # the replay of an ended batch carries no bytes).
    (out / "castle" / "1.png").unlink()
    before = (out / "night" / "0.png").stat().st_mtime_ns
    watch = [*_global(harness), "batch", "--watch", batch_id, "-o", str(out), "--json"]
    assert await _cli(watch) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert _saved(out) == expected
    assert (out / "night" / "0.png").stat().st_mtime_ns == before
    assert [e["event"] for e in events].count("image") == 4
    assert events[-1]["event"] == "summary" and events[-1]["items_succeeded"] == 3

    assert await _cli([*_global(harness), "batches"]) == 0
    assert capsys.readouterr().out.startswith(f"{batch_id}  ")
    assert await _cli([*_global(harness), "batch-status", batch_id]) == 0
    status = capsys.readouterr().out
    assert f"batch {batch_id}: succeeded, 3 item(s)" in status
    assert "item frame: succeeded job " in status
    assert await _cli([*_global(harness), "cancel-batch", batch_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "BATCH_STATUS_SUCCEEDED"


async def test_a_bad_line_is_refused_by_line_and_key_before_anything_is_sent(
    harness: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = _write_lines(
        tmp_path / "bad.jsonl",
        {"item_id": "a", "prompt": "a cat"},
        {"item_id": "b", "prompt": "a dog", "aspect_ratio": "5:4"},
    )
    with pytest.raises(SystemExit) as exited:
        await _cli([*_global(harness), "batch", str(batch), "-o", str(tmp_path / "out")])
    assert exited.value.code == 2
    assert "line 2: aspect_ratio: unknown value '5:4'" in capsys.readouterr().err
    page = await harness.stub.ListBatches(pb.ListBatchesRequest(), metadata=AUTH)
    assert list(page.batches) == []


async def test_an_item_that_fails_fails_the_exit_code_alone(
    harness: Harness, upstream: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_an_image = base64.b64encode(b"not an image").decode()
    batch = _write_lines(
        tmp_path / "batch.jsonl",
        {"item_id": "good", "prompt": "a cat"},
        {"item_id": "bad", "prompt": "fix", "image_file": not_an_image, "mask_file": not_an_image},
    )
    out = tmp_path / "out"
    assert await _cli([*_global(harness), "batch", str(batch), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "item bad: failed: " in err and "(INVALID_ARGUMENT)" in err
    assert _saved(out) == ["good/0.png"]


async def test_ctrl_c_names_the_batch_and_how_to_follow_it(
    harness: Harness, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    upstream.config.next_latencies = [30]
    batch = _write_lines(tmp_path / "slow.jsonl", {"item_id": "ship", "prompt": "a slow ship"})
    argv = [*CLI, *_global(harness), "batch", str(batch), "-o", str(tmp_path / "out")]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    accepted = await proc.stderr.readline()  # "batch ID: 1 item(s)"
    batch_id = accepted.decode().split(":")[0].removeprefix("batch ")
    proc.send_signal(signal.SIGINT)
    _, err = await proc.communicate()
    assert proc.returncode == 130
    text = err.decode()
    assert f"visionstudio batch --watch {batch_id}" in text
    assert f"visionstudio cancel-batch {batch_id}" in text
    assert "--idempotency-key batch-" in text


async def test_the_demo_batch_of_the_readme_runs(
    harness: Harness, upstream: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = tmp_path / "demo"
    make_demo = [sys.executable, "tools/demo_inputs.py", str(demo)]
    assert (await (await asyncio.create_subprocess_exec(*make_demo)).wait()) == 0
    out = tmp_path / "out"
    assert await _cli([*_global(harness), "batch", str(demo / "batch.jsonl"), "-o", str(out)]) == 0
    assert _saved(out) == [
        "castle/0.png",
        "castle/1.png",
        "door/0.png",
        "fox/0.webp",
        "meadow/0.png",
        "night/0.png",
    ]
    assert "5 succeeded, 0 failed" in capsys.readouterr().err


async def test_a_terminal_gets_a_progress_bar_and_a_line_per_item(
    harness: Harness, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    batch = _write_lines(
        tmp_path / "batch.jsonl",
        {"item_id": "a", "prompt": "a cat", "number_of_images": 2},
        {"item_id": "b", "prompt": "a dog"},
    )
    out = tmp_path / "out"
    code, text = await run_in_terminal(
        [*CLI, *_global(harness), "batch", str(batch), "-o", str(out)]
    )
    assert code == 0
    assert "item a image 1 -> " in text and "item b: succeeded" in text
    assert "2/2" in text and "3/3 images" in text  # the bar: items, then images done of the total
    assert "2 succeeded, 0 failed" in text
