"""LiteLLM's proxy as the peer gateway of `python -m bench.peer`: found in its own virtualenv,
started as a real process in front of the loopback upstream, and read from /proc as the server
is (CPU and peak memory of the process and any children it starts)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.readings import cpu_seconds, proc_status_kib
from bench.stack import MODEL, UPSTREAM_KEY
from tests.support.ports import LOOPBACK, free_port, wait_for_port

# LiteLLM pins libraries the service needs newer, so it lives in a virtualenv of its own,
# made from pyproject.toml's `bench` dependency group by `make bench-peer-install`.
VENV = Path(__file__).resolve().parent.parent / ".venv-litellm"
INSTALL_HINT = "make bench-peer-install (LiteLLM's proxy into .venv-litellm, pinned in pyproject)"
READY_TIMEOUT_S = 120.0  # the proxy imports a great deal before it listens


def litellm_command() -> Path | None:
    """The `litellm` command of the peer's virtualenv, or None when it is not installed."""
    command = VENV / "bin" / "litellm"
    return command if command.exists() else None


def litellm_version() -> str:
    """The installed LiteLLM's version, from its package metadata's folder name."""
    found = sorted(VENV.glob("lib/python*/site-packages/litellm-*.dist-info"))
    return found[0].name.removeprefix("litellm-").removesuffix(".dist-info") if found else "?"


def _config(upstream_url: str) -> str:
    """One model routed to the loopback upstream, as a LiteLLM user would configure it."""
    return (
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {upstream_url}\n"
        f"      api_key: {UPSTREAM_KEY}\n"
    )


@dataclass(frozen=True)
class Proxy:
    base_url: str  # OpenAI-compatible, for the openai SDK
    pid: int

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in _tree(self.pid))

    def peak_rss_mib(self) -> float:
        return sum(proc_status_kib(pid, "VmHWM") for pid in _tree(self.pid)) / 1024


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (a proxy started with workers forks them)."""
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").iterdir():
            children = (task / "children").read_text().split()
            pids += [int(child) for child in children]
        i += 1
    return pids


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    """Listening is not enough: the proxy loads its config after the socket opens."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    wait_for_port(port, READY_TIMEOUT_S, process)
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            url = f"http://{LOOPBACK}:{port}/health/readiness"
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        if process.poll() is not None:
            raise RuntimeError(f"the LiteLLM proxy exited with {process.returncode}")
        time.sleep(0.2)
    raise RuntimeError(f"the LiteLLM proxy was not ready within {READY_TIMEOUT_S:g} s")


@contextmanager
def litellm_proxy(command: Path, upstream_url: str) -> Iterator[Proxy]:
    """`litellm --config ...` on a free loopback port in front of `upstream_url`."""
    port = free_port()
    env = {
        **os.environ,
        # The model cost map from the package, not fetched from the internet at start-up.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
    }
    with tempfile.TemporaryDirectory(prefix="visionstudio-peer-") as folder:
        config = Path(folder) / "litellm.yaml"
        config.write_text(_config(upstream_url))
        process = subprocess.Popen(
            [str(command), "--config", str(config), "--host", LOOPBACK, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(port, process)
            yield Proxy(f"http://{LOOPBACK}:{port}/v1", process.pid)
        finally:
            process.terminate()
            process.wait(timeout=60)
