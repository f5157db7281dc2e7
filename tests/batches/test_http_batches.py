"""The batch routes of the JSON surface over real sockets, against the loopback fake OpenAI API:
submitted as a JSON array, JSON Lines or an object, answered at once or followed as SSE."""

from __future__ import annotations

from typing import Any

import openapi_spec_validator
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.api.http.models import API_PREFIX

from tests.batches.test_batches import REFERENCE
from tests.fake_openai import FakeOpenAI
from tests.support.harness import API_KEY, Harness
from tests.support.json_api import Api, sse_events
from tests.support.json_batches import EVENTS, follow, get, submit, violations

OTHER_KEY = "test-key-2"


def reference_items() -> list[dict[str, Any]]:
    """The reference document's eight requests as JSON bodies, spelled as the reference API."""
    return [
        {
            "item_id": f"item-{prompt}",
            "prompt": f"a {prompt}",
            "number_of_images": n,
            "aspect_ratio": pb.AspectRatio.Name(ratio)
            .removeprefix("ASPECT_RATIO_")
            .replace("_", ":"),
            "quality": pb.Quality.Name(quality).removeprefix("QUALITY_").lower(),
        }
        for prompt, n, ratio, quality in REFERENCE
    ]


async def test_the_reference_batch_is_accepted_at_once_and_runs_on(api: Api) -> None:
    status, body, headers = await submit(api, reference_items())
    assert status == 202 and body["success"] is True
    batch = body["data"]
    assert headers["Location"] == f"{API_PREFIX}/batches/{batch['batch_id']}"
    # Running, unless the fake upstream was quicker than this answer.
    assert batch["item_count"] == 8 and batch["status"] in ("running", "succeeded")
    assert [i["item_id"] for i in batch["items"]] == [i["item_id"] for i in reference_items()]

    events = await follow(api, batch["batch_id"])
    assert events[-1][0] == "summary" and events[-1][1]["images_delivered"] == 15
    status, done = await get(api, headers["Location"].removeprefix(API_PREFIX))
    assert status == 200 and done["data"]["status"] == "succeeded"
    assert {i["status"] for i in done["data"]["items"]} == {"succeeded"}
    # Each item is an ordinary job, readable on the job routes.
    harbour = next(i for i in done["data"]["items"] if i["item_id"] == "item-harbour")
    status, job = await get(api, f"/jobs/{harbour['job_id']}")
    assert status == 200 and len(job["data"]["images"]) == 3
    image = job["data"]["images"][0]
    assert image["width"] * 2 == image["height"] * 3  # 3:2


async def test_the_reference_batch_streams_all_15_images_tagged_with_their_items(
    api: Api,
) -> None:
    sent = {"X-API-Key": API_KEY, **EVENTS}
    async with api.http.post(f"{api.base}/batches", json=reference_items(), headers=sent) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        events = [event async for event in sse_events(resp)]
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    assert events[0][1]["item_count"] == 8
    assert kinds.count("item_started") == kinds.count("item_ended") == 8
    images = [payload for kind, payload in events if kind == "image"]
    assert len(images) == 15
    started = {p["item_id"]: p["job_id"] for kind, p in events if kind == "item_started"}
    for item in reference_items():
        mine = [i for i in images if i["item_id"] == item["item_id"]]
        assert sorted(i["index"] for i in mine) == list(range(item["number_of_images"]))
        assert {i["job_id"] for i in mine} == {started[item["item_id"]]}
    assert {"url", "index", "width", "height", "mime_type"} <= set(images[0])
    summary = events[-1][1]
    assert (summary["items_succeeded"], summary["images_delivered"]) == (8, 15)
    assert summary["usage"]["output_tokens"] > 0


