/**
 * The job calls from Node against the real server: watch a job (finished or still running),
 * get one, list them with every filter and paging, usage over a time range, and their errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { status } from "@grpc/grpc-js";

import { errorDetails, type ImageEvent, ImageClient, JobStatus } from "../src/index.js";
import { API_KEY, type Service, startService } from "./harness.js";

const CALL_TIMEOUT_MS = 20_000;

let service: Service;
let client: ImageClient;
/** Two finished jobs of this file's own server, oldest first: 2 images, then 1. */
let jobs: { id: string; images: number; created: Date }[];

function deadline(): { deadline: number } {
  return { deadline: Date.now() + CALL_TIMEOUT_MS };
}

async function collect(stream: AsyncIterable<ImageEvent>): Promise<ImageEvent[]> {
  const events: ImageEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** The events' kinds, with each image's index: e.g. `["accepted", "image 1", "summary"]`. */
function kinds(events: ImageEvent[]): string[] {
  return events.map(({ event }) =>
    event?.$case === "image" ? `image ${event.image.index}` : String(event?.$case),
  );
}

async function generated(prompt: string, numberOfImages: number): Promise<string> {
  const stream = client.generate({ prompt, numberOfImages }, deadline());
  await collect(stream);
  assert.ok(stream.jobId, "the stream names its job");
  return stream.jobId;
}

before(async () => {
  service = await startService();
  client = new ImageClient(service.target, API_KEY);
  jobs = [];
  for (const [prompt, n] of [
    ["a red kite", 2],
    ["a blue kite", 1],
  ] as const) {
    const id = await generated(prompt, n);
    const job = await client.getJob(id, deadline());
    assert.ok(job.createTime);
    jobs.push({ id, images: n, created: job.createTime });
  }
});

after(async () => {
  client?.close();
  await service?.stop();
});

describe("the job calls from Node", () => {
  test("getJob returns the finished job with its images and usage", async () => {
    const [first] = jobs;
    assert.ok(first);
    const job = await client.getJob(first.id, deadline());
    assert.equal(job.jobId, first.id);
    assert.equal(job.status, JobStatus.JOB_STATUS_SUCCEEDED);
    assert.equal(job.operation, "generate");
    assert.equal(job.numberOfImages, 2);
    assert.deepEqual(job.images.map((i) => i.index).sort(), [0, 1]);
    assert.ok(job.images.every((i) => i.url.startsWith(service.httpBase)));
    assert.ok((job.usage?.totalTokens ?? 0) > 0);
    assert.match(job.parametersJson, /red kite/);
  });

  test("cancel stops a running job, ends its stream CANCELLED, and leaves a finished one as it was", async () => {
    const stream = client.generate({ prompt: "a slow kite" }, deadline());
    const iterator = stream[Symbol.asyncIterator]();
    const accepted = await iterator.next();
    assert.equal(accepted.value?.event?.$case, "accepted");
    assert.ok(stream.jobId);
    const cancelled = await client.cancel(stream.jobId, deadline());
    assert.equal(cancelled.status, JobStatus.JOB_STATUS_CANCELLED);
    const ended = await (async () => {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return undefined;
      }
    })().then(
      () => assert.fail("the cancelled job's stream ended without an error"),
      (e: unknown) => e,
    );
    assert.equal(errorDetails(ended)?.code, status.CANCELLED, String(ended));
    const [first] = jobs;
    assert.ok(first);
    const unchanged = await client.cancel(first.id, deadline());
    assert.equal(unchanged.status, JobStatus.JOB_STATUS_SUCCEEDED);
  });

  test("getJob of an unknown id rejects with NOT_FOUND, details decoded", async () => {
    const err = await client.getJob("no-such-job", deadline()).then(
      () => assert.fail("found a job that does not exist"),
      (e: unknown) => e,
    );
    const info = errorDetails(err);
    assert.equal(info?.code, status.NOT_FOUND, String(err));
    assert.equal(info?.errorInfo?.reason, "NOT_FOUND");
  });

  test("watch replays a finished job: accepted, its images (with data when asked), summary", async () => {
    const [first] = jobs;
    assert.ok(first);
    const events = await collect(client.watch(first.id, { includeData: true }, deadline()));
    assert.deepEqual(kinds(events).sort(), ["accepted", "image 0", "image 1", "summary"]);
    assert.equal(events[0]?.event?.$case, "accepted");
    assert.equal(events.at(-1)?.event?.$case, "summary");
    for (const { event } of events) {
      if (event?.$case === "image") assert.ok(event.image.data.length > 0, "data when include_data");
    }
    const plain = await collect(client.watch(first.id, {}, deadline()));
    for (const { event } of plain) if (event?.$case === "image") assert.equal(event.image.data.length, 0);
  });

  test("watch follows a running job to its end, alongside its own call", async () => {
    const own = client.generate({ prompt: "a green kite", numberOfImages: 3 }, deadline());
    const iterator = own[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.value?.event?.$case, "accepted");
    const watched = collect(client.watch(own.jobId, {}, deadline()));
    const rest: ImageEvent[] = [];
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest.push(next.value);
    assert.deepEqual(kinds(await watched).sort(), ["accepted", "image 0", "image 1", "image 2", "summary"]);
    assert.deepEqual(kinds(rest).sort(), ["image 0", "image 1", "image 2", "summary"]);
  });

  test("watch of an unknown job fails NOT_FOUND", async () => {
    await assert.rejects(collect(client.watch("no-such-job", {}, deadline())), (err: unknown) => {
      assert.equal(errorDetails(err)?.code, status.NOT_FOUND);
      return true;
    });
  });

  test("listJobs filters by status and creation time, newest first", async () => {
    const [older, newer] = jobs;
    assert.ok(older && newer);
    const ids = async (filter: Parameters<ImageClient["listJobs"]>[0]): Promise<string[]> =>
      (await client.listJobs(filter, deadline())).jobs.map((j) => j.jobId);

    const all = await ids({ status: JobStatus.JOB_STATUS_SUCCEEDED });
    assert.deepEqual(all.slice(-2), [newer.id, older.id], "newest first");
    // Timestamps reach Node with millisecond precision, truncated: at or after `created`.
    const justAfter = new Date(newer.created.getTime() + 1);
    assert.deepEqual(await ids({ createdAfter: newer.created, createdBefore: justAfter }), [newer.id]);
    assert.deepEqual(await ids({ createdBefore: newer.created, createdAfter: older.created }), [older.id]);
    assert.deepEqual(await ids({ status: JobStatus.JOB_STATUS_FAILED }), []);
    const listed = (await client.listJobs({}, deadline())).jobs;
    assert.ok(listed.every((j) => j.images.length === 0), "listings leave images out");
  });

  test("listJobs pages with pageSize and pageToken", async () => {
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await client.listJobs({ pageSize: 1, pageToken }, deadline());
      assert.ok(page.jobs.length <= 1);
      seen.push(...page.jobs.map((j) => j.jobId));
      pageToken = page.nextPageToken;
      pages += 1;
      assert.ok(pages < 20, "paging ends");
    } while (pageToken);
    const all = (await client.listJobs({}, deadline())).jobs.map((j) => j.jobId);
    assert.deepEqual(seen, all);
    assert.ok(seen.length >= jobs.length);
  });

  test("listJobs refuses a page size above 100 as INVALID_ARGUMENT naming page_size", async () => {
    await assert.rejects(client.listJobs({ pageSize: 101 }, deadline()), (err: unknown) => {
      const info = errorDetails(err);
      assert.equal(info?.code, status.INVALID_ARGUMENT);
      assert.deepEqual(info?.fieldViolations.map((v) => v.field), ["page_size"]);
      return true;
    });
  });

  test("usage counts the jobs, images and tokens created in [startTime, endTime)", async () => {
    const [older, newer] = jobs;
    assert.ok(older && newer);
    const range = await client.usage({ startTime: older.created, endTime: newer.created }, deadline());
    assert.equal(range.jobs, 1);
    assert.equal(range.images, older.images);
    assert.ok((range.usage?.totalTokens ?? 0) > 0);

    const endTime = new Date(newer.created.getTime() + 1);
    const both = await client.usage({ startTime: older.created, endTime }, deadline());
    assert.equal(both.jobs, 2);
    assert.equal(both.images, older.images + newer.images);

    const before = await client.usage({ endTime: older.created }, deadline());
    assert.equal(before.jobs, 0);
    assert.equal(before.usage?.totalTokens ?? 0, 0);
  });
});
