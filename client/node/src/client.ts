/**
 * A thin typed client for `visionstudio.image.v1.ImageService`.
 *
 * Every method starts a server-streaming call and returns the grpc-js stream, typed: iterate it
 * with `for await`. Events arrive as `accepted`, then one `image` per finished image (in
 * completion order; `image.index` is its position in the request), then `summary`. A failed
 * call makes the iteration throw a grpc-js `ServiceError`; `errorDetails(err)` from
 * `./errors.js` decodes its rich details. Leaving the loop early (`break`, or a throw in its
 * body) cancels the call, and with it the upstream work.
 */
import {
  type CallOptions,
  type ChannelCredentials,
  type ClientOptions,
  type ClientReadableStream,
  credentials as grpcCredentials,
  Metadata,
} from "@grpc/grpc-js";

import {
  type DeepPartial,
  EditImageRequest,
  GenerateImageRequest,
  type ImageEvent,
  ImageServiceClient,
  InpaintRequest,
} from "./gen/visionstudio/image/v1/image_service.js";

/** The metadata key that carries the client's API key. */
export const API_KEY_METADATA = "x-api-key";

/** Message size limit both ways; the same default as the server (`VISIONSTUDIO_MAX_MESSAGE_BYTES`). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface ImageClientOptions {
  /** Channel credentials; default insecure (plaintext), as for a service inside the network. */
  credentials?: ChannelCredentials;
  /** Extra grpc-js channel options, merged over the message size limits. */
  channelOptions?: Partial<ClientOptions>;
}

/** Per-call options: the grpc-js ones (`deadline`, ...) plus extra metadata to send. */
export interface ImageCallOptions extends Partial<CallOptions> {
  /** Sent with the call in addition to `x-api-key`. */
  metadata?: Metadata;
}

/**
 * The stream of one call: a grpc-js `ClientReadableStream` whose async iterator yields typed
 * events, throws the call's error even when it arrived before the loop started, and cancels the
 * call when the loop is left early. `cancel()`, `getPeer()` and the `metadata` / `status` events
 * are grpc-js's own.
 *
 * When reading with `on("data")` instead of `for await`, listen for `error` as with any stream:
 * the client keeps an `error` listener of its own (so that a call failing before anyone reads
 * is no uncaught exception), so an error nobody listens for is dropped, not thrown.
 */
export interface ImageStream extends ClientReadableStream<ImageEvent> {
  [Symbol.asyncIterator](): AsyncIterableIterator<ImageEvent>;
}

/** A request as the caller writes it: any field may be left out (proto3 defaults). */
export type GenerateImageInput = DeepPartial<GenerateImageRequest>;
export type EditImageInput = DeepPartial<EditImageRequest>;
export type InpaintInput = DeepPartial<InpaintRequest>;

/** The `image` oneof from bytes (sent as `image_file`) or a URL string (sent as `image_url`). */
export function imageSource(source: Uint8Array | string): NonNullable<EditImageRequest["image"]> {
  return typeof source === "string"
    ? { $case: "imageUrl", imageUrl: source }
    : { $case: "imageFile", imageFile: Buffer.from(source) };
}

/** The `mask` oneof from bytes (sent as `mask_file`) or a URL string (sent as `mask_url`). */
export function maskSource(source: Uint8Array | string): NonNullable<InpaintRequest["mask"]> {
  return typeof source === "string"
    ? { $case: "maskUrl", maskUrl: source }
    : { $case: "maskFile", maskFile: Buffer.from(source) };
}

export class ImageClient {
  /** The generated grpc-js client, for anything this wrapper does not cover. */
  readonly stub: ImageServiceClient;
  readonly #apiKey: string;

  /**
   * @param target `host:port` of the service, e.g. `localhost:50051`.
   * @param apiKey One of the server's `VISIONSTUDIO_API_KEYS`; sent as `x-api-key` on every call.
   */
  constructor(target: string, apiKey: string, options: ImageClientOptions = {}) {
    this.#apiKey = apiKey;
    this.stub = new ImageServiceClient(target, options.credentials ?? grpcCredentials.createInsecure(), {
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      ...options.channelOptions,
    });
  }

  /** Streams `number_of_images` new images made from `request.prompt`. */
  generate(request: GenerateImageInput, options: ImageCallOptions = {}): ImageStream {
    const [metadata, callOptions] = this.#call(options);
    return typed(this.stub.generateImage(GenerateImageRequest.fromPartial(request), metadata, callOptions));
  }

  /** Streams edits of `request.image` (see `imageSource`) made by `request.prompt`. */
  edit(request: EditImageInput, options: ImageCallOptions = {}): ImageStream {
    const [metadata, callOptions] = this.#call(options);
    return typed(this.stub.editImage(EditImageRequest.fromPartial(request), metadata, callOptions));
  }

  /**
   * Streams inpaintings of `request.image`: the area marked by `request.mask` (see `maskSource`),
   * or with `inpaintBorderOnly` a new border of `borderPercentage` (0.01..0.5) on every side.
   */
  inpaint(request: InpaintInput, options: ImageCallOptions = {}): ImageStream {
    const [metadata, callOptions] = this.#call(options);
    return typed(this.stub.inpaint(InpaintRequest.fromPartial(request), metadata, callOptions));
  }

  /** Closes the channel; calls in flight are cancelled. */
  close(): void {
    this.stub.close();
  }

  #call(options: ImageCallOptions): [Metadata, Partial<CallOptions>] {
    const { metadata: extra, ...callOptions } = options;
    const metadata = extra?.clone() ?? new Metadata();
    metadata.set(API_KEY_METADATA, this.#apiKey);
    return [metadata, callOptions];
  }
}

/** The grpc-js stream, with the iteration `ImageStream` describes. */
function typed(stream: ClientReadableStream<ImageEvent>): ImageStream {
  // grpc-js emits a failed status as an `error` event the moment it arrives, read or not; with
  // no listener that is an uncaught exception, and a loop started afterwards just ends.
  let failure: Error | undefined;
  stream.on("error", (err: Error) => {
    failure ??= err;
  });
  const iterate = stream[Symbol.asyncIterator].bind(stream) as () => AsyncIterator<ImageEvent>;
  async function* events(): AsyncGenerator<ImageEvent, void, undefined> {
    let finished = false;
    try {
      yield* { [Symbol.asyncIterator]: iterate };
      finished = true;
    } finally {
      // Left early: stop the call (a no-op when it has already ended).
      if (!finished && failure === undefined) stream.cancel();
    }
    if (failure !== undefined) throw failure;
  }
  return Object.defineProperty(stream, Symbol.asyncIterator, { value: events }) as ImageStream;
}
