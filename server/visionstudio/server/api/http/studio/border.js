// The live preview of a border-only inpaint: the grown canvas, the image in its middle.

const PREVIEW_WIDTH = 480;

/** Pixels added on each side, as the service computes them (a fraction of each dimension). */
export function grownSize(width, height, fraction) {
  const dx = Math.round(width * fraction);
  const dy = Math.round(height * fraction);
  return { width: width + 2 * dx, height: height + 2 * dy, dx, dy };
}

export function drawGrown(canvas, bitmap, fraction) {
  const grown = grownSize(bitmap.width, bitmap.height, fraction);
  const s = Math.min(1, PREVIEW_WIDTH / grown.width);
  canvas.width = Math.round(grown.width * s);
  canvas.height = Math.round(grown.height * s);
  const ctx = canvas.getContext("2d");
  // Hatching marks the new border, the part the model will paint.
  ctx.fillStyle = "#f4f4f6";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#c3c3cc";
  ctx.lineWidth = 2;
  for (let x = -canvas.height; x < canvas.width; x += 12) {
    ctx.beginPath();
    ctx.moveTo(x, canvas.height);
    ctx.lineTo(x + canvas.height, 0);
    ctx.stroke();
  }
  ctx.drawImage(bitmap, grown.dx * s, grown.dy * s, bitmap.width * s, bitmap.height * s);
  return grown;
}
