"""What the CLI makes of a call's events: image and preview files, a display on stderr, and on
stdout either the saved paths (one per line) or, with `--json`, one JSON document at the end."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from visionstudio.client.cli_display import Display
from visionstudio.image.v1 import image_service_pb2 as pb

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


@dataclass
class JobOutcome:
    """What the CLI knows of its job: the id as soon as it is accepted (for Ctrl-C), then more."""

    job_id: str = ""
    model: str = ""
    images: list[dict[str, Any]] = field(default_factory=list)
    summary: pb.JobSummary | None = None

    def as_json(self) -> str:
        document = {
            "job_id": self.job_id,
            "model": self.model,
            "images": sorted(self.images, key=lambda i: int(i["index"])),
            "usage": scalar_fields(self.summary.usage) if self.summary else None,
        }
        return json.dumps(document, indent=2)


async def save_events(
    events: AsyncIterator[pb.ImageEvent],
    out_dir: Path,
    display: Display,
    outcome: JobOutcome,
    *,
    as_json: bool = False,
) -> None:
    """Saves each image and preview as it arrives and tells `display`; fills in `outcome`."""
    seen: set[int] = set()
    async for event in events:
        kind = event.WhichOneof("event")
        if kind == "accepted":
            outcome.job_id, outcome.model = event.accepted.job_id, event.accepted.model
            display.accepted(event.accepted)
        elif kind == "preview":
            preview = event.preview
            path = _save(
                out_dir,
                outcome.job_id,
                preview.index,
                preview.mime_type,
                preview.data,
                suffix=f"-preview-{preview.partial_image_index}",
            )
            display.preview(preview.index, preview.partial_image_index, path)
        elif kind == "image" and event.image.index not in seen:
            # A repeated call with the same idempotency key replays images already saved.
            seen.add(event.image.index)
            _keep_image(event.image, out_dir, display, outcome, as_json=as_json)
        elif kind == "summary":
            outcome.summary = event.summary
            display.summary(event.summary)


def _keep_image(
    image: pb.Image, out_dir: Path, display: Display, outcome: JobOutcome, *, as_json: bool
) -> None:
    path = (
        _save(out_dir, outcome.job_id, image.index, image.mime_type, image.data)
        if image.data
        else None
    )
    display.image(image, path)
    entry = scalar_fields(image, skip=("data",))
    entry["path"] = str(path) if path else None
    outcome.images.append(entry)
    if path and not as_json:
        print(path, flush=True)


def safe_name(text: str) -> str:
    """`text` as one path component: an id from the server or a file must not name a path
    outside the output directory."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def extension(mime_type: str) -> str:
    return _EXTENSIONS.get(mime_type, "bin")


def _save(
    out_dir: Path, job_id: str, index: int, mime_type: str, data: bytes, *, suffix: str = ""
) -> Path:
    stem = safe_name(job_id or "job")
    path = out_dir / f"{stem}-{index}{suffix}.{extension(mime_type)}"
    path.write_bytes(data)
    return path


def scalar_fields(message: Message, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The message's scalar fields as JSON values, numbers as numbers (unlike proto3 JSON,
    which writes 64-bit integers as strings)."""
    return {
        f.name: getattr(message, f.name)
        for f in message.DESCRIPTOR.fields
        if f.name not in skip and f.message_type is None
    }
