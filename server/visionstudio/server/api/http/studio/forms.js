// What the three image forms share: their option fields, their body, running the job with a
// Stop button, and files as base64.
import { runJob, takesPreviews } from "./api.js";
import { JobView, play } from "./results.js";

const previews = {};

/** Fills the form's `.options` with the fields it names (from the page's template). */
export function addOptions(form) {
  const box = form.querySelector(".options");
  const template = document.getElementById("options-template").content;
  for (const name of box.dataset.options.split(" ")) {
    const field = template.querySelector(`[data-option="${name}"]`).cloneNode(true);
    const input = field.querySelector("input, select");
    input.id = `${form.id}-${input.name}`;
    field.querySelector("label").htmlFor = input.id;
    box.append(field);
  }
}

/** The option fields as the API's keys; empty ones are left to the service's defaults. */
export function optionsOf(form) {
  const body = { prompt: form.elements.prompt.value };
  for (const input of form.querySelectorAll(".options input, .options select")) {
    if (input.value === "") continue;
    body[input.name] = input.type === "number" ? Number(input.value) : input.value;
  }
  return body;
}

/** A file's bytes as base64 (the JSON API's `*_file` keys). */
export function base64Of(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** Wires a form: on submit `buildBody()` makes the request (it may throw an Error whose message
 * is shown), the job runs with its images streaming into the section's `.job`. */
export function runForm(form, operation, buildBody) {
  const section = form.closest("section");
  const submit = form.querySelector("[type=submit]");
  const stop = form.querySelector(".stop");
  let controller = null;
  let view = null;
  stop.addEventListener("click", () => controller?.abort());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    view?.dispose();
    view = new JobView(section.querySelector(".job"), { prompt: form.elements.prompt.value });
    let body;
    try {
      body = await buildBody();
    } catch (error) {
      view.fail(error);
      return;
    }
    previews[operation] ??= await takesPreviews(operation);
    if (previews[operation]) body.partial_images = 2;
    controller = new AbortController();
    submit.disabled = true;
    stop.disabled = false;
    try {
      await play(view, runJob(operation, body, controller.signal));
    } finally {
      submit.disabled = false;
      stop.disabled = true;
      controller = null;
    }
  });
}
