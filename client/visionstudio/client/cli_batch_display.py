"""How the batch command shows a batch on stderr: one overall progress bar (items and images
done of the total) with a line per item event above it on a terminal, plain lines otherwise.

Both displays hear the same calls from `cli_batch_output`; a script that pipes stderr gets
stable, greppable lines.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from visionstudio.client.cli_display import size_text
from visionstudio.image.v1 import image_service_pb2 as pb


class BatchDisplay(Protocol):
    def __enter__(self) -> Self: ...
    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def accepted(self, event: pb.BatchAccepted) -> None: ...
    def started(self, event: pb.BatchItemStarted) -> None: ...
    def image(self, event: pb.BatchImage, path: Path, *, kept: bool) -> None: ...
    def ended(self, event: pb.BatchItemEnded) -> None: ...
    def summary(self, summary: pb.BatchSummary) -> None: ...


def open_batch_display(images_expected: int) -> BatchDisplay:
    """The progress bar when stderr is a terminal, plain lines otherwise; `images_expected`
    is 0 when unknown (a watch)."""
    console = Console(stderr=True)
    if console.is_terminal:
        return LiveBatchDisplay(console, images_expected)
    return PlainBatchDisplay(images_expected)


def image_text(event: pb.BatchImage, path: Path, *, kept: bool) -> str:
    image = event.image
    if not kept:
        return f"item {event.item_id} image {image.index}: already saved -> {path}"
    size = size_text(image.size_bytes or len(image.data))
    return (
        f"item {event.item_id} image {image.index} -> {path} "
        f"({image.width}x{image.height}, {image.mime_type}, {size})"
    )


def status_name(status: pb.BatchItemStatus.ValueType) -> str:
    """BATCH_ITEM_STATUS_SUCCEEDED as `succeeded`."""
    return pb.BatchItemStatus.Name(status).removeprefix("BATCH_ITEM_STATUS_").lower()


def batch_status_name(status: pb.BatchStatus.ValueType) -> str:
    """BATCH_STATUS_SUCCEEDED as `succeeded`."""
    return pb.BatchStatus.Name(status).removeprefix("BATCH_STATUS_").lower()


def ended_text(event: pb.BatchItemEnded) -> str:
    text = f"item {event.item_id}: {status_name(event.status)}"
    if event.error:
        reason = f" ({event.error_reason})" if event.error_reason else ""
        text += f": {event.error}{reason}"
    return text


def summary_text(summary: pb.BatchSummary, elapsed_s: float) -> str:
    return (
        f"batch {summary.batch_id}: {summary.items_succeeded} succeeded, "
        f"{summary.items_failed} failed, {summary.items_cancelled} cancelled; "
        f"{summary.images_delivered} image(s) in {elapsed_s:.1f}s; "
        f"tokens: {summary.usage.total_tokens} total"
    )


class PlainBatchDisplay:
    """One line per event on stderr, with the counts so far."""

    def __init__(self, images_expected: int) -> None:
        self._images_expected = images_expected
        self._images = 0
        self._items = 0
        self._item_count = 0
        self._started = time.monotonic()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def accepted(self, event: pb.BatchAccepted) -> None:
        self._item_count = event.item_count
        _say(f"batch {event.batch_id}: {event.item_count} item(s)")

    def started(self, event: pb.BatchItemStarted) -> None:
        _say(f"item {event.item_id}: job {event.job_id}")

    def image(self, event: pb.BatchImage, path: Path, *, kept: bool) -> None:
        self._images += 1
        total = f"/{self._images_expected}" if self._images_expected else ""
        _say(f"[{self._images}{total} images] {image_text(event, path, kept=kept)}")

    def ended(self, event: pb.BatchItemEnded) -> None:
        self._items += 1
        _say(f"[{self._items}/{self._item_count} items] {ended_text(event)}")

    def summary(self, summary: pb.BatchSummary) -> None:
        _say(summary_text(summary, time.monotonic() - self._started))


class LiveBatchDisplay:
    """A progress bar over the items, the images done beside it, item lines scrolling above."""

    def __init__(self, console: Console, images_expected: int) -> None:
        self._console = console
        self._images_expected = images_expected
        self._images = 0
        self._started = time.monotonic()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("items, {task.fields[images]} images"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._progress.add_task(
            "waiting for the server", total=None, images=self._images_text()
        )

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def accepted(self, event: pb.BatchAccepted) -> None:
        self._progress.update(
            self._task, description=f"batch {event.batch_id}", total=event.item_count
        )

    def started(self, event: pb.BatchItemStarted) -> None:
        return None

    def image(self, event: pb.BatchImage, path: Path, *, kept: bool) -> None:
        self._images += 1
        self._progress.update(self._task, images=self._images_text())
        self._print(image_text(event, path, kept=kept))

    def ended(self, event: pb.BatchItemEnded) -> None:
        self._progress.advance(self._task)
        self._print(ended_text(event))

    def summary(self, summary: pb.BatchSummary) -> None:
        self._progress.refresh()
        self._progress.stop()
        text = summary_text(summary, time.monotonic() - self._started)
        self._console.print(text, highlight=False, markup=False)

    def _images_text(self) -> str:
        total = f"/{self._images_expected}" if self._images_expected else ""
        return f"{self._images}{total}"

    def _print(self, text: str) -> None:
        self._progress.console.print(text, highlight=False, markup=False)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
