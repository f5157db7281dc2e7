"""Submitting a batch over the JSON surface: JSON Lines with each item's operation inferred,
items refused by name before anything runs, an item failing alone, idempotency keys."""

from __future__ import annotations

import json

from tests.fake_openai import FakeOpenAI
from tests.support.harness import ImageHost, png
from tests.support.json_api import Api, b64
from tests.support.json_batches import follow, get, submit, violations


async def test_json_lines_infer_each_items_operation(
    api: Api, upstream: FakeOpenAI, image_host: ImageHost
) -> None:
    photo = image_host.put("photo.png", png((640, 480)))
    lines = [
        {"item_id": "new", "prompt": "a fox"},
        {"item_id": "changed", "prompt": "at night", "image_url": photo},
        {
            "item_id": "wider",
            "prompt": "more meadow",
            "image_url": photo,
            "inpaint_border_only": True,
            "border_percentage": 0.1,
        },
        {"item_id": "named", "prompt": "a kite", "operation": "generate"},
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode() + b"\n\n"
    status, answer, _ = await submit(api, body, headers={"Content-Type": "application/jsonl"})
    assert status == 202
    events = await follow(api, answer["data"]["batch_id"])
    assert events[-1][1]["items_succeeded"] == 4
    jobs = {p["item_id"]: p["job_id"] for kind, p in events if kind == "item_started"}
    operations = {}
    for item_id, job_id in jobs.items():
        _, job = await get(api, f"/jobs/{job_id}")
        operations[item_id] = job["data"]["operation"]
    assert operations == {
        "new": "generate",
        "changed": "edit",
        "wider": "inpaint",
        "named": "generate",
    }


async def test_a_failing_item_fails_alone(api: Api) -> None:
    items = [
        {"item_id": "good", "prompt": "a cat"},
        {
            "item_id": "bad",
            "prompt": "fix",
            "image_file": b64(png((64, 64))),
            "mask_file": b64(b"not an image"),
        },
    ]
    status, answer, _ = await submit(api, items)
    assert status == 202
    batch_id = answer["data"]["batch_id"]
    events = await follow(api, batch_id)
    ended = {p["item_id"]: p for kind, p in events if kind == "item_ended"}
    assert ended["good"]["status"] == "succeeded"
    assert (ended["bad"]["status"], ended["bad"]["reason"]) == ("failed", "INVALID_ARGUMENT")
    assert "mask_file" in ended["bad"]["error"]
    assert (events[-1][1]["items_succeeded"], events[-1][1]["items_failed"]) == (1, 1)
    _, batch = await get(api, f"/batches/{batch_id}")
    assert batch["data"]["status"] == "partial"


async def test_a_bad_item_is_refused_naming_it_and_nothing_runs(
    api: Api, upstream: FakeOpenAI
) -> None:
    good = {"item_id": "a", "prompt": "a fox"}
    status, body, _ = await submit(api, [good, {**good, "item_id": "b", "aspect_ratio": "7:5"}])
    assert status == 400 and body["success"] is False
    assert [f for f, _ in violations(body)] == ["items[1].aspect_ratio"]
    assert body["message"].startswith("items[1].aspect_ratio: ")

    lines = [
        good,
        {"prompt": "no id"},
        {**good, "item_id": "c", "operation": "upscale"},
        {**good, "item_id": "d", "operation": "generate", "mask_url": "http://127.0.0.1/m.png"},
    ]
    jsonl = "\n\n".join(json.dumps(line) for line in lines).encode()
    status, body, _ = await submit(api, jsonl, headers={"Content-Type": "application/x-ndjson"})
    assert status == 400
    found = violations(body)
    assert found[:2] == [
        ("items[1].item_id", "line 3: is required"),
        ("items[2].operation", "line 5: must be generate, edit or inpaint"),
    ]
    assert found[2][0] == "items[3].mask_url"
    assert found[2][1].startswith("line 7: unknown key; generate items take prompt, ")

    status, body, _ = await submit(api, {"items": [good, good]})
    assert status == 400 and violations(body)[0][0] == "items[1].item_id"
    status, body, _ = await submit(api, [])
    assert status == 400 and violations(body)[0][0] == "items"
    _, page = await get(api, "/batches")
    assert page["data"]["batches"] == [] and upstream.requests == []


async def test_an_idempotency_key_reattaches_a_repeat(api: Api) -> None:
    items = [{"item_id": "a", "prompt": "a fox"}]
    key = {"Idempotency-Key": "order-17"}
    status, first, _ = await submit(api, items, headers=key)
    assert status == 202 and first["data"]["idempotency_key"] == "order-17"
    status, again, _ = await submit(
        api, {"items": items, "idempotency_key": "order-17"}, headers=key
    )
    assert status == 202 and again["data"]["batch_id"] == first["data"]["batch_id"]
    status, clash, _ = await submit(api, {"items": items, "idempotency_key": "other"}, headers=key)
    assert status == 400 and violations(clash)[0][0] == "idempotency_key"
    _, page = await get(api, "/batches")
    assert [b["batch_id"] for b in page["data"]["batches"]] == [first["data"]["batch_id"]]
