/**
 * Re-attaching after a server shutdown, against a small grpc-js ImageService of the test's own
 * that ends its streams the way a stopping visionstudio server does: UNAVAILABLE with an
 * ErrorInfo reason SERVER_SHUTTING_DOWN and the job id in its metadata.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerWritableStream,
  type ServiceError,
  status,
} from "@grpc/grpc-js";

import {
  errorDetails,
  ImageEvent,
  ImageClient,
  ImageServiceService,
  SHUTTING_DOWN,
  type WatchJobRequest,
} from "../src/index.js";
import { type Script as FakeScript, play as playEvents, run, shuttingDown } from "./fake.js";

const KEY = "reattach-key";
const JOB = "job-1";

type Script = FakeScript<ImageEvent>;

/** The fake's state: the scripts its calls play, in order, and what the client sent. */
interface Fake {
  generate: Script[];
  watch: Script[];
  watchRequests: { request: WatchJobRequest; metadata: Metadata }[];
}

let server: Server;
let fake: Fake;
let client: ImageClient;
let target: string;

// Events as the server sends them; fromPartial fills in the fields these tests do not look at.
const accepted = (jobId = JOB): ImageEvent =>
  ImageEvent.fromPartial({ event: { $case: "accepted", accepted: { jobId, numberOfImages: 2 } } });
const image = (index: number): ImageEvent =>
  ImageEvent.fromPartial({ event: { $case: "image", image: { index, url: `u${index}` } } });
const preview = (index: number): ImageEvent =>
  ImageEvent.fromPartial({ event: { $case: "preview", preview: { index } } });
const summary = ImageEvent.fromPartial({
  event: { $case: "summary", summary: { jobId: JOB, imagesDelivered: 2 } },
});

/** UNAVAILABLE, with the shutdown ErrorInfo naming `jobId` when given. */
function unavailable(jobId?: string): Partial<ServiceError> {
  return shuttingDown(jobId === undefined ? undefined : { job_id: jobId });
}

function play(events: ImageEvent[], error?: Partial<ServiceError>): Script {
  return playEvents(events, error);
}

beforeEach(async () => {
  fake = { generate: [], watch: [], watchRequests: [] };
  server = new Server();
  server.addService(ImageServiceService, {
    generateImage: (call: ServerWritableStream<unknown, ImageEvent>) => run(fake.generate, call),
    watchJob: (call: ServerWritableStream<WatchJobRequest, ImageEvent>) => {
      fake.watchRequests.push({ request: call.request, metadata: call.metadata });
      run(fake.watch, call);
    },
  });
  const port = await new Promise<number>((ok, fail) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, bound) =>
      err ? fail(err) : ok(bound),
    ),
  );
  target = `127.0.0.1:${port}`;
  client = new ImageClient(target, KEY, { reattachAttempts: 3 });
});

afterEach(() => {
  client.close();
  server.forceShutdown();
});

async function kinds(stream: AsyncIterable<ImageEvent>): Promise<string[]> {
  const seen: string[] = [];
  for await (const { event } of stream) {
    const index =
      event?.$case === "image" ? event.image.index : event?.$case === "preview" ? event.preview.index : "";
    seen.push(`${event?.$case} ${index}`.trim());
  }
  return seen;
}

test("a stream cut by SERVER_SHUTTING_DOWN goes on with WatchJob, without repeats", async () => {
  fake.generate.push(play([accepted(), image(0), preview(1)], unavailable(JOB)));
  // The restarting server refuses once, then replays the job: accepted, image 0 and a stale preview.
  fake.watch.push(play([], unavailable()), play([accepted(), image(0), preview(0), image(1), summary]));
  const extra = new Metadata();
  extra.set("x-request-id", "r1");
  const stream = client.generate({ prompt: "p", includeData: true }, { metadata: extra });
  assert.deepEqual(await kinds(stream), ["accepted", "image 0", "preview 1", "image 1", "summary"]);
  assert.equal(stream.jobId, JOB);
  assert.equal(fake.watchRequests.length, 2);
  for (const { request, metadata } of fake.watchRequests) {
    assert.deepEqual(request, { jobId: JOB, includeData: true });
    assert.deepEqual(metadata.get("x-api-key"), [KEY]);
    assert.deepEqual(metadata.get("x-request-id"), ["r1"]);
  }
});

test("the job id comes from the error when the stream was cut before `accepted`", async () => {
  fake.generate.push(play([], unavailable("job-2")));
  fake.watch.push(play([accepted("job-2"), image(0), image(1), summary]));
  const stream = client.generate({ prompt: "p" });
  assert.deepEqual(await kinds(stream), ["accepted", "image 0", "image 1", "summary"]);
  assert.deepEqual(fake.watchRequests[0]?.request, { jobId: "job-2", includeData: false });
});

test("UNAVAILABLE without the shutdown reason is the caller's to see", async () => {
  fake.generate.push(play([accepted()], unavailable()));
  await assert.rejects(kinds(client.generate({ prompt: "p" })), (err: unknown) => {
    assert.equal(errorDetails(err)?.code, status.UNAVAILABLE);
    return true;
  });
  assert.equal(fake.watchRequests.length, 0);
});

test("re-attaching gives up after `reattachAttempts`, with the last error", async () => {
  fake.generate.push(play([accepted()], unavailable(JOB)));
  fake.watch.push(...Array.from({ length: 4 }, () => play([], unavailable(JOB))));
  await assert.rejects(kinds(client.generate({ prompt: "p" })), (err: unknown) => {
    const info = errorDetails(err);
    assert.equal(info?.code, status.UNAVAILABLE);
    assert.equal(info?.errorInfo?.reason, SHUTTING_DOWN);
    return true;
  });
  assert.equal(fake.watchRequests.length, 3);
});

test("with reattachAttempts 0 the shutdown error is thrown at once", async () => {
  const never = new ImageClient(target, KEY, { reattachAttempts: 0 });
  try {
    fake.generate.push(play([accepted()], unavailable(JOB)));
    await assert.rejects(kinds(never.generate({ prompt: "p" })), (err: unknown) => {
      assert.equal(errorDetails(err)?.errorInfo?.reason, SHUTTING_DOWN);
      return true;
    });
    assert.equal(fake.watchRequests.length, 0);
  } finally {
    never.close();
  }
});

test("leaving the loop after a re-attach cancels the WatchJob call", async () => {
  fake.generate.push(play([accepted()], unavailable(JOB)));
  // The watch sends its replay and one image, then stays open until cancelled.
  let watchCancelled: Promise<void> = Promise.resolve();
  fake.watch.push((call) => {
    watchCancelled = new Promise((ok) => call.on("cancelled", () => ok()));
    call.write(accepted());
    call.write(image(0));
  });
  const stream = client.generate({ prompt: "p" });
  for await (const { event } of stream) {
    if (event?.$case === "image") break;
  }
  await watchCancelled;
  assert.equal(fake.watchRequests.length, 1);
});

test("cancel() while waiting to re-attach ends the loop with CANCELLED", async () => {
  fake.generate.push(play([accepted()], unavailable(JOB)));
  fake.watch.push(play([accepted(), image(0), image(1), summary]));
  const stream = client.generate({ prompt: "p" });
  const seen: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const { event } of stream) {
        seen.push(String(event?.$case));
        // The cut follows at once; the first re-attach waits 200 ms, and this lands in it.
        setTimeout(() => stream.cancel(), 100);
      }
    })(),
    (err: unknown) => {
      assert.equal(errorDetails(err)?.code, status.CANCELLED);
      return true;
    },
  );
  assert.deepEqual(seen, ["accepted"]);
});
