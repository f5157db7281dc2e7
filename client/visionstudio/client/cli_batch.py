"""The batch commands of the CLI: `batch` (run a JSON Lines file as one batch, or `--watch` one),
`batches`, `batch-status` and `cancel-batch`, named after `job`, `jobs` and `cancel`."""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

from visionstudio.client.async_client import AsyncImageClient
from visionstudio.client.cli_batch_display import (
    batch_status_name,
    open_batch_display,
    status_name,
)
from visionstudio.client.cli_batch_file import BatchFileError, read_batch_file
from visionstudio.client.cli_batch_output import BatchOutcome, save_batch_events
from visionstudio.client.cli_jobs import Commands, as_json
from visionstudio.client.cli_retry import retrying
from visionstudio.image.v1 import image_service_pb2 as pb

COMMANDS = ("batch", "batches", "batch-status", "cancel-batch")


def add_batch_commands(commands: Commands) -> None:
    batch = commands.add_parser(
        "batch", help="run a JSON Lines file of requests as one batch, saving images as they come"
    )
    source = batch.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "items",
        nargs="?",
        type=_items,
        metavar="FILE.jsonl",
        help="one request per line: a generate-image, edit-image or inpaint body plus item_id",
    )
    source.add_argument(
        "--watch", metavar="BATCH_ID", help="re-attach to a batch; images already saved are kept"
    )
    batch.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="run the same file again as a new batch with a new key (default: derived from the "
        "items, so running the file again re-attaches to its batch)",
    )
    batch.add_argument(
        "-o",
        "--output-dir",
        dest="out_dir",
        type=Path,
        default=Path("."),
        help="images go to OUT/ITEM_ID/INDEX.EXT (default: .)",
    )
    batch.add_argument("--json", action="store_true", help="print one JSON object per event")

    listing = commands.add_parser("batches", help="list your batches, newest first")
    listing.add_argument("--page-size", type=int, default=0, metavar="N", help="1-100 (default 50)")
    listing.add_argument("--page-token", default="", metavar="TOKEN", help="from the previous page")
    listing.add_argument("--json", action="store_true", help="print the page as JSON")

    for name, what in (("batch-status", "show one batch and its items"), ("cancel-batch", "")):
        command = commands.add_parser(name, help=what or "stop every unfinished item of a batch")
        command.add_argument("batch_id", metavar="BATCH_ID")
        command.add_argument("--json", action="store_true", help="print the batch as JSON")


def _items(path: str) -> list[pb.BatchRequestItem]:
    try:
        return read_batch_file(Path(path))
    except BatchFileError as err:
        raise argparse.ArgumentTypeError(f"{path}: {err}") from None


async def run_batch_command(
    client: AsyncImageClient, args: argparse.Namespace, outcome: BatchOutcome
) -> int:
    """Runs one of COMMANDS; 1 when a batch ended with an item that did not succeed."""
    if args.command == "batch":
        return await _batch(client, args, outcome)
    if args.command == "batches":
        page = await client.list_batches(page_size=args.page_size, page_token=args.page_token)
        print(as_json(page) if args.json else batches_text(page))
        if page.next_page_token and not args.json:
            print(f"more: --page-token {page.next_page_token}", file=sys.stderr)
        return 0
    lookup = client.get_batch if args.command == "batch-status" else client.cancel_batch
    batch = await lookup(args.batch_id)
    print(as_json(batch) if args.json else batch_text(batch))
    return 0


async def _batch(client: AsyncImageClient, args: argparse.Namespace, outcome: BatchOutcome) -> int:
    if args.watch:
        outcome.batch_id = args.watch
        await _save(client.watch_batch(args.watch), args, outcome, 0)
    else:
        items: list[pb.BatchRequestItem] = args.items
        args.idempotency_key = args.idempotency_key or derived_key(items)
        expected = sum(_request(item).number_of_images or 1 for item in items)
        # Only a call that never reached the server is repeated: a repeat replays the batch,
        # which the display would count twice.
        await retrying(
            lambda: _save(
                client.run_batch(items, idempotency_key=args.idempotency_key),
                args,
                outcome,
                expected,
            ),
            worth_it=lambda: not outcome.batch_id,
        )
    if outcome.summary is None:
        print(
            "the stream ended before the batch did; save the rest of its images with: "
            + _watch(outcome.batch_id, args.out_dir),
            file=sys.stderr,
        )
    return 0 if outcome.succeeded else 1


async def _save(
    events: AsyncIterator[pb.BatchEvent],
    args: argparse.Namespace,
    outcome: BatchOutcome,
    images_expected: int,
) -> None:
    with open_batch_display(images_expected) as display:
        await save_batch_events(events, args.out_dir, display, outcome, as_json=args.json)


def derived_key(items: list[pb.BatchRequestItem]) -> str:
    """The same items (with the same image bytes) give the same key: running a file again
    re-attaches to its batch instead of paying twice."""
    request = pb.RunBatchRequest(items=items)
    return "batch-" + hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


def _request(
    item: pb.BatchRequestItem,
) -> pb.GenerateImageRequest | pb.EditImageRequest | pb.InpaintRequest:
    kind = item.WhichOneof("request")
    return item.inpaint if kind == "inpaint" else item.edit if kind == "edit" else item.generate


def interrupted(args: argparse.Namespace, outcome: BatchOutcome) -> None:
    if args.command != "batch":
        return
    if not outcome.batch_id:
        print("interrupted before the server accepted the batch", file=sys.stderr)
    else:
        print(f"interrupted; batch {outcome.batch_id} goes on on the server.", file=sys.stderr)
        print(
            f"  save the rest of its images:    {_watch(outcome.batch_id, args.out_dir)}\n"
            f"  see its items:                  visionstudio batch-status {outcome.batch_id}\n"
            f"  stop it:                        visionstudio cancel-batch {outcome.batch_id}",
            file=sys.stderr,
        )
    key = getattr(args, "idempotency_key", None)
    if key:
        print(f"  run it again without paying twice: --idempotency-key {key}", file=sys.stderr)


def _watch(batch_id: str, out_dir: Path) -> str:
    return f"visionstudio batch --watch {batch_id} -o {out_dir}"


def batch_text(batch: pb.Batch) -> str:
    status = batch_status_name(batch.status)
    lines = [
        f"batch {batch.batch_id}: {status}, {batch.item_count} item(s), "
        f"created {batch.create_time.ToDatetime(UTC):%Y-%m-%d %H:%M:%S}Z, "
        f"updated {batch.update_time.ToDatetime(UTC):%Y-%m-%d %H:%M:%S}Z"
    ]
    for item in batch.items:
        job = f" job {item.job_id}" if item.job_id else ""
        error = f": {item.error}" if item.error else ""
        lines.append(f"  item {item.item_id}: {status_name(item.status)}{job}{error}")
    return "\n".join(lines)


def batches_text(page: pb.ListBatchesResponse) -> str:
    rows = []
    for batch in page.batches:
        status = batch_status_name(batch.status)
        created = batch.create_time.ToDatetime(UTC)
        rows.append(
            f"{batch.batch_id}  {created:%Y-%m-%d %H:%M:%S}Z  {status:<9}  "
            f"{batch.item_count} item(s)"
        )
    return "\n".join(rows)
