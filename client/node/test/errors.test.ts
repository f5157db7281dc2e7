/** Decoding `grpc-status-details-bin` without a server: every detail type the service sends. */
import assert from "node:assert/strict";
import { test } from "node:test";

import { Metadata, type ServiceError, status } from "@grpc/grpc-js";

import {
  BadRequest,
  describeError,
  ErrorInfo,
  errorDetails,
  isServiceError,
  RetryInfo,
  Status,
  STATUS_DETAILS_KEY,
} from "../src/index.js";

function pack(typeName: string, value: Uint8Array): { typeUrl: string; value: Buffer } {
  return { typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) };
}

function callError(code: status, message: string, rpcStatus?: Status): ServiceError {
  const metadata = new Metadata();
  if (rpcStatus !== undefined) {
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(Status.encode(rpcStatus).finish()));
  }
  return Object.assign(new Error(`${code} ${status[code]}: ${message}`), {
    code,
    details: message,
    metadata,
  });
}

test("ErrorInfo, BadRequest and RetryInfo are decoded; unknown types are kept packed", () => {
  const err = callError(status.RESOURCE_EXHAUSTED, "the provider's rate limit", {
    code: status.RESOURCE_EXHAUSTED,
    message: "the provider's rate limit",
    details: [
      pack(
        "google.rpc.ErrorInfo",
        ErrorInfo.encode({
          reason: "RATE_LIMITED",
          domain: "visionstudio",
          metadata: { job_id: "j1" },
        }).finish(),
      ),
      pack(
        "google.rpc.RetryInfo",
        RetryInfo.encode({ retryDelay: { seconds: 2, nanos: 500_000_000 } }).finish(),
      ),
      pack(
        "google.rpc.BadRequest",
        BadRequest.encode({
          fieldViolations: [
            { field: "prompt", description: "too long", reason: "", localizedMessage: undefined },
          ],
        }).finish(),
      ),
      pack("example.Unknown", new Uint8Array([8, 1])),
    ],
  });
  assert.ok(isServiceError(err));
  const info = errorDetails(err);
  assert.ok(info);
  assert.equal(info.codeName, "RESOURCE_EXHAUSTED");
  assert.equal(info.errorInfo?.reason, "RATE_LIMITED");
  assert.deepEqual(info.errorInfo?.metadata, { job_id: "j1" });
  assert.equal(info.retryDelayMs, 2500);
  assert.deepEqual(
    info.fieldViolations.map((v) => [v.field, v.description]),
    [["prompt", "too long"]],
  );
  assert.deepEqual(
    info.details.map((d) => d.type),
    ["google.rpc.ErrorInfo", "google.rpc.RetryInfo", "google.rpc.BadRequest"],
  );
  assert.equal(info.unknownDetails[0]?.typeUrl, "type.googleapis.com/example.Unknown");
  assert.equal(
    describeError(err),
    "RESOURCE_EXHAUSTED: the provider's rate limit (prompt: too long; reason: RATE_LIMITED; retry after 2.5s)",
  );
});

test("details whose code contradicts the call's are ignored", () => {
  const err = callError(status.INTERNAL, "boom", { code: status.OK, message: "", details: [] });
  const info = errorDetails(err);
  assert.equal(info?.status, undefined);
  assert.deepEqual(info?.details, []);
  assert.equal(describeError(err), "INTERNAL: boom");
});

test("a call without details, a garbled trailer, and a plain error", () => {
  assert.equal(errorDetails(callError(status.UNAVAILABLE, "down"))?.status, undefined);
  const garbled = callError(status.UNAVAILABLE, "down");
  garbled.metadata.set(STATUS_DETAILS_KEY, Buffer.from([0xff, 0xff, 0xff]));
  assert.equal(errorDetails(garbled)?.status, undefined);
  assert.equal(errorDetails(new Error("x")), undefined);
  assert.equal(describeError(new Error("plain")), "plain");
});
