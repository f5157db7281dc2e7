"""``python -m tests.fake_openai``: the URL on stdout's first line, the flags, a clean SIGTERM."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.fake_openai import STATS_PATH
from tests.fake_openai_tests.sdk import MODEL


@contextmanager
def running_fake(*flags: str) -> Iterator[str]:
    """The fake as a process on a free port; yields the base URL it prints, and checks that
    SIGTERM stops it cleanly."""
    cmd = [sys.executable, "-m", "tests.fake_openai", "--port", "0", *flags]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            yield proc.stdout.readline().strip()
        finally:
            proc.terminate()
        assert proc.wait(timeout=10) == 0


def get_json(request: str | urllib.request.Request) -> tuple[Any, Any]:
    """The answer's headers and JSON body."""
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.headers, json.load(answer)


def test_command_line_prints_base_url() -> None:
    with running_fake() as line:
        assert line.startswith("http://127.0.0.1:") and line.endswith("/v1")
        assert not line.endswith(":0/v1")


def test_command_line_rate_limit() -> None:
    flags = ("--api-key", "sk-cli", "--images-per-minute", "1", "--photographic")
    with running_fake(*flags) as base_url:
        request = urllib.request.Request(
            f"{base_url}/images/generations",
            data=json.dumps({"model": MODEL, "prompt": "x"}).encode(),
            headers={"Authorization": "Bearer sk-cli", "Content-Type": "application/json"},
        )
        headers, body = get_json(request)
        assert headers["x-ratelimit-limit-images"] == "1"
        assert len(base64.b64decode(body["data"][0]["b64_json"])) > 10**6
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=30)
        assert info.value.code == 429
        _, stats = get_json(base_url.removesuffix("/v1") + STATS_PATH)
        assert (stats["served_images"], stats["rate_limited"]) == (1, 1)
