"""Request messages built from the keyword arguments of the client's image calls."""

from typing import Unpack

from visionstudio.client.options import (
    ASPECT_RATIOS,
    BACKGROUNDS,
    OUTPUT_FORMATS,
    QUALITIES,
    ImageOptions,
    SceneOptions,
    enum_value,
)
from visionstudio.image.v1 import image_service_pb2 as pb

_ImageRequest = pb.GenerateImageRequest | pb.EditImageRequest | pb.InpaintRequest


def generate_request(prompt: str, **options: Unpack[SceneOptions]) -> pb.GenerateImageRequest:
    request = pb.GenerateImageRequest(prompt=prompt)
    _set_scene(request, options)
    return request


def edit_request(
    prompt: str, image: bytes | str, **options: Unpack[SceneOptions]
) -> pb.EditImageRequest:
    """A str `image` is a URL, bytes are the file."""
    request = pb.EditImageRequest(prompt=prompt)
    _set_scene(request, options)
    if isinstance(image, str):
        request.image_url = image
    else:
        request.image_file = image
    return request


def inpaint_request(
    prompt: str,
    image: bytes | str,
    *,
    mask: bytes | str | None,
    inpaint_border_only: bool,
    border_percentage: float,
    **options: Unpack[ImageOptions],
) -> pb.InpaintRequest:
    """Str `image`/`mask` are URLs, bytes the files."""
    request = pb.InpaintRequest(
        prompt=prompt,
        inpaint_border_only=inpaint_border_only,
        border_percentage=border_percentage,
    )
    _set_common(request, options)
    if isinstance(image, str):
        request.image_url = image
    else:
        request.image_file = image
    if isinstance(mask, str):
        request.mask_url = mask
    elif mask is not None:
        request.mask_file = mask
    return request


def _set_scene(
    request: pb.GenerateImageRequest | pb.EditImageRequest, options: SceneOptions
) -> None:
    request.aspect_ratio = enum_value(
        "aspect_ratio", options.get("aspect_ratio"), pb.AspectRatio, ASPECT_RATIOS
    )
    _set_common(request, options)
    request.background = enum_value(
        "background", options.get("background"), pb.Background, BACKGROUNDS
    )
    request.partial_images = options.get("partial_images", 0)


def _set_common(request: _ImageRequest, options: ImageOptions) -> None:
    request.number_of_images = options.get("number_of_images", 0)
    request.quality = enum_value("quality", options.get("quality"), pb.Quality, QUALITIES)
    request.output_format = enum_value(
        "output_format", options.get("output_format"), pb.OutputFormat, OUTPUT_FORMATS
    )
    request.include_data = options.get("include_data", False)
    request.idempotency_key = options.get("idempotency_key", "")


def generate_item(
    item_id: str, prompt: str, **options: Unpack[SceneOptions]
) -> pb.BatchRequestItem:
    """A batch item of a GenerateImage request, from the keyword arguments `generate` takes."""
    return pb.BatchRequestItem(item_id=item_id, generate=generate_request(prompt, **options))


def edit_item(
    item_id: str, prompt: str, image: bytes | str, **options: Unpack[SceneOptions]
) -> pb.BatchRequestItem:
    """A batch item of an EditImage request; a str `image` is a URL, bytes are the file."""
    return pb.BatchRequestItem(item_id=item_id, edit=edit_request(prompt, image, **options))


def inpaint_item(
    item_id: str,
    prompt: str,
    image: bytes | str,
    *,
    mask: bytes | str | None = None,
    inpaint_border_only: bool = False,
    border_percentage: float = 0.0,
    **options: Unpack[ImageOptions],
) -> pb.BatchRequestItem:
    """A batch item of an Inpaint request; str `image`/`mask` are URLs, bytes the files."""
    request = inpaint_request(
        prompt,
        image,
        mask=mask,
        inpaint_border_only=inpaint_border_only,
        border_percentage=border_percentage,
        **options,
    )
    return pb.BatchRequestItem(item_id=item_id, inpaint=request)
