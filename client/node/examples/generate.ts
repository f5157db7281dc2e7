/**
 * Streams a generation into files, each written the moment its image arrives.
 *
 *   npm run example -- "a lighthouse at dawn" -n 3 --aspect-ratio 16:9 -o out/
 *
 * Reads VISIONSTUDIO_API_KEY, and VISIONSTUDIO_TARGET (default localhost:50051).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { AspectRatio, describeError, ImageClient, Quality } from "../src/index.js";

const RATIOS: Record<string, AspectRatio> = {
  "1:1": AspectRatio.ASPECT_RATIO_1_1,
  "2:3": AspectRatio.ASPECT_RATIO_2_3,
  "3:2": AspectRatio.ASPECT_RATIO_3_2,
  "3:4": AspectRatio.ASPECT_RATIO_3_4,
  "4:3": AspectRatio.ASPECT_RATIO_4_3,
  "9:16": AspectRatio.ASPECT_RATIO_9_16,
  "16:9": AspectRatio.ASPECT_RATIO_16_9,
};
const QUALITIES: Record<string, Quality> = {
  auto: Quality.QUALITY_AUTO,
  low: Quality.QUALITY_LOW,
  medium: Quality.QUALITY_MEDIUM,
  high: Quality.QUALITY_HIGH,
};
const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp" };

function choice<T>(table: Record<string, T>, value: string | undefined, flag: string): T | undefined {
  if (value === undefined) return undefined;
  const found = table[value];
  if (found === undefined) {
    throw new Error(`${flag} must be one of ${Object.keys(table).join(", ")}`);
  }
  return found;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      n: { type: "string", short: "n", default: "1" },
      "aspect-ratio": { type: "string" },
      quality: { type: "string" },
      out: { type: "string", short: "o", default: "." },
    },
  });
  const prompt = positionals.join(" ");
  const apiKey = process.env.VISIONSTUDIO_API_KEY;
  if (!prompt || !apiKey) {
    console.error(
      'usage: VISIONSTUDIO_API_KEY=... generate "prompt" [-n N] [--aspect-ratio 3:2] [--quality high] [-o DIR]',
    );
    return 2;
  }
  const target = process.env.VISIONSTUDIO_TARGET ?? "localhost:50051";
  await mkdir(values.out, { recursive: true });

  const client = new ImageClient(target, apiKey);
  try {
    const stream = client.generate(
      {
        prompt,
        numberOfImages: Number(values.n),
        aspectRatio: choice(RATIOS, values["aspect-ratio"], "--aspect-ratio"),
        quality: choice(QUALITIES, values.quality, "--quality"),
        includeData: true,
      },
      { deadline: Date.now() + 15 * 60 * 1000 },
    );
    let jobId = "";
    for await (const { event } of stream) {
      switch (event?.$case) {
        case "accepted":
          jobId = event.accepted.jobId;
          console.error(`job ${jobId}: ${event.accepted.numberOfImages} image(s) by ${event.accepted.model}`);
          break;
        case "image": {
          // Images arrive in completion order; `index` is the position in the request.
          const { index, data, mimeType, width, height } = event.image;
          const path = join(values.out, `${jobId}-${index}.${EXTENSIONS[mimeType] ?? "bin"}`);
          await writeFile(path, data);
          console.log(path);
          console.error(`  #${index} ${width}x${height} ${event.image.url}`);
          break;
        }
        case "summary":
          console.error(
            `done in ${event.summary.elapsedMs} ms, ${event.summary.usage?.totalTokens ?? 0} tokens`,
          );
          break;
      }
    }
    return 0;
  } catch (err) {
    console.error(describeError(err));
    return 1;
  } finally {
    client.close();
  }
}

process.exitCode = await main();
