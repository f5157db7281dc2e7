"""The `visionstudio` command against the recording server: files, stdout, stderr, exit codes."""

import asyncio
from pathlib import Path

import pytest
from visionstudio.client.cli import main
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.client.conftest import Server
from tests.client.servicer import EXPECTED_ERROR, IMAGES, JOB_ID, REJECTED_PROMPT
from tests.support.harness import png


async def test_cli_generate_saves_each_image_and_prints_its_path(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--target", server.target, "--api-key", "key-3", "generate", "a cat"]
    argv += ["-n", "2", "--aspect-ratio", "3:2", "--format", "png", "-o", str(tmp_path / "out")]

    # main() runs its own event loop; the server needs this one.
    assert await asyncio.to_thread(main, argv) == 0

    out = capsys.readouterr()
    first, second = tmp_path / "out" / f"{JOB_ID}-1.png", tmp_path / "out" / f"{JOB_ID}-0.png"
    assert out.out.splitlines() == [str(first), str(second)]
    assert first.read_bytes() == IMAGES[0][1]
    assert second.read_bytes() == IMAGES[1][1]
    assert f"[1/2] image 1 saved -> {first} (6x4, image/png," in out.err
    assert JOB_ID in out.err.splitlines()[-1]
    assert "430 total" in out.err.splitlines()[-1]
    request = server.servicer.requests[0]
    assert isinstance(request, pb.GenerateImageRequest)
    assert request.include_data
    assert request.number_of_images == 2
    assert request.aspect_ratio == pb.ASPECT_RATIO_3_2
    assert server.servicer.metadata[0]["x-api-key"] == "key-3"


async def test_cli_reads_target_and_key_from_the_environment(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISIONSTUDIO_TARGET", server.target)
    monkeypatch.setenv("VISIONSTUDIO_API_KEY", "key-env")
    image = tmp_path / "in.png"
    image.write_bytes(png((4, 4), (255, 255, 0)))

    argv = ["edit", "in autumn", "--image", str(image), "--quality", "low", "-o", str(tmp_path)]
    assert await asyncio.to_thread(main, argv) == 0

    request = server.servicer.requests[0]
    assert isinstance(request, pb.EditImageRequest)
    assert request.image_file == image.read_bytes()
    assert request.quality == pb.QUALITY_LOW
    assert server.servicer.metadata[0]["x-api-key"] == "key-env"


async def test_cli_inpaint_border(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--target", server.target, "--api-key", "key-3", "inpaint", "more sea"]
    argv += ["--image-url", "https://example.test/i.png", "--border", "0.25", "-o", str(tmp_path)]

    assert await asyncio.to_thread(main, argv) == 0

    request = server.servicer.requests[0]
    assert isinstance(request, pb.InpaintRequest)
    assert request.image_url == "https://example.test/i.png"
    assert request.inpaint_border_only
    assert request.border_percentage == pytest.approx(0.25)
    saved = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert saved == [tmp_path / f"{JOB_ID}-1.png", tmp_path / f"{JOB_ID}-0.png"]


def test_cli_without_a_key_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VISIONSTUDIO_API_KEY", raising=False)

    assert main(["generate", "a cat"]) == 2
    assert "VISIONSTUDIO_API_KEY" in capsys.readouterr().err


async def test_cli_prints_the_described_error_and_exits_1(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--target", server.target, "--api-key", "key-3", "generate", REJECTED_PROMPT]

    assert await asyncio.to_thread(main, [*argv, "-o", str(tmp_path)]) == 1

    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.strip() == f"error: {EXPECTED_ERROR}"
