"""How the CLI shows a job on stderr: a live line per image on a terminal, plain lines otherwise.

Both displays hear the same calls from `cli_output`; only the rendering differs, so a script
that pipes stderr gets stable, greppable lines and a person at a terminal sees what each
image is doing while it takes minutes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text
from visionstudio.image.v1 import image_service_pb2 as pb


class Display(Protocol):
    def __enter__(self) -> Self: ...
    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def accepted(self, event: pb.JobAccepted) -> None: ...
    def preview(self, index: int, number: int, path: Path) -> None: ...
    def image(self, image: pb.Image, path: Path | None) -> None: ...
    def summary(self, summary: pb.JobSummary) -> None: ...


def size_text(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def summary_text(summary: pb.JobSummary, elapsed_s: float) -> str:
    usage = summary.usage
    return (
        f"job {summary.job_id}: {summary.images_delivered} image(s) in {elapsed_s:.1f}s; "
        f"tokens: {usage.input_tokens} in (text {usage.input_text_tokens}, "
        f"image {usage.input_image_tokens}), {usage.output_tokens} out, "
        f"{usage.total_tokens} total"
    )


def _saved_text(image: pb.Image, path: Path) -> str:
    size = size_text(image.size_bytes or len(image.data))
    return f"saved -> {path} ({image.width}x{image.height}, {image.mime_type}, {size})"


def open_display(expected: int) -> Display:
    """The live display when stderr is a terminal, plain lines otherwise."""
    console = Console(stderr=True)
    return LiveDisplay(console, expected) if console.is_terminal else PlainDisplay(expected)


class PlainDisplay:
    """One line per event on stderr."""

    def __init__(self, expected: int) -> None:
        self._expected = expected
        self._received = 0
        self._started = time.monotonic()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def accepted(self, event: pb.JobAccepted) -> None:
        self._expected = event.number_of_images
        print(
            f"job {event.job_id}: making {event.number_of_images} image(s) with {event.model}",
            file=sys.stderr,
        )

    def preview(self, index: int, number: int, path: Path) -> None:
        print(f"image {index} preview {number + 1} -> {path}", file=sys.stderr)

    def image(self, image: pb.Image, path: Path | None) -> None:
        self._received += 1
        progress = f"[{self._received}/{self._expected}] image {image.index}"
        if path is None:
            print(f"{progress} has no data; url: {image.url}", file=sys.stderr)
            return
        elapsed = time.monotonic() - self._started
        print(f"{progress} {_saved_text(image, path)} in {elapsed:.1f}s", file=sys.stderr)

    def summary(self, summary: pb.JobSummary) -> None:
        print(summary_text(summary, time.monotonic() - self._started), file=sys.stderr)


class LiveDisplay:
    """A line per image, redrawn in place: waiting, rendering (elapsed), preview, saved."""

    def __init__(self, console: Console, expected: int) -> None:
        self._console = console
        self._started = time.monotonic()
        self._header = "waiting for the server to accept the job"
        self._lines: dict[int, str] = dict.fromkeys(range(expected), "")
        self._done: set[int] = set()
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=4)

    def __enter__(self) -> Self:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def accepted(self, event: pb.JobAccepted) -> None:
        self._header = f"job {event.job_id} on {event.model}"
        self._lines = dict.fromkeys(range(event.number_of_images), "")

    def preview(self, index: int, number: int, path: Path) -> None:
        self._lines[index] = f"preview {number + 1} -> {path}"

    def image(self, image: pb.Image, path: Path | None) -> None:
        self._done.add(image.index)
        done = _saved_text(image, path) if path else f"ready: {image.url}"
        self._lines[image.index] = f"{done} in {time.monotonic() - self._started:.1f}s"

    def summary(self, summary: pb.JobSummary) -> None:
        self._live.refresh()
        self._live.stop()
        text = summary_text(summary, time.monotonic() - self._started)
        self._console.print(text, highlight=False, markup=False)

    def _render(self) -> Group:
        elapsed = f"{time.monotonic() - self._started:.0f}s"
        lines = [Text(self._header, style="bold")]
        for index, state in sorted(self._lines.items()):
            text = state if index in self._done else f"rendering {elapsed} {state}".strip()
            lines.append(Text(f"  image {index}: {text}"))
        return Group(*lines)
