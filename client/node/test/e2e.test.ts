/**
 * The Node client against the real server (over real sockets) and the loopback upstream:
 * all three RPCs, n>1 streaming, auth metadata, and error details decoded.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import { Metadata, status } from "@grpc/grpc-js";

import {
  AspectRatio,
  describeError,
  ERROR_DOMAIN,
  errorDetails,
  GenerateImageRequest,
  type Image,
  ImageClient,
  type ImageEvent,
  imageSource,
  maskSource,
} from "../src/index.js";
import { API_KEY, type Service, startService } from "./harness.js";
import { PNG_SIGNATURE, png, pngSize } from "./png.js";

const CALL_TIMEOUT_MS = 20_000;

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

async function collect(stream: AsyncIterable<ImageEvent>): Promise<ImageEvent[]> {
  const events: ImageEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** The stream's error; fails the test when the stream ends without one. */
async function failure(stream: AsyncIterable<ImageEvent>): Promise<unknown> {
  try {
    await collect(stream);
  } catch (err) {
    return err;
  }
  assert.fail("the call succeeded");
}

function deadline(): { deadline: number } {
  return { deadline: Date.now() + CALL_TIMEOUT_MS };
}

/** Checks the accepted → images → summary shape and returns the images. */
function checkStream(events: ImageEvent[], n: number): Image[] {
  const first = events[0]?.event;
  const last = events.at(-1)?.event;
  assert.equal(first?.$case, "accepted", "the first event is `accepted`");
  assert.equal(last?.$case, "summary", "the last event is `summary`");
  assert.equal(first.accepted.numberOfImages, n);
  assert.equal(last.summary.jobId, first.accepted.jobId);
  assert.equal(last.summary.imagesDelivered, n);
  assert.ok((last.summary.usage?.totalTokens ?? 0) > 0, "the summary carries usage");
  const images = events.slice(1, -1).map((e) => {
    assert.equal(e.event?.$case, "image", "only images between accepted and summary");
    return e.event.image;
  });
  assert.deepEqual(
    images.map((i) => i.index).sort((a, b) => a - b),
    Array.from({ length: n }, (_, i) => i),
    "one image per index 0..n-1",
  );
  return images;
}

/** A 64x48 picture: a gradient with a dark square in the middle. */
const PICTURE = png(64, 48, (x, y) =>
  x > 24 && x < 40 && y > 16 && y < 32 ? [20, 20, 20, 255] : [x * 4, y * 5, 128, 255],
);

