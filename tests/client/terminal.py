"""Running the CLI as its own process in a pseudo-terminal, as a person at a terminal would."""

from __future__ import annotations

import asyncio
import os
import pty


async def run_in_terminal(argv: list[str]) -> tuple[int, str]:
    """The process's exit code and everything it wrote to the terminal."""
    controller, terminal = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=terminal, stdout=terminal, stderr=terminal, env={**os.environ, "TERM": "xterm"}
    )
    os.close(terminal)
    seen = bytearray()
    loop = asyncio.get_running_loop()
    while True:
        try:
            chunk = await loop.run_in_executor(None, os.read, controller, 65536)
        except OSError:  # EIO: the CLI exited and closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    return await proc.wait(), seen.decode(errors="replace")
