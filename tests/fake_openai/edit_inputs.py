"""The files of an edit (images, mask, markup), checked as strictly as the real API does."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from tests.fake_openai.bodies import MAX_IMAGE_BYTES, MAX_MASK_BYTES, Upload
from tests.fake_openai.errors import bad, one_of
from tests.fake_openai.job import Job

_IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp")
_MAX_IMAGES = 16


def decode_edit_inputs(
    job: Job, uploads: dict[str, list[Upload]]
) -> tuple[Image.Image, Image.Image | None]:
    """Validate every uploaded file; return the first image (oriented) and the mask."""
    images = uploads.get("image", []) + uploads.get("image[]", [])
    if not images:
        raise bad("Missing required parameter: 'image'.", "image", "missing_required_parameter")
    if len(images) > _MAX_IMAGES:
        raise bad(f"Too many images: {len(images)}; at most {_MAX_IMAGES} are allowed.", "image")
    decoded = [
        _open_upload(up, _IMAGE_MIMES, MAX_IMAGE_BYTES, "invalid_image_file") for up in images
    ]
    first = ImageOps.exif_transpose(decoded[0])
    masks, markups = uploads.get("mask", []), uploads.get("markup", [])
    if len(masks) > 1 or len(markups) > 1:
        raise bad("Only one mask and one markup image are allowed.", "mask" if masks else "markup")
    if markups and masks:
        raise bad("'markup' cannot be combined with 'mask'.", "markup")
    if markups and not job.model.startswith("gpt-image-2.5-"):
        raise bad(f"'markup' is not supported for {job.model}.", "markup")
    checked = [_open_overlay(up, "invalid_mask", first.size) for up in masks]
    for up in markups:
        _open_overlay(up, "invalid_image_file", first.size)
    job.input_images = len(images)
    return first, (checked[0] if checked else None)


def _open_overlay(up: Upload, code: str, size: tuple[int, int]) -> Image.Image:
    """A mask or markup: a PNG with alpha, exactly the size of the first image."""
    img = _open_upload(up, ("image/png",), MAX_MASK_BYTES, code)
    if not _has_alpha(img):
        msg = f"Invalid {up.name}: it must be a PNG with an alpha channel (mode is {img.mode})."
        raise bad(msg, up.name, code)
    if img.size != size:
        msg = f"Invalid {up.name}: its size {img.width}x{img.height} must match the image's "
        raise bad(f"{msg}size {size[0]}x{size[1]}.", up.name, code)
    return img


def _open_upload(up: Upload, mimes: tuple[str, ...], limit: int, code: str) -> Image.Image:
    """Check an uploaded image like the real API: declared MIME type, byte size, real content."""
    param = up.name.removesuffix("[]")
    mime = up.content_type.split(";", 1)[0].strip().lower()
    if mime not in mimes:
        supported = one_of(mimes)
        msg = f"Invalid file '{param}': unsupported mimetype ('{mime}'). Supported: {supported}."
        raise bad(msg, param, code)
    if up.size >= limit:
        msg = f"Invalid file '{param}': {up.size} bytes; it must be under {limit // 2**20} MB."
        raise bad(msg, param, code)
    formats = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
    try:
        img = Image.open(io.BytesIO(up.data))
        img.load()
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise bad(f"Invalid file '{param}': the image could not be decoded.", param, code) from exc
    if img.format not in {formats[m] for m in mimes}:
        msg = f"Invalid file '{param}': content is {img.format}, expected {one_of(mimes)}."
        raise bad(msg, param, code)
    return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
