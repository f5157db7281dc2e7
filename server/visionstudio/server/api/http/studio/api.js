// Every call the studio makes to the service, and nothing else: the public JSON API under
// /api/v1/openai with the key the user typed, exactly as any HTTP caller would make it.
import { readEvents } from "./sse.js";

const BASE = "/api/v1/openai";
const KEY_ITEM = "visionstudio.api-key";
// The service's own stored images; see imageBlob.
const IMAGE_ROUTE = "/v1/images/";

export const ROUTES = {
  generate: "/image/generation/generate-image",
  edit: "/image/editing/edit-image",
  inpaint: "/image/editing/inpaint",
};

/** A refusal from the service (its `message` is meant for people) or a network failure. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = "", reason = "", details = {} } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

// Session storage: the key lives as long as the tab, never on disk beyond it.
export const getKey = () => sessionStorage.getItem(KEY_ITEM) || "";
export const setKey = (key) => sessionStorage.setItem(KEY_ITEM, key.trim());
export const forgetKey = () => sessionStorage.removeItem(KEY_ITEM);

async function send(method, path, { body, accept = "application/json", signal } = {}) {
  const headers = { "X-API-Key": getKey(), Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(BASE + path, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`Could not reach the service (${error.message}).`);
  }
  if (!response.ok) throw await refusal(response);
  return response;
}

async function refusal(response) {
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    // Not the service's envelope (a proxy's page, say): the status line is all there is.
  }
  const error = answer.error || {};
  return new ApiError(answer.message || `${response.status} ${response.statusText}`, {
    status: response.status, code: error.code, reason: error.reason, details: error.details,
  });
}

async function data(method, path, options) {
  const answer = await (await send(method, path, options)).json();
  return answer.data;
}

function query(params) {
  const kept = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return kept.length ? "?" + new URLSearchParams(kept).toString() : "";
}

/** Runs an image job; yields {event, data} as the service streams them (accepted, preview,
 * progress, image, summary, error). Aborting `signal` hangs up, which cancels the job. */
export async function* runJob(operation, body, signal) {
  const response = await send("POST", ROUTES[operation], {
    body, signal, accept: "text/event-stream",
  });
  yield* readEvents(response.body);
}

/** Follows a job that is already running, with the same events as runJob. */
export async function* watchJob(jobId, signal) {
  const response = await send("GET", `/jobs/${encodeURIComponent(jobId)}/watch`, {
    signal, accept: "text/event-stream",
  });
  yield* readEvents(response.body);
}

/** {jobs: [...], next_page_token} for the key's jobs, newest first. */
export const listJobs = ({ status, pageSize, pageToken } = {}) =>
  data("GET", "/jobs" + query({ status, page_size: pageSize, page_token: pageToken }));

export const getJob = (jobId) => data("GET", `/jobs/${encodeURIComponent(jobId)}`);

export const cancelJob = (jobId) =>
  data("POST", `/jobs/${encodeURIComponent(jobId)}/cancel`, { body: {} });

export const usage = ({ since, until } = {}) =>
  data("GET", "/usage" + query({ start_time: since, end_time: until }));

const REQUEST_SCHEMAS = {
  generate: "GenerateImageRequest",
  edit: "EditImageRequest",
  inpaint: "InpaintRequest",
};

/** Whether the operation's route takes `partial_images` (previews while rendering), per the
 * service's own OpenAPI document. */
export async function takesPreviews(operation) {
  try {
    const doc = await (await send("GET", "/openapi.json")).json();
    const schema = doc?.components?.schemas?.[REQUEST_SCHEMAS[operation]];
    return Boolean(schema?.properties?.partial_images);
  } catch {
    return false;
  }
}

/** The image's own bytes, as a Blob. The service's image links are loaded from the origin
 * that served the studio (its configured public URL may name another host for the same
 * service); signed links need no key. */
export async function imageBlob(url) {
  const link = new URL(url, location.href);
  if (link.origin !== location.origin && link.pathname.startsWith(IMAGE_ROUTE)) {
    link.protocol = location.protocol;
    link.host = location.host;
  }
  // The key goes only to this origin (another host would see it, and a preflight).
  const headers = link.origin === location.origin ? { "X-API-Key": getKey() } : {};
  let response;
  try {
    response = await fetch(link, { headers });
  } catch (error) {
    throw new ApiError(`Could not load the image (${error.message}).`);
  }
  if (!response.ok) throw await refusal(response);
  return response.blob();
}
