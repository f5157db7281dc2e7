/**
 * A thin typed client for `visionstudio.image.v1.ImageService`.
 *
 * The image calls (`generate`, `edit`, `inpaint`, `watch`) return an `ImageStream`: iterate it
 * with `for await`. Events arrive as `accepted`, then one `image` per finished image (in
 * completion order; `image.index` is its position in the request), then `summary`. A failed
 * call makes the iteration throw a grpc-js `ServiceError`; `errorDetails(err)` from
 * `./errors.js` decodes its rich details. Leaving the loop early (`break`, or a throw in its
 * body) cancels the call, and with it the upstream work. A stream cut by a server shutting down
 * goes on with WatchJob by itself (see `./reattach.js`). The job calls (`getJob`, `listJobs`,
 * `usage`) return promises of the response message.
 *
 * `runBatch` runs many requests (build the items with `generateItem`, `editItem`, `inpaintItem`)
 * as one batch and returns a `BatchStream`: `accepted`, each item's `itemStarted`, `image`s and
 * `itemEnded`, then `summary`; a batch stream cut by a server shutting down goes on with
 * WatchBatch by itself, without repeats. `watchBatch`, `getBatch`, `listBatches` and
 * `cancelBatch` are the batch calls.
 */
import {
  type CallOptions,
  type ChannelCredentials,
  type ClientOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  credentials as grpcCredentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";

import {
  type Batch,
  type BatchEvent,
  BatchRequestItem,
  CancelBatchRequest,
  GetBatchRequest,
  ListBatchesRequest,
  type ListBatchesResponse,
  RunBatchRequest,
  WatchBatchRequest,
  type DeepPartial,
  EditImageRequest,
  GenerateImageRequest,
  CancelJobRequest,
  GetJobRequest,
  GetUsageRequest,
  type GetUsageResponse,
  type ImageEvent,
  ImageServiceClient,
  InpaintRequest,
  type Job,
  ListJobsRequest,
  type ListJobsResponse,
  WatchJobRequest,
} from "./gen/visionstudio/image/v1/image_service.js";
import { BatchReattach, DEFAULT_REATTACH_ATTEMPTS, Reattach } from "./reattach.js";
import { BatchStream, ImageStream } from "./stream.js";

export { BatchStream, ImageStream } from "./stream.js";

/** The metadata key that carries the client's API key. */
export const API_KEY_METADATA = "x-api-key";

/** Message size limit both ways; the same default as the server (`VISIONSTUDIO_MAX_MESSAGE_BYTES`). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface ImageClientOptions {
  /** Channel credentials; default insecure (plaintext), as for a service inside the network. */
  credentials?: ChannelCredentials;
  /** Extra grpc-js channel options, merged over the message size limits. */
  channelOptions?: Partial<ClientOptions>;
  /** How often one stream may re-attach with WatchJob after a server shut down (default 5; 0: never). */
  reattachAttempts?: number;
}

/** Per-call options: the grpc-js ones (`deadline`, ...) plus extra metadata to send. */
export interface ImageCallOptions extends Partial<CallOptions> {
  /** Sent with the call in addition to `x-api-key`. */
  metadata?: Metadata;
}

/** A request as the caller writes it: any field may be left out (proto3 defaults). */
export type GenerateImageInput = DeepPartial<GenerateImageRequest>;
export type EditImageInput = DeepPartial<EditImageRequest>;
export type InpaintInput = DeepPartial<InpaintRequest>;
/** WatchJob's fields besides the job id. */
export type WatchJobInput = Omit<DeepPartial<WatchJobRequest>, "jobId">;
/** ListJobs' filters and paging: `status`, `createdAfter` / `createdBefore`, `pageSize`, `pageToken`. */
export type ListJobsInput = DeepPartial<ListJobsRequest>;
/** GetUsage's time range: `startTime` (inclusive) and `endTime` (exclusive). */
export type GetUsageInput = DeepPartial<GetUsageRequest>;

/** ListBatches' paging: `pageSize` (1..100, default 50) and `pageToken`. */
export type ListBatchesInput = DeepPartial<ListBatchesRequest>;
/** RunBatch's `idempotency_key`: a repeat with the same key re-attaches to the first batch. */
export interface RunBatchInput {
  idempotencyKey?: string;
}

