"""A job this process is making: what its execution loop and its image tasks share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from visionstudio.server.errors import ServiceError
from visionstudio.server.jobs.admission import Ticket
from visionstudio.server.jobs.events import ImageReady, JobEvent, Preview
from visionstudio.server.prep import Plan
from visionstudio.server.spec import JobSpec, Usage
from visionstudio.server.store import JobRecord

# What an image task finishes with, and a preview it sends on the way.
ImageTask = asyncio.Task[tuple[ImageReady, Usage]]
Arrival = ImageTask | Preview


def _recorded_already() -> asyncio.Future[bool]:
    recorded = asyncio.get_running_loop().create_future()
    recorded.set_result(True)
    return recorded


@dataclass
class RunningJob:
    spec: JobSpec
    plan: Plan
    ticket: Ticket
    record: JobRecord
    # time.monotonic() at acceptance, and the point past which no image is started or waited for.
    started: float
    deadline: float
    # Events for the caller's stream (and a final error), in the order they happen.
    outbox: asyncio.Queue[JobEvent | ServiceError] = field(default_factory=asyncio.Queue)
    # Finished image tasks and previews, in the order they happen.
    arrivals: asyncio.Queue[Arrival] = field(default_factory=asyncio.Queue)
    # Set by whoever cancels the job's task: what its caller's stream ends with, and whether
    # the job is handed back (left running in the store for another owner) or ends here.
    stop_error: ServiceError | None = None
    handed_back: bool = False
    # Image calls holding a slot (running upstream) right now.
    rendering: int = 0
    # Images stored before this process took the job over (and what they cost), and which it
    # still makes.
    already_delivered: int = 0
    prior_usage: Usage = field(default_factory=Usage)
    indices: tuple[int, ...] = ()
    # True once the job's record and inputs are in the store, False if they never will be (its
    # creator then ends it). A new job's upstream calls start while they are being written; its
    # images and its end are written only after.
    recorded: asyncio.Future[bool] = field(default_factory=_recorded_already)

    def __post_init__(self) -> None:
        if not self.indices:
            self.indices = tuple(range(self.spec.number_of_images))

    async def is_recorded(self) -> bool:
        """Waits for `recorded` (shielded: a cancelled waiter leaves it to the others)."""
        return await asyncio.shield(self.recorded)

    @property
    def id(self) -> str:
        return self.record.id
