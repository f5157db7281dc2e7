"""What the batch command makes of a batch's events: each image saved as it arrives, as
`OUT/ITEM_ID/INDEX.EXT` (downloaded from its URL when the event carries no bytes, as a watch
replays them), a display on stderr, and on stdout the saved paths or, with `--json`, one JSON
object per event. An image whose file exists already is left as it is: `--watch` resumes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from visionstudio.client.cli_batch_display import BatchDisplay, status_name
from visionstudio.client.cli_output import extension, safe_name, scalar_fields
from visionstudio.image.v1 import image_service_pb2 as pb


@dataclass
class BatchOutcome:
    """What the command knows of its batch: the id once accepted (for Ctrl-C), then the end."""

    batch_id: str = ""
    unsuccessful: list[str] = field(default_factory=list)
    summary: pb.BatchSummary | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the batch ended and every item in it succeeded."""
        return self.summary is not None and not self.unsuccessful


def image_path(out_dir: Path, item_id: str, image: pb.Image) -> Path:
    return out_dir / safe_name(item_id) / f"{image.index}.{extension(image.mime_type)}"


async def save_batch_events(
    events: AsyncIterator[pb.BatchEvent],
    out_dir: Path,
    display: BatchDisplay,
    outcome: BatchOutcome,
    *,
    as_json: bool,
) -> None:
    """Saves each image as it arrives and tells `display`; fills in `outcome`."""
    async with aiohttp.ClientSession(raise_for_status=True) as downloads:
        async for event in events:
            kind = event.WhichOneof("event")
            path: Path | None = None
            if kind == "accepted":
                outcome.batch_id = event.accepted.batch_id
                display.accepted(event.accepted)
            elif kind == "item_started":
                display.started(event.item_started)
            elif kind == "image":
                path = image_path(out_dir, event.image.item_id, event.image.image)
                kept = await _keep(event.image.image, path, downloads)
                display.image(event.image, path, kept=kept)
            elif kind == "item_ended":
                ended = event.item_ended
                if ended.status != pb.BATCH_ITEM_STATUS_SUCCEEDED:
                    outcome.unsuccessful.append(ended.item_id)
                display.ended(ended)
            elif kind == "summary":
                outcome.summary = event.summary
                display.summary(event.summary)
            if as_json:
                print(json.dumps(event_json(event, path)), flush=True)
            elif path is not None:
                print(path, flush=True)


async def _keep(image: pb.Image, path: Path, downloads: aiohttp.ClientSession) -> bool:
    """Writes the image unless its file exists; whether it wrote it."""
    if await asyncio.to_thread(path.exists):
        return False
    data = image.data
    if not data:
        async with downloads.get(image.url) as answer:
            data = await answer.read()
    await asyncio.to_thread(_write, path, data)
    return True


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a file that exists is a complete image, for `--watch`.
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(path)


def event_json(event: pb.BatchEvent, path: Path | None) -> dict[str, Any]:
    """One event as a flat JSON object: `event` names it, numbers stay numbers."""
    kind = event.WhichOneof("event") or ""
    if kind == "image":
        tagged = event.image
        document = {
            "item_id": tagged.item_id,
            "job_id": tagged.job_id,
            **scalar_fields(tagged.image, skip=("data",)),
            "path": str(path) if path else None,
        }
    else:
        document = scalar_fields(getattr(event, kind))
    if kind == "item_ended":
        document["status"] = status_name(event.item_ended.status)
    if kind == "summary":
        document["usage"] = scalar_fields(event.summary.usage)
    return {"event": kind, **document}
