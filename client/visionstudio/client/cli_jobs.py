"""The job commands of the CLI: watch, job, jobs, usage and cancel, and the health probe."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.json_format import MessageToJson
from grpc_health.v1 import health_pb2, health_pb2_grpc
from visionstudio.client.channel import open_aio_channel
from visionstudio.client.cli_images import add_output_options
from visionstudio.client.options import JOB_STATUSES
from visionstudio.image.v1 import image_service_pb2 as pb

Commands = Any  # argparse's private _SubParsersAction

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_TIME_HELP = "ISO 8601 time (2026-05-01T12:00) or an age such as 30m, 2h, 7d"


def add_job_commands(commands: Commands) -> None:
    watch = commands.add_parser("watch", help="re-attach to a job and save its images")
    watch.add_argument("job_id", metavar="JOB_ID")
    add_output_options(watch)

    job = commands.add_parser("job", help="show one job: status, images, usage, error")
    job.add_argument("job_id", metavar="JOB_ID")
    job.add_argument("--json", action="store_true", help="print the job as JSON")

    jobs = commands.add_parser("jobs", help="list your jobs, newest first")
    jobs.add_argument("--status", choices=list(JOB_STATUSES))
    _add_range(jobs)
    jobs.add_argument("--page-size", type=int, default=0, metavar="N", help="1-100 (default 50)")
    jobs.add_argument("--page-token", default="", metavar="TOKEN", help="from the previous page")
    jobs.add_argument("--json", action="store_true", help="print the page as JSON")

    cancel = commands.add_parser("cancel", help="stop a job; the images it stored are kept")
    cancel.add_argument("job_id", metavar="JOB_ID")
    cancel.add_argument("--json", action="store_true", help="print the job as JSON")

    usage = commands.add_parser("usage", help="your jobs, images and tokens over a time range")
    _add_range(usage)
    usage.add_argument("--json", action="store_true", help="print the usage as JSON")

    health = commands.add_parser(
        "health", help="exit 0 when the server reports SERVING (no key needed)"
    )
    # Also after the command (`visionstudio health --target host:port`), as container probes
    # write it; SUPPRESS keeps the global --target when this one is not given.
    health.add_argument(
        "--target", default=argparse.SUPPRESS, metavar="HOST:PORT", help="server address"
    )


def _add_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=moment, metavar="TIME", help=f"from: {_TIME_HELP}")
    parser.add_argument("--until", type=moment, metavar="TIME", help=f"before: {_TIME_HELP}")


def moment(text: str) -> datetime:
    """An ISO 8601 time (naive means local) or an age before now such as `2h`."""
    age = _DURATION.match(text)
    if age:
        return datetime.now(UTC) - timedelta(**{_UNITS[age[2]]: float(age[1])})
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}; expected {_TIME_HELP}") from None


def _status_name(status: pb.JobStatus.ValueType) -> str:
    """JOB_STATUS_SUCCEEDED as `succeeded`."""
    return pb.JobStatus.Name(status).removeprefix("JOB_STATUS_").lower()


def job_text(job: pb.Job) -> str:
    status = _status_name(job.status)
    lines = [
        f"job {job.job_id}: {job.operation}, {status}, {len(job.images)}/{job.number_of_images} "
        f"image(s), model {job.model}",
        f"created {job.create_time.ToDatetime(UTC):%Y-%m-%d %H:%M:%S}Z, "
        f"updated {job.update_time.ToDatetime(UTC):%Y-%m-%d %H:%M:%S}Z, "
        f"{job.usage.total_tokens} tokens",
    ]
    lines += [f"  image {i.index}: {i.width}x{i.height} {i.mime_type} {i.url}" for i in job.images]
    if job.error:
        lines.append(f"error: {job.error}")
    return "\n".join(lines)


def jobs_text(page: pb.ListJobsResponse) -> str:
    rows = []
    for job in page.jobs:
        status = _status_name(job.status)
        created = job.create_time.ToDatetime(UTC)
        rows.append(
            f"{job.job_id}  {created:%Y-%m-%d %H:%M:%S}Z  {status:<9}  {job.operation:<8}  "
            f"{job.number_of_images} image(s)  {job.usage.total_tokens} tokens"
        )
    return "\n".join(rows)


def usage_text(usage: pb.GetUsageResponse) -> str:
    tokens = usage.usage
    return (
        f"{usage.jobs} job(s), {usage.images} image(s); tokens: {tokens.input_tokens} in, "
        f"{tokens.output_tokens} out, {tokens.total_tokens} total"
    )


def as_json(message: Any) -> str:
    return MessageToJson(message, preserving_proto_field_name=True)


async def check_health(target: str, deadline_s: float | None) -> bool:
    """Whether the server's gRPC health service says SERVING (the service "", all of it)."""
    async with open_aio_channel(target, None) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            # grpcio-health-checking's stubs do not declare the methods the stub sets up.
            answer = await stub.Check(  # type: ignore[attr-defined]
                health_pb2.HealthCheckRequest(), timeout=deadline_s or 5.0
            )
        except grpc.RpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