/** A generated streaming method, as the client calls it. */
type StreamRpc<Request, Event = ImageEvent> = (
  request: Request,
  metadata: Metadata,
  options: Partial<CallOptions>,
) => ClientReadableStream<Event>;
/** A generated unary method, as the client calls it. */
type UnaryRpc<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Response) => void,
) => ClientUnaryCall;

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

/** A batch item of a GenerateImage request (the same fields `generate` takes). */
export function generateItem(itemId: string, request: GenerateImageInput): BatchRequestItem {
  return BatchRequestItem.fromPartial({ itemId, request: { $case: "generate", generate: request } });
}

/** A batch item of an EditImage request (the same fields `edit` takes). */
export function editItem(itemId: string, request: EditImageInput): BatchRequestItem {
  return BatchRequestItem.fromPartial({ itemId, request: { $case: "edit", edit: request } });
}

/** A batch item of an Inpaint request (the same fields `inpaint` takes). */
export function inpaintItem(itemId: string, request: InpaintInput): BatchRequestItem {
  return BatchRequestItem.fromPartial({ itemId, request: { $case: "inpaint", inpaint: request } });
}

export class ImageClient {
  /** The generated grpc-js client, for anything this wrapper does not cover. */
  readonly stub: ImageServiceClient;
  readonly #apiKey: string;
  readonly #reattachAttempts: number;

  /**
   * @param target `host:port` of the service, e.g. `localhost:50051`.
   * @param apiKey One of the server's `VISIONSTUDIO_API_KEYS`; sent as `x-api-key` on every call.
   */
  constructor(target: string, apiKey: string, options: ImageClientOptions = {}) {
    this.#apiKey = apiKey;
    this.#reattachAttempts = options.reattachAttempts ?? DEFAULT_REATTACH_ATTEMPTS;
    this.stub = new ImageServiceClient(target, options.credentials ?? grpcCredentials.createInsecure(), {
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      ...options.channelOptions,
    });
  }

  /** Streams `number_of_images` new images made from `request.prompt`. */
  generate(request: GenerateImageInput, options: ImageCallOptions = {}): ImageStream {
    return this.#stream(this.stub.generateImage, GenerateImageRequest.fromPartial(request), options);
  }

  /** Streams edits of `request.image` (see `imageSource`) made by `request.prompt`. */
  edit(request: EditImageInput, options: ImageCallOptions = {}): ImageStream {
    return this.#stream(this.stub.editImage, EditImageRequest.fromPartial(request), options);
  }

  /**
   * Streams inpaintings of `request.image`: the area marked by `request.mask` (see `maskSource`),
   * or with `inpaintBorderOnly` a new border of `borderPercentage` (0.01..0.5) on every side.
   */
  inpaint(request: InpaintInput, options: ImageCallOptions = {}): ImageStream {
    return this.#stream(this.stub.inpaint, InpaintRequest.fromPartial(request), options);
  }

  /**
   * Re-attaches to a job: `accepted`, the images made so far, the rest as they finish, then
   * `summary` (or the job's error), as the job's own call would have streamed them.
   */
  watch(jobId: string, request: WatchJobInput = {}, options: ImageCallOptions = {}): ImageStream {
    return this.#stream(this.stub.watchJob, WatchJobRequest.fromPartial({ ...request, jobId }), options);
  }

  /** One of the caller's jobs: status, parameters, images, usage and error. */
  getJob(jobId: string, options: ImageCallOptions = {}): Promise<Job> {
    return this.#unary(this.stub.getJob, GetJobRequest.fromPartial({ jobId }), options);
  }

  /** Stops one of the caller's jobs (its stored images are kept); a finished job comes back
   * unchanged. */
  cancel(jobId: string, options: ImageCallOptions = {}): Promise<Job> {
    return this.#unary(this.stub.cancelJob, CancelJobRequest.fromPartial({ jobId }), options);
  }

  /** A page of the caller's jobs, newest first; pass `nextPageToken` as `pageToken` for the next. */
  listJobs(request: ListJobsInput = {}, options: ImageCallOptions = {}): Promise<ListJobsResponse> {
    return this.#unary(this.stub.listJobs, ListJobsRequest.fromPartial(request), options);
  }