async def test_a_caller_leaving_the_stream_leaves_the_batch_running(
    api: Api, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 0.3
    items = [{"item_id": f"i{n}", "prompt": f"a fox {n}"} for n in range(3)]
    sent = {"X-API-Key": API_KEY, **EVENTS}
    async with api.http.post(f"{api.base}/batches", json=items, headers=sent) as resp:
        kind, accepted = await anext(sse_events(resp))
    assert kind == "accepted"
    events = await follow(api, accepted["batch_id"])
    assert events[-1][0] == "summary" and events[-1][1]["items_succeeded"] == 3


async def test_a_stream_cut_by_a_shutdown_ends_with_an_error_naming_the_batch(
    harness: Harness, api: Api, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 30
    sent = {"X-API-Key": API_KEY, **EVENTS}
    items = [{"item_id": "slow", "prompt": "a slow fox"}]
    async with api.http.post(f"{api.base}/batches", json=items, headers=sent) as resp:
        events = sse_events(resp)
        kind, accepted = await anext(events)
        # What a shutdown does to the batches this server drives.
        await harness.service.core.batches.stop()
        rest = [event async for event in events]
    kind, error = rest[-1]
    assert kind == "error" and error["error"]["reason"] == "SERVER_SHUTTING_DOWN"
    assert error["error"]["details"]["metadata"]["batch_id"] == accepted["batch_id"]


async def test_batches_are_listed_read_watched_and_private_to_their_key(api: Api) -> None:
    ids = []
    for prompt in ("owls", "kites"):
        _, answer, _ = await submit(
            api, [{"item_id": "x", "prompt": prompt, "number_of_images": 2}]
        )
        ids.append(answer["data"]["batch_id"])
        await follow(api, ids[-1])
    status, page = await get(api, "/batches?page_size=1")
    assert status == 200 and [b["batch_id"] for b in page["data"]["batches"]] == [ids[1]]
    assert page["data"]["batches"][0]["items"] == []
    _, rest = await get(api, f"/batches?page_size=1&page_token={page['data']['next_page_token']}")
    assert [b["batch_id"] for b in rest["data"]["batches"]] == [ids[0]]
    assert rest["data"]["next_page_token"] == ""
    replayed = await follow(api, ids[0])
    assert [kind for kind, _ in replayed] == [
        "accepted",
        "item_started",
        "image",
        "image",
        "item_ended",
        "summary",
    ]
    status, bad = await get(api, "/batches?page_size=500&colour=red")
    assert status == 400 and [f for f, _ in violations(bad)] == ["page_size", "colour"]

    for path in (f"/batches/{ids[0]}", f"/batches/{ids[0]}/events"):
        status, body = await get(api, path, key=OTHER_KEY)
        assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    headers = {"X-API-Key": OTHER_KEY}
    async with api.http.post(f"{api.base}/batches/{ids[0]}/cancel", headers=headers) as resp:
        assert resp.status == 404
    _, theirs = await get(api, "/batches", key=OTHER_KEY)
    assert theirs["data"]["batches"] == []


async def test_cancel_ends_every_unfinished_item(api: Api, upstream: FakeOpenAI) -> None:
    upstream.config.latency_s = 30
    items = [{"item_id": f"i{n}", "prompt": f"a slow {n}"} for n in range(6)]
    _, answer, _ = await submit(api, items)
    batch_id = answer["data"]["batch_id"]
    headers = {"X-API-Key": API_KEY}
    async with api.http.post(f"{api.base}/batches/{batch_id}/cancel", headers=headers) as resp:
        assert resp.status == 200
        cancelled = (await resp.json())["data"]
    assert cancelled["status"] == "cancelled"
    assert {i["status"] for i in cancelled["items"]} == {"cancelled"}
    events = await follow(api, batch_id)
    assert events[-1][0] == "summary" and events[-1][1]["items_cancelled"] == 6


async def test_the_openapi_document_lists_the_batch_routes(api: Api) -> None:
    _, doc = await get(api, "/openapi.json")
    openapi_spec_validator.validate(doc)  # the whole document is valid OpenAPI 3.1
    paths = {p.removeprefix(API_PREFIX): set(ops) for p, ops in doc["paths"].items()}
    assert paths["/batches"] == {"get", "post"}
    assert paths["/batches/{batch_id}"] == {"get"}
    assert paths["/batches/{batch_id}/events"] == {"get"}
    assert paths["/batches/{batch_id}/cancel"] == {"post"}
    submit_op = doc["paths"][f"{API_PREFIX}/batches"]["post"]
    assert {"application/json", "application/jsonl", "application/x-ndjson"} <= set(
        submit_op["requestBody"]["content"]
    )
    assert {"200", "202", "400", "401", "413"} <= set(submit_op["responses"])
    schemas = doc["components"]["schemas"]
    for name in ("GenerateBatchItem", "EditBatchItem", "InpaintBatchItem"):
        assert {"item_id", "operation"} <= set(schemas[name]["properties"])
    assert set(schemas["Batch"]["properties"]) >= {
        "batch_id",
        "status",
        "item_count",
        "items",
        "created_at",
        "updated_at",
    }
