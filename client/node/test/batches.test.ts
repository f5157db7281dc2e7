/**
 * Batches from Node: against the real server, the three kinds of item in one batch, tagged
 * images, and the batch calls; against a fake of the test's own, a batch stream cut by a server
 * shutting down going on with WatchBatch without repeats.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Server, ServerCredentials, type ServerWritableStream } from "@grpc/grpc-js";

import {
  BatchEvent,
  BatchItemStatus,
  BatchStatus,
  editItem,
  generateItem,
  ImageClient,
  ImageServiceService,
  inpaintItem,
  type WatchBatchRequest,
} from "../src/index.js";
import { play, run, type Script, shuttingDown } from "./fake.js";
import { API_KEY, type Service, startService } from "./harness.js";
import { png } from "./png.js";

const CALL_TIMEOUT_MS = 20_000;

function deadline(): { deadline: number } {
  return { deadline: Date.now() + CALL_TIMEOUT_MS };
}

async function collect(stream: AsyncIterable<BatchEvent>): Promise<BatchEvent[]> {
  const events: BatchEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** The events' kinds, with each image's item and index: e.g. `["accepted", "image a 0"]`. */
function kinds(events: BatchEvent[]): string[] {
  return events.map(({ event }) =>
    event?.$case === "image" ? `image ${event.image.itemId} ${event.image.image?.index}` : String(event?.$case),
  );
}

describe("against the real server", () => {
  let service: Service;
  let client: ImageClient;

  before(async () => {
    service = await startService();
    client = new ImageClient(service.target, API_KEY);
  });

  after(async () => {
    client?.close();
    await service?.stop();
  });

  test("runBatch streams every item's images, tagged; the batch calls read it back", async () => {
    const photo = png(64, 48, () => [40, 120, 200, 255]);
    const items = [
      generateItem("castle", { prompt: "a castle", numberOfImages: 2 }),
      editItem("night", { prompt: "make it night", image: { $case: "imageFile", imageFile: photo } }),
      inpaintItem("frame", {
        prompt: "a meadow",
        image: { $case: "imageFile", imageFile: photo },
        inpaintBorderOnly: true,
        borderPercentage: 0.2,
      }),
    ];
    const stream = client.runBatch(items, { idempotencyKey: "node-batch-1" }, deadline());
    const events = await collect(stream);
    const seen = kinds(events);
    assert.equal(seen[0], "accepted");
    assert.equal(seen.at(-1), "summary");
    assert.deepEqual(seen.filter((k) => k.startsWith("image")).sort(), [
      "image castle 0",
      "image castle 1",
      "image frame 0",
      "image night 0",
    ]);
    assert.ok(stream.batchId);

    const batch = await client.getBatch(stream.batchId, deadline());
    assert.equal(batch.status, BatchStatus.BATCH_STATUS_SUCCEEDED);
    assert.deepEqual(
      batch.items.map((i) => [i.itemId, i.status]),
      ["castle", "night", "frame"].map((id) => [id, BatchItemStatus.BATCH_ITEM_STATUS_SUCCEEDED]),
    );
    // The same key re-attaches to the same batch.
    const again = client.runBatch(items, { idempotencyKey: "node-batch-1" }, deadline());
    assert.equal(kinds(await collect(again)).filter((k) => k.startsWith("image")).length, 4);
    assert.equal(again.batchId, stream.batchId);

    const other = client.runBatch([generateItem("one", { prompt: "a kite" })], {}, deadline());
    await collect(other);
    const first = await client.listBatches({ pageSize: 1 }, deadline());
    const second = await client.listBatches({ pageSize: 1, pageToken: first.nextPageToken }, deadline());
    assert.deepEqual(
      [...first.batches, ...second.batches].map((b) => b.batchId),
      [other.batchId, stream.batchId],
    );

    const watched = await collect(client.watchBatch(stream.batchId, deadline()));
    assert.deepEqual(kinds(watched).sort(), seen.sort());
    // An ended batch comes back unchanged.
    assert.equal((await client.cancelBatch(stream.batchId, deadline())).status, BatchStatus.BATCH_STATUS_SUCCEEDED);
  });
});

describe("re-attaching", () => {
  const BATCH = "batch-1";
  const accepted = BatchEvent.fromPartial({ event: { $case: "accepted", accepted: { batchId: BATCH, itemCount: 2 } } });
  const started = (itemId: string): BatchEvent =>
    BatchEvent.fromPartial({ event: { $case: "itemStarted", itemStarted: { itemId, jobId: `job-${itemId}` } } });
  const image = (itemId: string, index: number): BatchEvent =>
    BatchEvent.fromPartial({ event: { $case: "image", image: { itemId, image: { index } } } });
  const ended = (itemId: string): BatchEvent =>
    BatchEvent.fromPartial({ event: { $case: "itemEnded", itemEnded: { itemId } } });
  const summary = BatchEvent.fromPartial({ event: { $case: "summary", summary: { batchId: BATCH } } });
  const whole = [accepted, started("a"), image("a", 0), ended("a"), started("b"), image("b", 1), image("b", 0), ended("b"), summary];

  let server: Server;
  let client: ImageClient;
  const runs: Script<BatchEvent>[] = [];
  const watches: Script<BatchEvent>[] = [];
  const watched: string[] = [];

  before(async () => {
    server = new Server();
    server.addService(ImageServiceService, {
      runBatch: (call: ServerWritableStream<unknown, BatchEvent>) => run(runs, call),
      watchBatch: (call: ServerWritableStream<WatchBatchRequest, BatchEvent>) => {
        watched.push(call.request.batchId);
        run(watches, call);
      },
    });
    const port = await new Promise<number>((ok, fail) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, bound) => (err ? fail(err) : ok(bound))),
    );
    client = new ImageClient(`127.0.0.1:${port}`, "key", { reattachAttempts: 3 });
  });

  after(() => {
    client.close();
    server.forceShutdown();
  });

  for (const [name, metadata] of [
    ["naming the batch", { batch_id: BATCH }],
    ["without a batch id (the accepted event's is used)", {}],
  ] as const) {
    test(`a batch stream cut by SERVER_SHUTTING_DOWN ${name} goes on without repeats`, async () => {
      watched.length = 0;
      runs.push(play(whole.slice(0, 6), shuttingDown(metadata)));
      // The restarting server refuses once, then replays the whole batch.
      watches.push(play([], shuttingDown(metadata)), play(whole));
      const stream = client.runBatch([generateItem("a", { prompt: "p" })]);
      assert.deepEqual(kinds(await collect(stream)), kinds(whole));
      assert.deepEqual(watched, [BATCH, BATCH]);
      assert.equal(stream.batchId, BATCH);
    });
  }
});
