// The generate page: a prompt and its options.
import { addOptions, optionsOf, runForm } from "./forms.js";

export function setUp() {
  const form = document.getElementById("generate-form");
  addOptions(form);
  runForm(form, "generate", async () => optionsOf(form));
}
