// The edit page: an image (uploaded or by URL) changed by a prompt.
import { addOptions, base64Of, optionsOf, runForm } from "./forms.js";

export function setUp() {
  const form = document.getElementById("edit-form");
  addOptions(form);
  runForm(form, "edit", async () => {
    const body = optionsOf(form);
    const file = form.elements.image_file.files[0];
    const url = form.elements.image_url.value.trim();
    if (file && url) throw new Error("Choose a file or give a URL, not both.");
    if (!file && !url) throw new Error("Choose an image file or give its URL.");
    if (file) body.image_file = await base64Of(file);
    else body.image_url = url;
    return body;
  });
}
