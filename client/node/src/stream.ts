/**
 * `ImageStream` and `BatchStream`: one logical stream, which may span several grpc-js calls.
 *
 * It starts as the call the client made (GenerateImage, EditImage, Inpaint or WatchJob; RunBatch
 * or WatchBatch); when that call is cut by a server shutting down, it goes on with WatchJob (or
 * WatchBatch, see `./reattach.js`), so the caller's `for await` loop sees one stream of events
 * as if nothing had happened.
 */
import { setTimeout as sleep } from "node:timers/promises";

import type { ClientReadableStream } from "@grpc/grpc-js";

import type {
  BatchEvent,
  ImageEvent,
  WatchBatchRequest,
  WatchJobRequest,
} from "./gen/visionstudio/image/v1/image_service.js";
import type { BatchReattach, Reattach, Resume } from "./reattach.js";

/**
 * The events of one call: iterate with `for await`, once. The loop throws the call's error (a
 * grpc-js `ServiceError`, even one that arrived before the loop started) unless the stream
 * re-attaches, and leaving the loop early (`break`, or a throw in its body) cancels the call,
 * and with it the upstream work (when the server is set to stop it).
 */
export class EventStream<Event, Watch> implements AsyncIterable<Event> {
  #call: ClientReadableStream<Event>;
  #read: () => AsyncGenerator<Event, void, undefined>;
  #cancelled = false;
  readonly #watch: (request: Watch) => ClientReadableStream<Event>;
  protected readonly reattach: Resume<Event, Watch>;

  /**
   * @param call The call the client started.
   * @param watch Starts the watch with the client's metadata and call options.
   * @param reattach What the caller has seen, and whether to re-attach after a failure.
   */
  constructor(
    call: ClientReadableStream<Event>,
    watch: (request: Watch) => ClientReadableStream<Event>,
    reattach: Resume<Event, Watch>,
  ) {
    this.#call = call;
    this.#watch = watch;
    this.reattach = reattach;
    this.#read = readable(call);
  }

  /** The grpc-js call now carrying the stream (`getPeer()`, the `metadata` / `status` events). */
  get call(): ClientReadableStream<Event> {
    return this.#call;
  }

  /** Cancels the call now carrying the stream: the loop then throws a CANCELLED `ServiceError`. */
  cancel(): void {
    this.#cancelled = true;
    this.#call.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Event, void, undefined> {
    let ended = false;
    try {
      for (;;) {
        try {
          for await (const event of this.#read()) {
            if (this.reattach.forward(event)) yield event;
          }
          ended = true;
          return;
        } catch (err) {
          const delayMs = this.reattach.retryAfter(err);
          if (delayMs === undefined) {
            ended = true;
            throw err;
          }
          await sleep(delayMs);
        }
        this.#call = this.#watch(this.reattach.watchRequest());
        this.#read = readable(this.#call);
        // Cancelled while waiting: the new call ends at once, with grpc-js's own CANCELLED.
        if (this.#cancelled) this.#call.cancel();
      }
    } finally {
      // Left early: stop the call (a no-op when it has already ended).
      if (!ended) this.#call.cancel();
    }
  }
}

/** The events of an image call, continued with WatchJob after a server shut down. */
export class ImageStream extends EventStream<ImageEvent, WatchJobRequest> {
  constructor(
    call: ClientReadableStream<ImageEvent>,
    watch: (request: WatchJobRequest) => ClientReadableStream<ImageEvent>,
    reattach: Reattach,
  ) {
    super(call, watch, reattach);
  }

  /** The job's id once the stream (or the error that cut it) has named it; "" before. */
  get jobId(): string {
    return this.reattach.id;
  }
}

/** The events of a batch, continued with WatchBatch after a server shut down. */
export class BatchStream extends EventStream<BatchEvent, WatchBatchRequest> {
  constructor(
    call: ClientReadableStream<BatchEvent>,
    watch: (request: WatchBatchRequest) => ClientReadableStream<BatchEvent>,
    reattach: BatchReattach,
  ) {
    super(call, watch, reattach);
  }

  /** The batch's id once the stream (or the error that cut it) has named it; "" before. */
  get batchId(): string {
    return this.reattach.id;
  }
}

/** The call's events; the iteration throws the call's error, wherever it arrived. */
function readable<Event>(call: ClientReadableStream<Event>): () => AsyncGenerator<Event, void, undefined> {
  // grpc-js emits a failed status as an `error` event the moment it arrives, read or not; with
  // no listener that is an uncaught exception, and a loop started afterwards just ends.
  let failure: Error | undefined;
  call.on("error", (err: Error) => {
    failure ??= err;
  });
  const iterate = call[Symbol.asyncIterator].bind(call) as () => AsyncIterator<Event>;
  return async function* events() {
    yield* { [Symbol.asyncIterator]: iterate };
    if (failure !== undefined) throw failure;
  };
}
