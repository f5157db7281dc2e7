// The studio's shell: the API key, and one page at a time after the address's #fragment.
import { forgetKey, getKey, setKey } from "./api.js";
import * as edit from "./edit.js";
import * as generate from "./generate.js";
import * as inpaint from "./inpaint.js";
import * as jobs from "./jobs.js";
import * as usage from "./usage.js";

const PAGES = { generate, edit, inpaint, jobs, usage };
const $ = (id) => document.getElementById(id);

function showKeyState() {
  $("key-status").textContent = getKey()
    ? "A key is set for this tab."
    : "Enter an API key to use the studio.";
  $("api-key").value = getKey();
}

function route() {
  const name = location.hash.slice(1) in PAGES ? location.hash.slice(1) : "generate";
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.dataset.page !== name;
  }
  for (const link of document.querySelectorAll("nav a")) {
    if (link.hash === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (getKey()) PAGES[name].open?.();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setKey($("api-key").value);
  showKeyState();
  route();
});
$("forget-key").addEventListener("click", () => {
  forgetKey();
  showKeyState();
});
Object.values(PAGES).forEach((page) => page.setUp());
window.addEventListener("hashchange", route);
showKeyState();
route();
