"""What a job stream is made of, whichever surface carries it."""

from __future__ import annotations

from dataclasses import dataclass, field

from visionstudio.server.spec import Usage


@dataclass(frozen=True)
class Accepted:
    job_id: str
    number_of_images: int
    model: str


@dataclass(frozen=True)
class ImageReady:
    index: int
    image_id: str
    url: str
    mime_type: str
    width: int
    height: int
    size_bytes: int
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Finished:
    job_id: str
    usage: Usage
    images_delivered: int
    elapsed_ms: int


@dataclass(frozen=True)
class Progress:
    images_done: int
    images_total: int
    elapsed_ms: int


@dataclass(frozen=True)
class Preview:
    index: int
    partial_image_index: int
    mime_type: str
    data: bytes = field(repr=False)


JobEvent = Accepted | ImageReady | Finished | Progress | Preview
