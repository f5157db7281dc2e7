// Refusals in words a person can act on: the service's own message, and what to do about it.

const ADVICE = {
  UNAUTHENTICATED: "The API key was not accepted. Check it and enter it again at the top.",
  PERMISSION_DENIED: "This key may not do that.",
  RESOURCE_EXHAUSTED: "The service is busy or this key is over its limit; try again shortly.",
  DEADLINE_EXCEEDED: "The images took too long to render.",
  UNAVAILABLE: "The image provider could not be reached; try again shortly.",
  NOT_FOUND: "Not found (this page may need a newer service).",
};

const REASONS = {
  CONTENT_POLICY_VIOLATION: "The provider refused the prompt or image under its content policy.",
};

/** One sentence or two for an ApiError, or for an error answer's JSON
 * ({message, error: {code, reason, details}}). */
export function describe(failure) {
  const error = failure.error || failure;
  const code = error.code || "";
  const reason = error.reason || "";
  const parts = [REASONS[reason] || ADVICE[code], failure.message].filter(Boolean);
  const retry = error.details?.retry_after_s;
  if (retry) parts.push(`Retry in ${Math.ceil(retry)} s.`);
  return [...new Set(parts)].join(" ");
}
