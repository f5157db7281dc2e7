"""The image commands of the CLI: generate, edit and inpaint, their arguments and their calls."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from visionstudio.client import ASPECT_RATIOS, BACKGROUNDS, OUTPUT_FORMATS, QUALITIES
from visionstudio.client.async_client import AsyncImageClient
from visionstudio.client.options import ImageOptions, SceneOptions
from visionstudio.image.v1 import image_service_pb2 as pb

Commands = Any  # argparse's private _SubParsersAction


def add_image_commands(commands: Commands) -> None:
    generate = commands.add_parser("generate", help="create images from a prompt")
    generate.add_argument("prompt", help="what to draw")
    _add_common(generate, scene=True)
    generate.set_defaults(call=_generate)

    edit = commands.add_parser("edit", help="transform an image by a prompt")
    edit.add_argument("prompt", help="how to transform the image")
    _add_image(edit)
    _add_common(edit, scene=True)
    edit.set_defaults(call=_edit)

    inpaint = commands.add_parser("inpaint", help="repaint a masked area, or a new border")
    inpaint.add_argument("prompt", help="what to paint in the masked area or border")
    _add_image(inpaint)
    mask = inpaint.add_mutually_exclusive_group(required=True)
    mask.add_argument("--mask", type=read_file, metavar="PATH", help="mask file")
    mask.add_argument("--mask-url", metavar="URL", help="mask URL the server fetches")
    mask.add_argument(
        "--border",
        type=float,
        metavar="F",
        help="no mask: grow the canvas by this fraction (0.01-0.5) on every side",
    )
    _add_common(inpaint, scene=False)
    inpaint.set_defaults(call=_inpaint)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Where and how a command that receives images reports them."""
    parser.add_argument(
        "-o",
        "--output-dir",
        dest="out_dir",
        type=Path,
        default=Path("."),
        help="directory the images are written to (default: .)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout at the end"
    )


def _add_image(parser: argparse.ArgumentParser) -> None:
    image = parser.add_mutually_exclusive_group(required=True)
    image.add_argument("--image", type=read_file, metavar="PATH", help="image file")
    image.add_argument("--image-url", metavar="URL", help="image URL the server fetches")


def _add_common(parser: argparse.ArgumentParser, *, scene: bool) -> None:
    parser.add_argument(
        "-n",
        "--number-of-images",
        dest="number_of_images",
        type=int,
        metavar="N",
        default=1,
        help="how many images, 1-10 (default: 1)",
    )
    if scene:
        parser.add_argument("--aspect-ratio", choices=list(ASPECT_RATIOS))
    parser.add_argument("--quality", choices=list(QUALITIES))
    if scene:
        parser.add_argument("--background", choices=list(BACKGROUNDS))
        parser.add_argument(
            "--partial-images",
            type=int,
            metavar="N",
            default=0,
            help="save N (1-3) previews of each image while it renders (default: 0)",
        )
    parser.add_argument("--format", dest="output_format", choices=list(OUTPUT_FORMATS))
    parser.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="repeat a call without paying twice (default: a fresh key, printed on Ctrl-C)",
    )
    add_output_options(parser)


def read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {err.strerror}") from err


def _generate(client: AsyncImageClient, args: argparse.Namespace) -> AsyncIterator[pb.ImageEvent]:
    return client.generate(args.prompt, **_scene_options(args))


def _edit(client: AsyncImageClient, args: argparse.Namespace) -> AsyncIterator[pb.ImageEvent]:
    image = args.image if args.image is not None else args.image_url
    return client.edit(args.prompt, image, **_scene_options(args))


def _inpaint(client: AsyncImageClient, args: argparse.Namespace) -> AsyncIterator[pb.ImageEvent]:
    border = args.border is not None
    return client.inpaint(
        args.prompt,
        args.image if args.image is not None else args.image_url,
        mask=args.mask if args.mask is not None else args.mask_url,
        inpaint_border_only=border,
        border_percentage=args.border if border else 0.0,
        **_image_options(args),
    )


def _image_options(args: argparse.Namespace) -> ImageOptions:
    # The CLI always saves the images, so it asks for their bytes.
    return {
        "number_of_images": args.number_of_images,
        "quality": args.quality,
        "output_format": args.output_format,
        "include_data": True,
        "idempotency_key": args.idempotency_key,
    }


def _scene_options(args: argparse.Namespace) -> SceneOptions:
    return {
        **_image_options(args),
        "aspect_ratio": args.aspect_ratio,
        "background": args.background,
        "partial_images": args.partial_images,
    }
