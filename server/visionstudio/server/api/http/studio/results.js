// A job on screen: one tile per requested image that shows a preview while it renders and the
// image (with a download of its own bytes and name) once it is ready; progress and errors in words.
import { imageBlob } from "./api.js";
import { describe } from "./words.js";

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

function sizeText(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

/** The name the image has in its URL (`<id>.png`), which a download keeps. */
export function fileName(url) {
  return decodeURIComponent(new URL(url, location.href).pathname.split("/").pop());
}

export class JobView {
  constructor(container, { prompt = "" } = {}) {
    this.prompt = prompt;
    this.tiles = [];
    this.objectUrls = [];
    this.status = el("p", { className: "status", role: "status" });
    this.bar = el("progress", { max: 1, value: 0 });
    this.bar.setAttribute("aria-label", "Images ready");
    this.error = el("p", { className: "message", role: "alert" });
    this.grid = el("ol", { className: "tiles" });
    container.replaceChildren(this.status, this.bar, this.error, this.grid);
    this.say("Sending…");
  }

  say(text) {
    this.status.textContent = text;
  }

  /** Tiles for `count` images (called again when the service says how many). */
  expect(count) {
    while (this.tiles.length < count) {
      const index = this.tiles.length;
      const state = el("p", { className: "state" }, "Waiting…");
      const progress = el("progress");
      progress.setAttribute("aria-label", `Image ${index + 1} rendering`);
      const frame = el("div", { className: "frame" });
      const tile = el("li", { className: "tile pending" }, frame, state, progress);
      tile.dataset.index = String(index);
      this.grid.append(tile);
      this.tiles.push({ tile, state, frame, progress });
    }
    this.bar.max = count;
  }

  /** Shows one stream event; returns false once the stream is over. */
  async show(event, data) {
    switch (event) {
      case "accepted":
        this.expect(data.number_of_images);
        this.jobId = data.job_id;
        this.say(`Job ${data.job_id}: rendering ${data.number_of_images} with ${data.model}…`);
        this.tiles.forEach((t) => (t.state.textContent = "Rendering…"));
        return true;
      case "preview":
        await this.preview(data);
        return true;
      case "progress":
        this.bar.value = data.images_done;
        this.say(`${data.images_done} of ${data.images_total} images ready…`);
        return true;
      case "image":
        await this.image(data);
        return true;
      case "summary":
        this.bar.value = this.bar.max;
        this.say(`Done: ${data.images_delivered} images in ${(data.elapsed_ms / 1000).toFixed(1)} s, `
          + `${data.usage.total_tokens} tokens.`);
        return false;
      case "error":
        this.fail(data);
        return false;
      default:
        return true;
    }
  }

  async preview({ index, partial_image_index: step, mime_type: mime, data }) {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const url = this.keep(URL.createObjectURL(new Blob([bytes], { type: mime })));
    const t = this.tiles[index];
    t.frame.replaceChildren(el("img", { src: url, alt: `Image ${index + 1}, preview ${step + 1}` }));
    t.state.textContent = `Preview ${step + 1}…`;
  }

  async image(image) {
    this.expect(image.index + 1);
    const t = this.tiles[image.index];
    t.state.textContent = "Loading…";
    try {
      const blob = await imageBlob(image.url);
      const url = this.keep(URL.createObjectURL(blob));
      const name = fileName(image.url);
      const alt = `Image ${image.index + 1}${this.prompt ? `: ${this.prompt}` : ""}`;
      t.frame.replaceChildren(el("img", { src: url, alt, width: image.width, height: image.height }));
      const kind = image.mime_type.split("/")[1].toUpperCase();
      const link = el("a", { href: url, download: name, className: "download" }, `Download ${name}`);
      t.state.replaceChildren(`${image.width}×${image.height} ${kind}, ${sizeText(image.size_bytes)} `, link);
      t.tile.classList.replace("pending", "ready");
    } catch (error) {
      t.state.textContent = `Image ${image.index + 1} could not be shown: ${error.message}`;
      t.tile.classList.replace("pending", "failed");
    }
    t.progress.remove();
  }

  /** The job failed; tiles that never got an image say so. */
  fail(answer) {
    this.error.textContent = describe(answer);
    this.say("Stopped.");
    for (const t of this.tiles) {
      if (!t.tile.classList.contains("pending")) continue;
      t.tile.classList.replace("pending", "failed");
      t.state.textContent = "Not delivered.";
      t.progress.remove();
    }
  }

  keep(url) {
    this.objectUrls.push(url);
    return url;
  }

  /** Frees the images' memory when the view is replaced. */
  dispose() {
    this.objectUrls.forEach((url) => URL.revokeObjectURL(url));
  }
}

/** Feeds a stream of {event, data} into a fresh JobView in `container`. */
export async function play(view, events) {
  try {
    for await (const { event, data } of events) {
      if (!(await view.show(event, data))) return;
    }
    view.fail({ message: "The stream ended before the job finished." });
  } catch (error) {
    if (error.name === "AbortError") {
      view.fail({ message: "Stopped: the job was cancelled from this page." });
    } else {
      view.fail(error);
    }
  }
}
