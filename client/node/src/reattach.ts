/**
 * Re-attaching to a job or a batch whose stream a server cut while shutting down.
 *
 * A server that stops ends its open streams with UNAVAILABLE, `ErrorInfo` reason
 * `SERVER_SHUTTING_DOWN` and the job (or batch) id in its metadata; the work itself goes on (in
 * another replica, or once the server is back). The client then continues with WatchJob (or
 * WatchBatch), which replays what is done: what the caller already has is dropped, so the
 * caller sees one stream as if nothing had happened. The same rules as the Python client's
 * `visionstudio.client.reattach`.
 */
import { status as grpcStatus } from "@grpc/grpc-js";

import { errorDetails } from "./errors.js";
import type {
  BatchEvent,
  ImageEvent,
  WatchBatchRequest,
  WatchJobRequest,
} from "./gen/visionstudio/image/v1/image_service.js";

/** `ErrorInfo.reason` of a stream cut by a server that is shutting down. */
export const SHUTTING_DOWN = "SERVER_SHUTTING_DOWN";
/** Enough to ride out a rolling restart; a server that stays away is reported, not waited for. */
export const DEFAULT_REATTACH_ATTEMPTS = 5;
const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 5_000;

/** What a stream asks of the state of one logical stream. */
export interface Resume<Event, Watch> {
  /** The job's or batch's id, once the stream or its error has named it ("" before). */
  readonly id: string;
  /** Whether the caller should see `event` (not when a re-attach replays it). */
  forward(event: Event): boolean;
  /** Milliseconds to wait before watching, or undefined when `err` is the caller's to see. */
  retryAfter(err: unknown): number | undefined;
  watchRequest(): Watch;
}

/** Whether, and after how long, to re-attach; `id` is what the watch follows. */
abstract class Retries {
  #attemptsLeft: number;
  #delayMs = FIRST_DELAY_MS;
  #resumed = false;
  protected currentId = "";

  constructor(
    readonly metadataKey: string,
    attempts: number,
  ) {
    this.#attemptsLeft = attempts;
  }

  get id(): string {
    return this.currentId;
  }

  retryAfter(err: unknown): number | undefined {
    const info = errorDetails(err);
    if (this.#attemptsLeft <= 0 || info?.code !== grpcStatus.UNAVAILABLE) return undefined;
    const shutdown = info.errorInfo?.reason === SHUTTING_DOWN;
    this.currentId = (shutdown ? info.errorInfo?.metadata[this.metadataKey] : undefined) || this.currentId;
    // A first failure that is not a shutdown: nothing says the work survives it. Once
    // re-attaching, UNAVAILABLE is the restarting server, worth another try.
    if (!(shutdown || this.#resumed) || !this.currentId) return undefined;
    this.#attemptsLeft -= 1;
    this.#resumed = true;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(delay * 2, MAX_DELAY_MS);
    return delay;
  }
}

/** The state of one job stream: what the caller has seen, and whether to go on. */
export class Reattach extends Retries implements Resume<ImageEvent, WatchJobRequest> {
  #accepted = false;
  readonly #indices = new Set<number>();

  constructor(
    readonly includeData: boolean,
    attempts: number = DEFAULT_REATTACH_ATTEMPTS,
  ) {
    super("job_id", attempts);
  }

  /** The job's id, once the stream or its error has named it ("" before). */
  get jobId(): string {
    return this.currentId;
  }

  /** Whether the caller should see `event`: not the replayed `accepted` or images. */
  forward({ event }: ImageEvent): boolean {
    switch (event?.$case) {
      case "accepted": {
        this.currentId = event.accepted.jobId;
        const seen = this.#accepted;
        this.#accepted = true;
        return !seen;
      }
      case "image": {
        const seen = this.#indices.has(event.image.index);
        this.#indices.add(event.image.index);
        return !seen;
      }
      case "preview":
        // Previews of an image already delivered are stale after a re-attach.
        return !this.#indices.has(event.preview.index);
      default:
        return true;
    }
  }

  watchRequest(): WatchJobRequest {
    return { jobId: this.currentId, includeData: this.includeData };
  }
}

/**
 * The state of one batch stream: the items started and ended and the images the caller has,
 * so a WatchBatch replay adds only what is new. A shutdown error without a batch id falls back
 * to the id of the `accepted` event (or, for a watch, the batch it follows).
 */
export class BatchReattach extends Retries implements Resume<BatchEvent, WatchBatchRequest> {
  readonly #seen = new Set<string>();

  constructor(batchId = "", attempts: number = DEFAULT_REATTACH_ATTEMPTS) {
    super("batch_id", attempts);
    this.currentId = batchId;
  }

  forward({ event }: BatchEvent): boolean {
    let key: string;
    switch (event?.$case) {
      case "accepted":
        this.currentId = event.accepted.batchId;
        key = "accepted";
        break;
      case "itemStarted":
        key = JSON.stringify(["started", event.itemStarted.itemId]);
        break;
      case "image":
        key = JSON.stringify(["image", event.image.itemId, event.image.image?.index ?? 0]);
        break;
      case "itemEnded":
        key = JSON.stringify(["ended", event.itemEnded.itemId]);
        break;
      default:
        return true;
    }
    const seen = this.#seen.has(key);
    this.#seen.add(key);
    return !seen;
  }

  watchRequest(): WatchBatchRequest {
    return { batchId: this.currentId };
  }
}
