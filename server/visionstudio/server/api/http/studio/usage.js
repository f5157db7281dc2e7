// The usage page: what the key used over a period, as the service sums it.
import { usage } from "./api.js";
import { describe } from "./words.js";

const $ = (id) => document.getElementById(id);

const words = (key) => key.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());

/** Every number of the answer (nested ones under their parent's name), as a term and value. */
function entries(data, prefix = "") {
  return Object.entries(data || {}).flatMap(([key, value]) =>
    value && typeof value === "object"
      ? entries(value, `${prefix}${words(key)}: `)
      : [[prefix + words(key), typeof value === "number" ? value.toLocaleString() : String(value)]],
  );
}

async function show() {
  const form = $("usage-form");
  const message = $("page-usage").querySelector(".message");
  const at = (input) => (input.value ? new Date(input.value).toISOString() : undefined);
  message.textContent = "";
  try {
    const data = await usage({ since: at(form.elements.since), until: at(form.elements.until) });
    $("usage-summary").replaceChildren(...entries(data).flatMap(([term, value]) => [
      Object.assign(document.createElement("dt"), { textContent: term }),
      Object.assign(document.createElement("dd"), { textContent: value }),
    ]));
  } catch (error) {
    message.textContent = describe(error);
  }
}

export function setUp() {
  $("usage-form").addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
}

export const open = show;
