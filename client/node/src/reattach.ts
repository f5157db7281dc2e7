/**
 * Re-attaching to a job whose stream a server cut while shutting down.
 *
 * A server that stops ends its open streams with UNAVAILABLE, `ErrorInfo` reason
 * `SERVER_SHUTTING_DOWN` and the job id in its metadata; the job itself goes on (in another
 * replica, or once the server is back). The client then continues with WatchJob, which replays
 * the job's `accepted` event and stored images: those the caller already has are dropped, so
 * the caller sees one stream as if nothing had happened. The same rules as the Python client's
 * `visionstudio.client.reattach`.
 */
import { status as grpcStatus } from "@grpc/grpc-js";

import { errorDetails } from "./errors.js";
import type { ImageEvent, WatchJobRequest } from "./gen/visionstudio/image/v1/image_service.js";

/** `ErrorInfo.reason` of a stream cut by a server that is shutting down. */
export const SHUTTING_DOWN = "SERVER_SHUTTING_DOWN";
/** Enough to ride out a rolling restart; a server that stays away is reported, not waited for. */
export const DEFAULT_REATTACH_ATTEMPTS = 5;
const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 5_000;

/** The state of one logical stream: what the caller has seen, and whether to go on. */
export class Reattach {
  #attemptsLeft: number;
  #delayMs = FIRST_DELAY_MS;
  #jobId = "";
  #accepted = false;
  readonly #indices = new Set<number>();
  #resumed = false;

  constructor(
    readonly includeData: boolean,
    attempts: number = DEFAULT_REATTACH_ATTEMPTS,
  ) {
    this.#attemptsLeft = attempts;
  }

  /** The job's id, once the stream or its error has named it ("" before). */
  get jobId(): string {
    return this.#jobId;
  }

  /** Whether the caller should see `event`: not the replayed `accepted` or images. */
  forward({ event }: ImageEvent): boolean {
    switch (event?.$case) {
      case "accepted": {
        this.#jobId = event.accepted.jobId;
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

  /** Milliseconds to wait before WatchJob, or undefined when `err` is the caller's to see. */
  retryAfter(err: unknown): number | undefined {
    const info = errorDetails(err);
    if (this.#attemptsLeft <= 0 || info?.code !== grpcStatus.UNAVAILABLE) return undefined;
    const shutdown = info.errorInfo?.reason === SHUTTING_DOWN;
    this.#jobId = (shutdown ? info.errorInfo?.metadata.job_id : undefined) || this.#jobId;
    // A first failure that is not a shutdown: nothing says the job survives it. Once
    // re-attaching, UNAVAILABLE is the restarting server, worth another try.
    if (!(shutdown || this.#resumed) || !this.#jobId) return undefined;
    this.#attemptsLeft -= 1;
    this.#resumed = true;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(delay * 2, MAX_DELAY_MS);
    return delay;
  }

  watchRequest(): WatchJobRequest {
    return { jobId: this.#jobId, includeData: this.includeData };
  }
}
