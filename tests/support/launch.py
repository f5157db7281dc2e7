"""The server and the loopback OpenAI upstream as separate processes, as they run in production.

Only the launching lives here; waiting for them is `ports.wait_for_port`, and stopping them is
the caller's (tests kill, benchmarks terminate).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

from tests.support.ports import LOOPBACK

# Where a child's output goes: a file, subprocess.DEVNULL, or None for this process's own.
Output = IO[str] | int | None


def server_env(
    upstream_url: str, upstream_key: str, api_keys: Iterable[str], **settings: str
) -> dict[str, str]:
    """This process's environment, pointing the server at `upstream_url` with `api_keys` as its
    callers' keys; `settings` are further VISIONSTUDIO_* (or any) variables."""
    return {
        **os.environ,
        "OPENAI_BASE_URL": upstream_url,
        "OPENAI_API_KEY": upstream_key,
        "VISIONSTUDIO_API_KEYS": ",".join(api_keys),
        **settings,
    }


def start_server(
    grpc_port: int,
    http_port: int,
    data_dir: Path | str,
    env: Mapping[str, str],
    *,
    python_args: Sequence[str] = (),
    server_args: Sequence[str] = (),
    output: Output = None,
) -> subprocess.Popen[bytes]:
    """`python -m visionstudio.server.main` on loopback. `python_args` go to the interpreter
    (e.g. ("-m", "cProfile", "-o", path)), `server_args` to the server (e.g. a log level)."""
    return subprocess.Popen(
        [
            *(sys.executable, *python_args, "-m", "visionstudio.server.main"),
            *("--grpc-port", str(grpc_port), "--http-port", str(http_port)),
            *("--data-dir", str(data_dir), "--host", LOOPBACK, *server_args),
        ],
        env=dict(env),
        stdout=output,
        stderr=output,
    )


def start_fake_openai(
    port: int, options: Sequence[str] = (), output: Output = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """`python -m tests.fake_openai` on loopback; `options` as `python -m tests.fake_openai -h`
    lists them (latency, API key, rate limits, photographic images)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--port", str(port), *options],
        stdout=output,
        stderr=output,
    )
