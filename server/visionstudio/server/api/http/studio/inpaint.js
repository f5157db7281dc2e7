// The inpaint page: an uploaded image, then a painted mask or a border to grow.
import { drawGrown } from "./border.js";
import { addOptions, base64Of, optionsOf, runForm } from "./forms.js";
import { MaskPainter } from "./mask.js";

const $ = (id) => document.getElementById(id);

export function setUp() {
  const form = $("inpaint-form");
  addOptions(form);
  const painter = new MaskPainter({
    image: $("i-image"), mask: $("i-mask"), cursor: $("i-cursor"), brush: $("i-brush"),
    tool: () => form.elements.tool.value,
  });
  let bitmap = null;
  const mode = () => form.elements.mode.value;

  const showBorder = () => {
    $("i-border-out").value = $("i-border").value;
    if (!bitmap) return;
    const grown = drawGrown($("i-grown"), bitmap, $("i-border").value / 100);
    $("i-grown-size").textContent =
      `${bitmap.width}×${bitmap.height} grows to about ${grown.width}×${grown.height} px.`;
  };
  const showMode = () => {
    form.querySelector(".mask-tools").hidden = mode() !== "mask";
    form.querySelector(".border-tools").hidden = mode() !== "border";
    showBorder();
  };

  $("i-file").addEventListener("change", async () => {
    const file = $("i-file").files[0];
    bitmap = file ? await createImageBitmap(file) : null;
    if (bitmap) painter.load(bitmap);
    showBorder();
  });
  $("i-brush").addEventListener("input", () => ($("i-brush-out").value = $("i-brush").value));
  $("i-border").addEventListener("input", showBorder);
  $("i-clear").addEventListener("click", () => painter.clear());
  for (const radio of form.elements.mode) radio.addEventListener("change", showMode);

  runForm(form, "inpaint", async () => {
    const file = $("i-file").files[0];
    if (!file) throw new Error("Choose the image to inpaint.");
    const body = { ...optionsOf(form), image_file: await base64Of(file) };
    if (mode() === "border") {
      return { ...body, inpaint_border_only: true, border_percentage: $("i-border").value / 100 };
    }
    if (painter.isEmpty()) throw new Error("Paint the area to repaint on the image first.");
    return { ...body, mask_file: await base64Of(await painter.toPng()) };
  });
}
