/**
 * Pieces of a small grpc-js ImageService of a test's own, whose streams end the way a stopping
 * visionstudio server ends them: UNAVAILABLE with an ErrorInfo reason SERVER_SHUTTING_DOWN and
 * the job (or batch) id in its metadata.
 */
import { Metadata, type ServerWritableStream, type ServiceError, status } from "@grpc/grpc-js";

import { ERROR_DOMAIN, ErrorInfo, SHUTTING_DOWN, Status, STATUS_DETAILS_KEY } from "../src/index.js";

/** What one call of the fake does: writes some events, then ends or fails. */
export type Script<Event> = (call: ServerWritableStream<unknown, Event>) => void;

/** UNAVAILABLE, with the shutdown ErrorInfo carrying `metadata` when given. */
export function shuttingDown(metadata?: Record<string, string>): Partial<ServiceError> {
  const trailers = new Metadata();
  if (metadata !== undefined) {
    const info = ErrorInfo.encode({ reason: SHUTTING_DOWN, domain: ERROR_DOMAIN, metadata });
    const rpcStatus = Status.encode({
      code: status.UNAVAILABLE,
      message: "the server is shutting down",
      details: [{ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: Buffer.from(info.finish()) }],
    });
    trailers.set(STATUS_DETAILS_KEY, Buffer.from(rpcStatus.finish()));
  }
  return { code: status.UNAVAILABLE, details: "the server is shutting down", metadata: trailers };
}

/** Writes `events` (each once the previous is sent), then ends the call or fails it with `error`. */
export function play<Event>(events: Event[], error?: Partial<ServiceError>): Script<Event> {
  return (call) => {
    const [first, ...rest] = events;
    if (first !== undefined) call.write(first, () => play(rest, error)(call));
    else if (error === undefined) call.end();
    else call.emit("error", error);
  };
}

/** Plays the next of `scripts` on `call`; INTERNAL when none is left. */
export function run<Event>(scripts: Script<Event>[], call: ServerWritableStream<unknown, Event>): void {
  const script = scripts.shift();
  if (script === undefined) call.emit("error", { code: status.INTERNAL, details: "no script left" });
  else script(call);
}
