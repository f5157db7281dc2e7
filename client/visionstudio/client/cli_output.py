"""What the CLI makes of a call's events: image files, their paths on stdout, progress on stderr."""

import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from visionstudio.image.v1 import image_service_pb2 as pb

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


async def save_events(events: AsyncIterator[pb.ImageEvent], out_dir: Path, expected: int) -> None:
    """Saves each image as it arrives; `expected` counts them until the server says otherwise."""
    started = time.monotonic()
    job_id = "job"  # names the files should a server skip the `accepted` event
    received = 0
    async for event in events:
        kind = event.WhichOneof("event")
        if kind == "accepted":
            job_id = event.accepted.job_id
            expected = event.accepted.number_of_images
            print(
                f"job {job_id}: making {expected} image(s) with {event.accepted.model}",
                file=sys.stderr,
            )
        elif kind == "image":
            received += 1
            _report_image(event.image, out_dir, job_id, f"[{received}/{expected}]", started)
        elif kind == "summary":
            _report_summary(event.summary, time.monotonic() - started)


def _report_image(
    image: pb.Image, out_dir: Path, job_id: str, progress: str, started: float
) -> None:
    if not image.data:
        print(f"{progress} image {image.index} has no data; url: {image.url}", file=sys.stderr)
        return
    path = _save(image, out_dir, job_id)
    print(
        f"{progress} image {image.index} saved -> {path} ({image.width}x{image.height}, "
        f"{image.mime_type}, {_size(len(image.data))}) in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    print(path, flush=True)


def _save(image: pb.Image, out_dir: Path, job_id: str) -> Path:
    # The job id comes from the server: keep it from naming a path outside out_dir.
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", job_id)
    path = out_dir / f"{stem}-{image.index}.{_EXTENSIONS.get(image.mime_type, 'bin')}"
    path.write_bytes(image.data)
    return path


def _report_summary(summary: pb.JobSummary, elapsed: float) -> None:
    usage = summary.usage
    print(
        f"job {summary.job_id}: {summary.images_delivered} image(s) in {elapsed:.1f}s; "
        f"tokens: {usage.input_tokens} in (text {usage.input_text_tokens}, "
        f"image {usage.input_image_tokens}), {usage.output_tokens} out, "
        f"{usage.total_tokens} total",
        file=sys.stderr,
    )


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"
