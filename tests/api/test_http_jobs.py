"""The job routes of the JSON surface, and what a plain-JSON caller learns of its job."""

from __future__ import annotations

from typing import Any

import pytest
from visionstudio.server.api.http.models import JOB_ID_HEADER

from tests.fake_openai import FakeOpenAI
from tests.support.harness import Harness
from tests.support.json_api import GENERATE, Api, sse_events


async def _get(api: Api, path: str, *, key: str = "test-key-1") -> tuple[int, dict[str, Any]]:
    async with api.http.get(api.base + path, headers={"X-API-Key": key}) as resp:
        return resp.status, await resp.json()


async def test_a_job_can_be_read_listed_counted_and_watched(api: Api) -> None:
    made = await api.post(GENERATE, {"prompt": "two kites", "number_of_images": 2})
    job_id = made.body["data"]["job_id"]
    assert made.headers[JOB_ID_HEADER] == job_id

    status, job = await _get(api, f"/jobs/{job_id}")
    assert status == 200 and job["data"]["status"] == "succeeded"
    assert [i["index"] for i in job["data"]["images"]] == [0, 1]
    assert job["data"]["parameters"]["prompt"] == "two kites"

    status, page = await _get(api, "/jobs?status=succeeded&page_size=10")
    assert status == 200 and [j["job_id"] for j in page["data"]["jobs"]] == [job_id]
    assert page["data"]["next_page_token"] == ""
    _, none = await _get(api, "/jobs?created_after=2999-01-01T00:00:00Z")
    assert none["data"]["jobs"] == []

    status, usage = await _get(api, "/usage?start_time=2000-01-01T00:00:00Z")
    assert status == 200 and (usage["data"]["jobs"], usage["data"]["images"]) == (1, 2)

    headers = {"X-API-Key": "test-key-1", "Accept": "text/event-stream"}
    async with api.http.get(f"{api.base}/jobs/{job_id}/watch", headers=headers) as resp:
        kinds = [kind async for kind, _ in sse_events(resp)]
    assert kinds == ["accepted", "image", "image", "summary"]


async def test_another_keys_job_and_bad_queries_are_refused(api: Api) -> None:
    made = await api.post(GENERATE, {"prompt": "a kite"})
    job_id = made.body["data"]["job_id"]
    status, body = await _get(api, f"/jobs/{job_id}", key="test-key-2")
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    status, body = await _get(api, "/jobs?status=done&page_size=500")
    fields = [v["field"] for v in body["error"]["details"]["field_violations"]]
    assert status == 400 and fields == ["status", "page_size"]
    status, body = await _get(api, "/usage?since=yesterday")
    assert status == 400 and body["error"]["details"]["field_violations"][0]["field"] == "since"


async def test_an_explicit_zero_number_of_images_is_refused(api: Api, upstream: FakeOpenAI) -> None:
    answer = await api.post(GENERATE, {"prompt": "a kite", "number_of_images": 0})
    assert answer.status == 400
    violations = answer.body["error"]["details"]["field_violations"]
    assert violations[0]["field"] == "number_of_images"
    assert upstream.requests == []


async def test_partial_images_arrive_as_preview_events(api: Api) -> None:
    body = {"prompt": "a kite", "partial_images": 2}
    async with api.stream(GENERATE, body) as resp:
        events = [event async for event in sse_events(resp)]
    previews = [payload for kind, payload in events if kind == "preview"]
    assert [p["partial_image_index"] for p in previews] == [0, 1]
    assert all(p["index"] == 0 and p["data"] for p in previews)
    assert [kind for kind, _ in events if kind != "preview"] == ["accepted", "image", "summary"]


@pytest.mark.parametrize("harness", [{"max_call_s": 1.0}], indirect=True)
async def test_a_timed_out_caller_still_learns_its_job_id(
    harness: Harness, api: Api, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 30
    answer = await api.post(GENERATE, {"prompt": "slow"})
    assert answer.status == 504
    job_id = answer.headers[JOB_ID_HEADER]
    assert answer.body["error"]["details"]["metadata"]["job_id"] == job_id
    assert answer.body["data"]["job_id"] == job_id
    status, _ = await _get(api, f"/jobs/{job_id}")
    assert status == 200
