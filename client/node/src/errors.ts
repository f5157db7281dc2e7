/**
 * Rich error details of a failed call (AIP-193).
 *
 * The server ends a failed stream with a status whose `grpc-status-details-bin` trailer is a
 * serialized `google.rpc.Status`; its `details` are `Any`s holding `google.rpc.ErrorInfo`
 * (domain `visionstudio`, a `reason` such as `API_KEY_INVALID`), `google.rpc.BadRequest`
 * (the request fields at fault) and `google.rpc.RetryInfo` (how long to wait). These helpers
 * decode them with the generated types in `./gen/google/rpc`.
 */
import { type Metadata, type ServiceError, status as grpcStatus } from "@grpc/grpc-js";

import type { Any } from "./gen/google/protobuf/any.js";
import * as rpc from "./gen/google/rpc/error_details.js";
import { Status } from "./gen/google/rpc/status.js";

export {
  BadRequest,
  type BadRequest_FieldViolation,
  DebugInfo,
  ErrorInfo,
  Help,
  LocalizedMessage,
  PreconditionFailure,
  QuotaFailure,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
} from "./gen/google/rpc/error_details.js";
export { Status };

/** The trailer that carries the serialized `google.rpc.Status`. */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** `ErrorInfo.domain` of every error this service raises. */
export const ERROR_DOMAIN = "visionstudio";

const TYPE_URL_PREFIX = "type.googleapis.com/";

/** Every standard detail type, keyed by its full name. */
const DETAIL_TYPES = {
  "google.rpc.ErrorInfo": rpc.ErrorInfo,
  "google.rpc.RetryInfo": rpc.RetryInfo,
  "google.rpc.DebugInfo": rpc.DebugInfo,
  "google.rpc.QuotaFailure": rpc.QuotaFailure,
  "google.rpc.PreconditionFailure": rpc.PreconditionFailure,
  "google.rpc.BadRequest": rpc.BadRequest,
  "google.rpc.RequestInfo": rpc.RequestInfo,
  "google.rpc.ResourceInfo": rpc.ResourceInfo,
  "google.rpc.Help": rpc.Help,
  "google.rpc.LocalizedMessage": rpc.LocalizedMessage,
} as const;

type DetailTypes = typeof DETAIL_TYPES;
/** One decoded detail: its full type name and the message. */
export type Detail = {
  [K in keyof DetailTypes]: { type: K; value: ReturnType<DetailTypes[K]["decode"]> };
}[keyof DetailTypes];

/** Everything a failed call said, decoded. */
export interface ErrorDetails {
  /** The gRPC status code (`status.INVALID_ARGUMENT`, ...). */
  code: grpcStatus;
  /** Its name, e.g. `INVALID_ARGUMENT`. */
  codeName: string;
  /** The status message. */
  message: string;
  /** The decoded `google.rpc.Status`, when the server sent one that agrees with the call's code. */
  status?: Status;
  /** Every detail of a known type, in the order sent. */
  details: Detail[];
  /** Details of types this module does not know, still packed. */
  unknownDetails: Any[];
  /** The first `ErrorInfo` (its `reason`, `domain` and `metadata`). */
  errorInfo?: rpc.ErrorInfo;
  /** The first `BadRequest`. */
  badRequest?: rpc.BadRequest;
  /** Every field violation of every `BadRequest`. */
  fieldViolations: rpc.BadRequest_FieldViolation[];
  /** The first `RetryInfo`. */
  retryInfo?: rpc.RetryInfo;
  /** `RetryInfo.retry_delay` in milliseconds, when sent. */
  retryDelayMs?: number;
}

/** Whether `err` is the error grpc-js reports for a failed call. */
export function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ServiceError>).code === "number" &&
    typeof (err as Partial<ServiceError>).details === "string" &&
    (err as Partial<ServiceError>).metadata !== undefined
  );
}

/** The `google.rpc.Status` in a call's trailers, or undefined when there is none (or it is garbage). */
export function decodeStatus(trailers: Metadata): Status | undefined {
  const [raw] = trailers.get(STATUS_DETAILS_KEY);
  if (raw === undefined || typeof raw === "string") {
    return undefined;
  }
  try {
    return Status.decode(raw);
  } catch {
    return undefined;
  }
}

/** One `Any` decoded to its standard detail type, or undefined for a type it does not know. */
export function unpackDetail(any: Any): Detail | undefined {
  if (!any.typeUrl.startsWith(TYPE_URL_PREFIX)) {
    return undefined;
  }
  const type = any.typeUrl.slice(TYPE_URL_PREFIX.length);
  if (!(type in DETAIL_TYPES)) {
    return undefined;
  }
  const name = type as keyof DetailTypes;
  return { type: name, value: DETAIL_TYPES[name].decode(any.value) } as Detail;
}

/** Decodes a failed call's status and details; undefined when `err` is not a call error. */
export function errorDetails(err: unknown): ErrorDetails | undefined {
  if (!isServiceError(err)) {
    return undefined;
  }
  const result: ErrorDetails = {
    code: err.code,
    codeName: grpcStatus[err.code] ?? String(err.code),
    message: err.details,
    details: [],
    unknownDetails: [],
    fieldViolations: [],
  };
  const status = decodeStatus(err.metadata);
  // Details that contradict the call's own code are not to be trusted (as grpcio-status does).
  if (status === undefined || status.code !== err.code) {
    return result;
  }
  result.status = status;
  for (const any of status.details) {
    const detail = unpackDetail(any);
    if (detail === undefined) {
      result.unknownDetails.push(any);
      continue;
    }
    result.details.push(detail);
    switch (detail.type) {
      case "google.rpc.ErrorInfo":
        result.errorInfo ??= detail.value;
        break;
      case "google.rpc.BadRequest":
        result.badRequest ??= detail.value;
        result.fieldViolations.push(...detail.value.fieldViolations);
        break;
      case "google.rpc.RetryInfo":
        if (result.retryInfo === undefined) {
          result.retryInfo = detail.value;
          const delay = detail.value.retryDelay;
          if (delay !== undefined) {
            result.retryDelayMs = delay.seconds * 1000 + delay.nanos / 1e6;
          }
        }
        break;
      default:
        break;
    }
  }
  return result;
}

/**
 * One readable line for a failed call, like the Python client's `describe_error`, e.g.
 * `INVALID_ARGUMENT: prompt must not be empty (prompt: must not be empty; reason: INVALID_ARGUMENT)`.
 */
export function describeError(err: unknown): string {
  const info = errorDetails(err);
  if (info === undefined) {
    return err instanceof Error ? err.message : String(err);
  }
  const text = info.message ? `${info.codeName}: ${info.message}` : info.codeName;
  const parts: string[] = [];
  for (const violation of info.fieldViolations) {
    parts.push(`${violation.field}: ${violation.description}`);
  }
  if (info.errorInfo !== undefined) {
    parts.push(`reason: ${info.errorInfo.reason}`);
  }
  if (info.retryDelayMs !== undefined) {
    parts.push(`retry after ${info.retryDelayMs / 1000}s`);
  }
  // Leave out what the message or the code already says.
  const fresh = parts.filter((p) => !info.message.includes(p) && p !== `reason: ${info.codeName}`);
  return fresh.length > 0 ? `${text} (${fresh.join("; ")})` : text;
}
