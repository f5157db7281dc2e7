"""What a job is stored with, so that any replica can carry it on, and what happens when it
cannot be."""

from __future__ import annotations

import dataclasses

import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.api.auth import key_id
from visionstudio.server.spec import (
    AspectRatio,
    ImageSource,
    JobSpec,
    Operation,
    Quality,
    spec_from_params,
)
from visionstudio.server.store import JobRecord

from tests.support.calls import rpc_error
from tests.support.harness import API_KEY, AUTH, Harness, collect, rich_error


def test_a_stored_spec_comes_back_as_it_was_asked_without_the_bytes() -> None:
    spec = JobSpec(
        operation=Operation.INPAINT,
        prompt="a boat",
        number_of_images=3,
        aspect_ratio=AspectRatio.LANDSCAPE_3_2,
        quality=Quality.HIGH,
        image=ImageSource("image_file", data=b"png bytes"),
        mask=ImageSource("mask_url", url="https://example.com/mask.png"),
        idempotency_key="k",
    )
    back = spec_from_params(spec.operation.value, spec.params())
    assert back == dataclasses.replace(
        spec, image=ImageSource("image_file"), mask=ImageSource("mask_url")
    )


def test_a_data_url_is_stored_as_a_digest_and_a_length_never_its_bytes() -> None:
    url = "data:image/png;base64," + "A" * 4000
    spec = JobSpec(Operation.EDIT, "x", image=ImageSource("image_url", url=url))
    stored = spec.params()["image"]
    assert "AAAA" not in str(stored)
    assert stored["chars"] == len(url) and len(stored["data_url_sha256"]) == 64


@pytest.mark.parametrize("harness", [{"job_lease_s": 0.2}], indirect=True)
async def test_a_job_whose_inputs_are_gone_ends_failed_with_the_reason(harness: Harness) -> None:
    spec = JobSpec(Operation.EDIT, "gone", image=ImageSource("image_file", data=b"x"))
    # A job left by a replica that died before its inputs were stored.
    orphan = JobRecord(
        id="orphan", rpc="edit", caller="k", model="m", params=spec.params(), lease_until=1.0
    )
    jobs = harness.service.core.jobs
    await jobs.create_job(dataclasses.replace(orphan, caller=key_id(API_KEY)))
    watch = harness.stub.WatchJob(pb.WatchJobRequest(job_id="orphan"), metadata=AUTH)
    err = await rpc_error(collect(watch))
    assert "input images are no longer stored" in (err.details() or "")
    assert rich_error(err)["metadata"] == {"job_id": "orphan"}
    job = await jobs.get_job("orphan")
    assert job is not None and job.status == "failed"
