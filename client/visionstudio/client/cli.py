"""The `visionstudio` command: generate, edit and inpaint images and save them as they arrive.

Saved paths go to stdout, one per line, for scripts; progress and the summary go to stderr
(see cli_output).
"""

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
from visionstudio.client import (
    ASPECT_RATIOS,
    BACKGROUNDS,
    DEFAULT_TARGET,
    OUTPUT_FORMATS,
    QUALITIES,
    AsyncImageClient,
    describe_error,
)
from visionstudio.client.cli_output import save_events
from visionstudio.client.options import ImageOptions, SceneOptions
from visionstudio.image.v1 import image_service_pb2 as pb

_Command = Callable[[AsyncImageClient, argparse.Namespace], AsyncIterator[pb.ImageEvent]]


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns 0 on success, 1 when the call fails, 2 without an API key.

    Malformed arguments exit through argparse (SystemExit with status 2), as usual.
    """
    args = _parser().parse_args(argv)
    api_key = args.api_key or os.environ.get("VISIONSTUDIO_API_KEY")
    if not api_key:
        print(
            "error: no API key: pass --api-key or set VISIONSTUDIO_API_KEY",
            file=sys.stderr,
        )
        return 2
    try:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(_run(args, api_key))
    except grpc.RpcError as err:
        print(f"error: {describe_error(err)}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionstudio", description="Generate, edit and inpaint images with visionstudio."
    )
    parser.add_argument(
        "--target",
        default=os.environ.get("VISIONSTUDIO_TARGET", DEFAULT_TARGET),
        metavar="HOST:PORT",
        help=f"server address (default: $VISIONSTUDIO_TARGET or {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--api-key", metavar="KEY", help="client API key (default: $VISIONSTUDIO_API_KEY)"
    )
    parser.add_argument("--timeout", type=float, metavar="S", help="deadline of the call, seconds")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser("generate", help="create images from a prompt")
    generate.add_argument("prompt", help="what to draw")
    _add_common(generate, aspect_ratio=True, background=True)
    generate.set_defaults(call=_generate)

    edit = commands.add_parser("edit", help="transform an image by a prompt")
    edit.add_argument("prompt", help="how to transform the image")
    _add_image(edit)
    _add_common(edit, aspect_ratio=True, background=True)
    edit.set_defaults(call=_edit)

    inpaint = commands.add_parser("inpaint", help="repaint a masked area, or a new border")
    inpaint.add_argument("prompt", help="what to paint in the masked area or border")
    _add_image(inpaint)
    mask = inpaint.add_mutually_exclusive_group(required=True)
    mask.add_argument("--mask", type=_read_file, metavar="PATH", help="mask file")
    mask.add_argument("--mask-url", metavar="URL", help="mask URL the server fetches")
    mask.add_argument(
        "--border",
        type=float,
        metavar="F",
        help="no mask: grow the canvas by this fraction (0.01-0.5) on every side",
    )
    _add_common(inpaint, aspect_ratio=False, background=False)
    inpaint.set_defaults(call=_inpaint)
    return parser


def _add_image(parser: argparse.ArgumentParser) -> None:
    image = parser.add_mutually_exclusive_group(required=True)
    image.add_argument("--image", type=_read_file, metavar="PATH", help="image file")
    image.add_argument("--image-url", metavar="URL", help="image URL the server fetches")


def _add_common(parser: argparse.ArgumentParser, *, aspect_ratio: bool, background: bool) -> None:
    parser.add_argument(
        "-n",
        "--number-of-images",
        dest="number_of_images",
        type=int,
        metavar="N",
        default=1,
        help="how many images, 1-10 (default: 1)",
    )
    if aspect_ratio:
        parser.add_argument("--aspect-ratio", choices=list(ASPECT_RATIOS))
    parser.add_argument("--quality", choices=list(QUALITIES))
    if background:
        parser.add_argument("--background", choices=list(BACKGROUNDS))
    parser.add_argument("--format", dest="output_format", choices=list(OUTPUT_FORMATS))
    parser.add_argument(
        "-o",
        "--output-dir",
        dest="out_dir",
        type=Path,
        default=Path("."),
        help="directory the images are written to (default: .)",
    )


def _read_file(path: str) -> bytes:
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
    }


def _scene_options(args: argparse.Namespace) -> SceneOptions:
    return {
        **_image_options(args),
        "aspect_ratio": args.aspect_ratio,
        "background": args.background,
    }


async def _run(args: argparse.Namespace, api_key: str) -> None:
    call: _Command = args.call
    async with AsyncImageClient(args.target, api_key, timeout=args.timeout) as client:
        await save_events(call(client, args), args.out_dir, args.number_of_images)


if __name__ == "__main__":
    sys.exit(main())
