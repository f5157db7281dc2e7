"""Loopback ports: a free one to listen on, and waiting until something listens."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

LOOPBACK = "127.0.0.1"


class NotListening(RuntimeError):
    """A process never listened on its port: it exited, or the time ran out."""


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each socket stays bound until all are chosen (the server
    refuses a busy port rather than share it)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind((LOOPBACK, 0))
        return [int(s.getsockname()[1]) for s in sockets]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((LOOPBACK, port)) == 0


def wait_for_port(
    port: int, timeout_s: float = 30, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Returns once something accepts connections on `port`; raises NotListening when `process`
    (the one expected to listen) exits first or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise NotListening(f"the process exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.2):
            return
        time.sleep(0.05)
    raise NotListening(f"nothing listened on port {port} within {timeout_s:g} s")