  /** Jobs, images and tokens of the caller's jobs created in [`startTime`, `endTime`). */
  usage(request: GetUsageInput = {}, options: ImageCallOptions = {}): Promise<GetUsageResponse> {
    return this.#unary(this.stub.getUsage, GetUsageRequest.fromPartial(request), options);
  }

  /**
   * Runs `items` (1..1000; see `generateItem`, `editItem`, `inpaintItem`) as one batch and
   * streams it: `accepted`, each item's `itemStarted`, its `image`s as they finish and its
   * `itemEnded` (an item's own error never fails the others), then `summary`.
   */
  runBatch(items: BatchRequestItem[], request: RunBatchInput = {}, options: ImageCallOptions = {}): BatchStream {
    const message = RunBatchRequest.fromPartial({ items, idempotencyKey: request.idempotencyKey ?? "" });
    return this.#batchStream(this.stub.runBatch, message, "", options);
  }

  /** Re-attaches to a batch: what is done, then the rest as it finishes, as `runBatch` streams it. */
  watchBatch(batchId: string, options: ImageCallOptions = {}): BatchStream {
    return this.#batchStream(this.stub.watchBatch, WatchBatchRequest.fromPartial({ batchId }), batchId, options);
  }

  /** One of the caller's batches with its items (status, job id, error of each). */
  getBatch(batchId: string, options: ImageCallOptions = {}): Promise<Batch> {
    return this.#unary(this.stub.getBatch, GetBatchRequest.fromPartial({ batchId }), options);
  }

  /** A page of the caller's batches, newest first; pass `nextPageToken` as `pageToken` for the next. */
  listBatches(request: ListBatchesInput = {}, options: ImageCallOptions = {}): Promise<ListBatchesResponse> {
    return this.#unary(this.stub.listBatches, ListBatchesRequest.fromPartial(request), options);
  }

  /** Cancels every unfinished item of one of the caller's batches; an ended batch comes back unchanged. */
  cancelBatch(batchId: string, options: ImageCallOptions = {}): Promise<Batch> {
    return this.#unary(this.stub.cancelBatch, CancelBatchRequest.fromPartial({ batchId }), options);
  }

  /** Closes the channel; calls in flight are cancelled. */
  close(): void {
    this.stub.close();
  }

  #stream<Request extends { includeData: boolean }>(
    rpc: StreamRpc<Request>,
    request: Request,
    options: ImageCallOptions,
  ): ImageStream {
    const [metadata, callOptions] = this.#call(options);
    // A re-attach is the same logical call: the same key, metadata and (absolute) deadline.
    const watch = (next: WatchJobRequest): ClientReadableStream<ImageEvent> =>
      this.stub.watchJob(next, metadata, callOptions);
    const reattach = new Reattach(request.includeData, this.#reattachAttempts);
    return new ImageStream(rpc.call(this.stub, request, metadata, callOptions), watch, reattach);
  }

  #batchStream<Request>(
    rpc: StreamRpc<Request, BatchEvent>,
    request: Request,
    batchId: string,
    options: ImageCallOptions,
  ): BatchStream {
    const [metadata, callOptions] = this.#call(options);
    const watch = (next: WatchBatchRequest): ClientReadableStream<BatchEvent> =>
      this.stub.watchBatch(next, metadata, callOptions);
    const reattach = new BatchReattach(batchId, this.#reattachAttempts);
    return new BatchStream(rpc.call(this.stub, request, metadata, callOptions), watch, reattach);
  }

  #unary<Request, Response>(
    rpc: UnaryRpc<Request, Response>,
    request: Request,
    options: ImageCallOptions,
  ): Promise<Response> {
    const [metadata, callOptions] = this.#call(options);
    return new Promise((resolve, reject) => {
      rpc.call(this.stub, request, metadata, callOptions, (error, response) => {
        if (error === null) resolve(response);
        else reject(error);
      });
    });
  }

  #call(options: ImageCallOptions): [Metadata, Partial<CallOptions>] {
    const { metadata: extra, ...callOptions } = options;
    const metadata = extra?.clone() ?? new Metadata();
    metadata.set(API_KEY_METADATA, this.#apiKey);
    return [metadata, callOptions];
  }
}
