// The mask editor: paint or erase the area to repaint over the image, with a pointer or the
// keyboard. The mask canvas has the image's own size; it is shown scaled over the image.

export class MaskPainter {
  constructor({ image, mask, cursor, brush, tool }) {
    this.image = image;
    this.mask = mask;
    this.cursor = cursor;
    this.brush = brush;
    this.tool = tool; // () => "paint" | "erase"
    this.last = null;
    this.penDown = false;
    this.at = { x: 0, y: 0 };
    mask.addEventListener("pointerdown", (e) => this.pointerDown(e));
    mask.addEventListener("pointermove", (e) => this.pointerMove(e));
    mask.addEventListener("pointerup", () => (this.last = null));
    mask.addEventListener("pointercancel", () => (this.last = null));
    mask.addEventListener("keydown", (e) => this.key(e));
    mask.addEventListener("blur", () => (this.cursor.hidden = true));
  }

  load(bitmap) {
    for (const canvas of [this.image, this.mask]) {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
    }
    this.image.getContext("2d").drawImage(bitmap, 0, 0);
    this.at = { x: bitmap.width / 2, y: bitmap.height / 2 };
    this.clear();
  }

  clear() {
    this.mask.getContext("2d").clearRect(0, 0, this.mask.width, this.mask.height);
  }

  /** Image pixels per screen pixel: the brush keeps its on-screen size on any image. */
  scale() {
    return this.mask.width / this.mask.getBoundingClientRect().width;
  }

  point(event) {
    const rect = this.mask.getBoundingClientRect();
    const s = this.scale();
    return { x: (event.clientX - rect.left) * s, y: (event.clientY - rect.top) * s };
  }

  stroke(from, to) {
    const ctx = this.mask.getContext("2d");
    ctx.globalCompositeOperation = this.tool() === "erase" ? "destination-out" : "source-over";
    ctx.strokeStyle = "#e0115f";
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.lineWidth = Number(this.brush.value) * this.scale();
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  }

  pointerDown(event) {
    this.mask.setPointerCapture(event.pointerId);
    this.last = this.point(event);
    this.stroke(this.last, this.last);
  }

  pointerMove(event) {
    if (!this.last) return;
    const next = this.point(event);
    this.stroke(this.last, next);
    this.last = next;
  }

  key(event) {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (event.key === " ") {
      this.penDown = !this.penDown;
      if (this.penDown) this.stroke(this.at, this.at);
    } else if (moves[event.key]) {
      const step = Math.max(4, Number(this.brush.value) / 2) * this.scale();
      const [dx, dy] = moves[event.key];
      const next = {
        x: Math.min(this.mask.width, Math.max(0, this.at.x + dx * step)),
        y: Math.min(this.mask.height, Math.max(0, this.at.y + dy * step)),
      };
      if (this.penDown) this.stroke(this.at, next);
      this.at = next;
    } else {
      return;
    }
    event.preventDefault();
    this.showCursor();
  }

  showCursor() {
    const s = this.scale();
    const size = Number(this.brush.value);
    Object.assign(this.cursor.style, {
      left: `${this.at.x / s - size / 2}px`, top: `${this.at.y / s - size / 2}px`,
      width: `${size}px`, height: `${size}px`,
    });
    this.cursor.classList.toggle("down", this.penDown);
    this.cursor.hidden = false;
  }

  isEmpty() {
    const { data } = this.mask.getContext("2d").getImageData(0, 0, this.mask.width, this.mask.height);
    for (let i = 3; i < data.length; i += 4) if (data[i]) return false;
    return true;
  }

  /** The mask in OpenAI's convention, at the image's size: transparent where painted. */
  toPng() {
    const out = document.createElement("canvas");
    out.width = this.mask.width;
    out.height = this.mask.height;
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.globalCompositeOperation = "destination-out";
    ctx.drawImage(this.mask, 0, 0);
    return new Promise((resolve) => out.toBlob(resolve, "image/png"));
  }
}
