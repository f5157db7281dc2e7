"""The `visionstudio` command: make images and save them as they arrive, follow and list jobs.

Saved paths go to stdout, one per line, for scripts (or one JSON document with `--json`);
progress and the summary go to stderr: a live line per image on a terminal, plain lines when
piped (see cli_display).
"""

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable

import grpc
from visionstudio.client import DEFAULT_TARGET, AsyncImageClient, describe_error
from visionstudio.client import cli_batch as batch
from visionstudio.client import cli_jobs as jobs
from visionstudio.client.cli_batch_output import BatchOutcome
from visionstudio.client.cli_display import open_display
from visionstudio.client.cli_images import add_image_commands
from visionstudio.client.cli_output import JobOutcome, save_events
from visionstudio.client.cli_retry import retrying
from visionstudio.image.v1 import image_service_pb2 as pb

_ImageCall = Callable[[AsyncImageClient, argparse.Namespace], AsyncIterator[pb.ImageEvent]]


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns 0 on success, 1 when the call fails (or an item of a batch does),
    2 without an API key, 130 on Ctrl-C. Malformed arguments (and batch files) exit through
    argparse (SystemExit with status 2), as usual.
    """
    args = _parser().parse_args(argv)
    if args.command == "health":
        serving = asyncio.run(jobs.check_health(args.target, args.timeout))
        print("SERVING" if serving else "NOT_SERVING")
        return 0 if serving else 1
    api_key = args.api_key or os.environ.get("VISIONSTUDIO_API_KEY")
    if not api_key:
        print("error: no API key: pass --api-key or set VISIONSTUDIO_API_KEY", file=sys.stderr)
        return 2
    outcome, batch_outcome = JobOutcome(), BatchOutcome()
    try:
        if hasattr(args, "out_dir"):
            args.out_dir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_run(args, api_key, outcome, batch_outcome))
    except grpc.RpcError as err:
        print(f"error: {describe_error(err)}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.command in batch.COMMANDS:
            batch.interrupted(args, batch_outcome)
        else:
            _interrupted(args, outcome)
        return 130


def _interrupted(args: argparse.Namespace, outcome: JobOutcome) -> None:
    key = getattr(args, "idempotency_key", None)
    if not outcome.job_id:
        print("interrupted before the server accepted the job", file=sys.stderr)
    else:
        print(
            f"interrupted; job {outcome.job_id} may still be running on the server.\n"
            f"  watch it and save its images: visionstudio watch {outcome.job_id}\n"
            f"  see its status:               visionstudio job {outcome.job_id}\n"
            f"  stop it:                      visionstudio cancel {outcome.job_id}",
            file=sys.stderr,
        )
    if key:
        print(f"  repeat the call without paying twice: --idempotency-key {key}", file=sys.stderr)


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
    add_image_commands(commands)
    jobs.add_job_commands(commands)
    batch.add_batch_commands(commands)
    return parser


async def _run(
    args: argparse.Namespace, api_key: str, outcome: JobOutcome, batch_outcome: BatchOutcome
) -> int:
    async with AsyncImageClient(args.target, api_key, timeout=args.timeout) as client:
        if args.command in batch.COMMANDS:
            return await batch.run_batch_command(client, args, batch_outcome)
        if args.command == "watch":
            await _save(client.watch(args.job_id, include_data=True), args, outcome, 1)
        elif args.command in ("job", "cancel"):
            lookup = client.get_job if args.command == "job" else client.cancel
            job = await lookup(args.job_id)
            print(jobs.as_json(job) if args.json else jobs.job_text(job))
        elif args.command == "jobs":
            await _list(client, args)
        elif args.command == "usage":
            usage = await client.usage(start_time=args.since, end_time=args.until)
            print(jobs.as_json(usage) if args.json else jobs.usage_text(usage))
        else:
            await _make_images(client, args, outcome)
    return 0


async def _list(client: AsyncImageClient, args: argparse.Namespace) -> None:
    page = await client.list_jobs(
        status=args.status,
        created_after=args.since,
        created_before=args.until,
        page_size=args.page_size,
        page_token=args.page_token,
    )
    print(jobs.as_json(page) if args.json else jobs.jobs_text(page))
    if page.next_page_token and not args.json:
        print(f"more: --page-token {page.next_page_token}", file=sys.stderr)


async def _make_images(
    client: AsyncImageClient, args: argparse.Namespace, outcome: JobOutcome
) -> None:
    args.idempotency_key = args.idempotency_key or uuid.uuid4().hex
    call: _ImageCall = args.call
    # A repeat replays the images saved already; save_events keeps each once.
    await retrying(lambda: _save(call(client, args), args, outcome, args.number_of_images))


async def _save(
    events: AsyncIterator[pb.ImageEvent],
    args: argparse.Namespace,
    outcome: JobOutcome,
    expected: int,
) -> None:
    with open_display(expected) as display:
        await save_events(events, args.out_dir, display, outcome, as_json=args.json)
    if args.json:
        print(outcome.as_json())


if __name__ == "__main__":
    sys.exit(main())