describe("ImageService from Node", () => {
  test("GenerateImage streams n>1 images: accepted first, one per index, summary last", async () => {
    const events = await collect(
      client.generate(
        {
          prompt: "a lighthouse at dawn",
          numberOfImages: 3,
          aspectRatio: AspectRatio.ASPECT_RATIO_3_2,
          includeData: true,
        },
        deadline(),
      ),
    );
    const images = checkStream(events, 3);
    for (const image of images) {
      assert.equal(image.mimeType, "image/png");
      assert.ok(image.data.subarray(0, 8).equals(PNG_SIGNATURE));
      assert.deepEqual(pngSize(image.data), { width: image.width, height: image.height });
      assert.equal(image.width * 2, image.height * 3, "exactly 3:2");
      assert.equal(Number(image.sizeBytes), image.data.length);
    }
    // The signed URL is served over HTTP without a key, and holds the same bytes.
    const first = images[0];
    assert.ok(first);
    assert.ok(first.url.startsWith(service.httpBase), first.url);
    const response = await fetch(first.url);
    assert.equal(response.status, 200);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(first.data));
  });

  test("EditImage takes image bytes and an image URL", async () => {
    const fromBytes = checkStream(
      await collect(
        client.edit(
          {
            prompt: "make it night",
            image: imageSource(PICTURE),
            aspectRatio: AspectRatio.ASPECT_RATIO_2_3,
            includeData: true,
          },
          deadline(),
        ),
      ),
      1,
    );
    const [edited] = fromBytes;
    assert.ok(edited);
    assert.equal(edited.width * 3, edited.height * 2, "exactly 2:3");
    assert.deepEqual(pngSize(edited.data), { width: edited.width, height: edited.height });

    // image_url: a loopback HTTP server, allowed by VISIONSTUDIO_URL_ALLOWLIST=127.0.0.1.
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "image/png" }).end(PICTURE);
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    try {
      const { port } = server.address() as AddressInfo;
      const fromUrl = checkStream(
        await collect(
          client.edit(
            {
              prompt: "as a woodcut",
              image: imageSource(`http://127.0.0.1:${port}/in.png`),
              numberOfImages: 2,
            },
            deadline(),
          ),
        ),
        2,
      );
      for (const image of fromUrl) {
        assert.equal(image.data.length, 0, "no bytes without include_data");
        assert.ok(image.url);
      }
    } finally {
      server.close();
    }
  });

  test("Inpaint with a mask keeps the image's size", async () => {
    // Transparent pixels mark the area to repaint: the middle of the picture.
    const mask = png(32, 24, (x, y) =>
      x >= 12 && x < 20 && y >= 8 && y < 16 ? [0, 0, 0, 0] : [0, 0, 0, 255],
    );
    const [image] = checkStream(
      await collect(
        client.inpaint(
          { prompt: "a wooden door", image: imageSource(PICTURE), mask: maskSource(mask), includeData: true },
          deadline(),
        ),
      ),
      1,
    );
    assert.ok(image);
    assert.deepEqual({ width: image.width, height: image.height }, { width: 64, height: 48 });
    assert.deepEqual(pngSize(image.data), { width: 64, height: 48 });
  });

  test("Inpaint with inpaint_border_only grows the canvas by border_percentage", async () => {
    const images = checkStream(
      await collect(
        client.inpaint(
          {
            prompt: "continue the meadow",
            image: imageSource(PICTURE),
            inpaintBorderOnly: true,
            borderPercentage: 0.25,
            numberOfImages: 2,
          },
          deadline(),
        ),
      ),
      2,
    );
    for (const image of images) {
      // 64x48 plus a quarter of each side on every side.
      assert.deepEqual({ width: image.width, height: image.height }, { width: 96, height: 72 });
    }
  });

  test("a call without x-api-key is UNAUTHENTICATED, with ErrorInfo", async () => {
    // The generated stub, bypassing the client, sends no metadata at all.
    const err = await failure(
      client.stub.generateImage(GenerateImageRequest.fromPartial({ prompt: "x" }), deadline()),
    );
    const info = errorDetails(err);
    assert.ok(info, String(err));
    assert.equal(info.code, status.UNAUTHENTICATED);
    assert.equal(info.errorInfo?.reason, "API_KEY_INVALID");
    assert.equal(info.errorInfo?.domain, ERROR_DOMAIN);

    const wrong = new ImageClient(service.target, "not-a-key");
    try {
      const err2 = await failure(wrong.generate({ prompt: "x" }, deadline()));
      assert.equal(errorDetails(err2)?.code, status.UNAUTHENTICATED);
    } finally {
      wrong.close();
    }
  });

  test("extra metadata is sent alongside the key", async () => {
    const metadata = new Metadata();
    metadata.set("x-request-id", "node-test");
    const events = await collect(client.generate({ prompt: "a cat" }, { ...deadline(), metadata }));
    checkStream(events, 1);
  });

  test("a failure that arrives before the loop starts is still thrown by it", async () => {
    const stream = client.generate({ prompt: "" }, deadline());
    // Long enough for the status to arrive while nobody reads.
    await new Promise((ok) => setTimeout(ok, 300));
    const err = await failure(stream);
    assert.equal(errorDetails(err)?.code, status.INVALID_ARGUMENT);
  });

  test("leaving the loop early cancels the call", async () => {
    const stream = client.generate({ prompt: "a slow one", numberOfImages: 3 }, deadline());
    const ended = new Promise<number>((ok) => stream.call.on("status", (s) => ok(s.code)));
    for await (const event of stream) {
      assert.equal(event.event?.$case, "accepted");
      break;
    }
    assert.equal(await ended, status.CANCELLED);
  });

  test("INVALID_ARGUMENT carries a BadRequest field violation naming the field", async () => {
    const cases: [string, () => AsyncIterable<ImageEvent>][] = [
      ["prompt", () => client.generate({ prompt: "   " }, deadline())],
      // An enum number the contract does not list (proto3 enums are open on the wire).
      ["aspect_ratio", () => client.generate({ prompt: "x", aspectRatio: 99 as AspectRatio }, deadline())],
      ["number_of_images", () => client.generate({ prompt: "x", numberOfImages: 11 }, deadline())],
      [
        "border_percentage",
        () =>
          client.inpaint(
            { prompt: "x", image: imageSource(PICTURE), inpaintBorderOnly: true, borderPercentage: 0.6 },
            deadline(),
          ),
      ],
    ];
    for (const [field, call] of cases) {
      const err = await failure(call());
      const info = errorDetails(err);
      assert.ok(info, String(err));
      assert.equal(info.codeName, "INVALID_ARGUMENT", describeError(err));
      assert.equal(info.errorInfo?.domain, ERROR_DOMAIN);
      assert.equal(info.errorInfo?.reason, "INVALID_ARGUMENT");
      assert.deepEqual(
        info.fieldViolations.map((v) => v.field),
        [field],
        describeError(err),
      );
      assert.ok(info.fieldViolations[0]?.description);
      assert.match(describeError(err), new RegExp(`^INVALID_ARGUMENT: .*${field}`));
    }
  });
});
