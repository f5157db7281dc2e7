// The jobs page: the key's jobs newest first, with thumbnails, filters and paging; watch a
// running job's images arrive, or cancel it.
import { cancelJob, getJob, imageBlob, listJobs, watchJob } from "./api.js";
import { JobView, play } from "./results.js";
import { describe } from "./words.js";

const $ = (id) => document.getElementById(id);
const page = () => $("page-jobs");
let pages = [""]; // tokens of the pages seen so far: "First page" and "Next page" walk them
let thumbnails = [];
let watching = null;

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

function button(text, label, onClick) {
  const b = Object.assign(document.createElement("button"), { type: "button", textContent: text });
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

async function thumbnail(listed) {
  // Listings carry no images (they stay small); the job itself has them.
  const job = listed.status === "running" ? listed : await getJob(listed.job_id);
  const first = (job.images || [])[0];
  if (!first) return cell("—");
  const img = Object.assign(document.createElement("img"), {
    className: "thumb", alt: `First image of job ${job.job_id}`,
  });
  imageBlob(first.url).then((blob) => {
    img.src = URL.createObjectURL(blob);
    thumbnails.push(img.src);
  }, () => (img.alt = "Image unavailable"));
  return cell(img, ` ${job.images.length}/${job.number_of_images}`);
}

async function row(job) {
  const tr = document.createElement("tr");
  const actions = cell();
  if (job.status === "running") {
    actions.append(
      button("Watch", `Watch job ${job.job_id}`, () => watch(job.job_id)),
      button("Cancel", `Cancel job ${job.job_id}`, () => cancel(job.job_id)),
    );
  }
  const created = job.created_at ? new Date(job.created_at).toLocaleString() : "";
  tr.append(
    await thumbnail(job), cell(job.job_id), cell(job.status), cell(job.model || ""),
    cell(String(job.usage?.total_tokens ?? "")), cell(created), actions,
  );
  if (job.error) tr.title = job.error;
  tr.dataset.jobId = job.job_id;
  return tr;
}

async function show(index) {
  const form = $("jobs-form");
  const message = page().querySelector(".message");
  message.textContent = "";
  try {
    const data = await listJobs({
      status: form.elements.status.value, pageSize: form.elements.page_size.value,
      pageToken: pages[index],
    });
    thumbnails.forEach((url) => URL.revokeObjectURL(url));
    thumbnails = [];
    const rows = await Promise.all((data.jobs || []).map(row));
    $("jobs-table").tBodies[0].replaceChildren(...rows);
    if (!rows.length) message.textContent = "No jobs match.";
    pages = pages.slice(0, index + 1);
    if (data.next_page_token) pages.push(data.next_page_token);
    $("jobs-first").disabled = index === 0;
    $("jobs-next").disabled = !data.next_page_token;
    $("jobs-next").onclick = () => show(index + 1);
  } catch (error) {
    message.textContent = describe(error);
  }
}

async function watch(jobId) {
  watching?.abort();
  watching = new AbortController();
  const view = new JobView(page().querySelector(".job"));
  view.say(`Watching job ${jobId}…`);
  await play(view, watchJob(jobId, watching.signal));
}

async function cancel(jobId) {
  try {
    await cancelJob(jobId);
  } catch (error) {
    page().querySelector(".message").textContent = describe(error);
    return;
  }
  await show(pages.length > 1 ? pages.length - 2 : 0);
}

export function setUp() {
  $("jobs-form").addEventListener("submit", (event) => {
    event.preventDefault();
    pages = [""];
    show(0);
  });
  $("jobs-first").addEventListener("click", () => show(0));
}

/** Called each time the page is opened. */
export const open = () => show(0);
