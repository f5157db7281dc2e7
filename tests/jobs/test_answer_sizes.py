"""ListJobs and GetJob answers stay far below the message limit whatever the jobs were (#15):
before, a job's `data:` URL was stored verbatim in its parameters, so a few large ones made
every ListJobs of that key fail. Here each job is as large as a request can make it: a prompt
of `MAX_PROMPT_CHARS` characters that JSON escapes to the most bytes (outside the BMP: 12
bytes each as `\\ud83e\\udd8a`), the longest idempotency key and a `data:` URL input of a noisy
(incompressible) picture. A listed job carries no images, so the page's jobs make one image
each (1,000 images take minutes on 2 cores); the job read back makes 10."""

from __future__ import annotations

import asyncio
import base64
import io
import os

import aiohttp
from PIL import Image
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.api.http.models import API_PREFIX
from visionstudio.server.settings import Settings
from visionstudio.server.spec import MAX_IDEMPOTENCY_KEY_CHARS, MAX_IMAGES, MAX_PROMPT_CHARS

from tests.support.harness import API_KEY, AUTH, Harness, collect, images_of
from tests.support.ports import LOOPBACK

JOBS = 100  # a full page
PROMPT = "\U0001f98a" * MAX_PROMPT_CHARS
# "Far below": a quarter of the limit, and of gRPC's 4 MiB default in other clients' hands
# for one job.
PAGE_LIMIT_SHARE = 4
ONE_JOB_LIMIT = 4 * 1024 * 1024
AT_ONCE = 5


def _noise_data_url(side: int = 256) -> str:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


async def _make_jobs(harness: Harness, data_url: str) -> list[str]:
    """JOBS jobs, the first with MAX_IMAGES images."""
    room = asyncio.Semaphore(AT_ONCE)

    async def one(number: int) -> str:
        images = MAX_IMAGES if number == 0 else 1
        request = pb.EditImageRequest(
            prompt=PROMPT,
            image_url=data_url,
            number_of_images=images,
            quality=pb.QUALITY_LOW,
            idempotency_key=f"{number:04d}".ljust(MAX_IDEMPOTENCY_KEY_CHARS, "k"),
        )
        async with room:
            events = await collect(harness.stub.EditImage(request, metadata=AUTH))
        assert len(images_of(events)) == images
        return events[0].accepted.job_id

    return await asyncio.gather(*(one(n) for n in range(JOBS)))


async def _http_get(port: int, path: str) -> bytes:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://{LOOPBACK}:{port}{path}", headers={"X-API-Key": API_KEY}) as answer,
    ):
        assert answer.status == 200
        return await answer.read()


async def test_list_and_get_answers_stay_far_below_the_message_limit(harness: Harness) -> None:
    data_url = _noise_data_url()
    job_ids = await _make_jobs(harness, data_url)
    limit = Settings.model_fields["max_message_bytes"].default

    page = await harness.stub.ListJobs(pb.ListJobsRequest(page_size=JOBS), metadata=AUTH)
    job = await harness.stub.GetJob(pb.GetJobRequest(job_id=job_ids[0]), metadata=AUTH)
    port = harness.service.http_port
    http_page = await _http_get(port, f"{API_PREFIX}/jobs?page_size={JOBS}")
    http_job = await _http_get(port, f"{API_PREFIX}/jobs/{job_ids[0]}")

    sizes = {
        "grpc ListJobs": page.ByteSize(),
        "grpc GetJob": job.ByteSize(),
        "http jobs page": len(http_page),
        "http job": len(http_job),
    }
    print(f"answer sizes (limit {limit}): {sizes}; data: URL {len(data_url)} chars")
    assert len(page.jobs) == JOBS and len(job.images) == MAX_IMAGES
    # The data: URL is kept as its digest and length, never its text.
    assert data_url[22:1000] not in page.jobs[0].parameters_json
    assert sizes["grpc GetJob"] < ONE_JOB_LIMIT and sizes["http job"] < ONE_JOB_LIMIT
    pages = max(sizes["grpc ListJobs"], sizes["http jobs page"])
    # UTF-8 on both surfaces: 4 bytes for each of these characters, not a 12-byte JSON escape.
    assert pages < limit / PAGE_LIMIT_SHARE
