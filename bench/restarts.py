"""Images lost across a rolling restart of two replicas under steady load (target: 0).

Two server processes share one data directory (SQLite in WAL mode and the blob directory: the
shared database and bucket of a replicated setup, on one machine). Workers keep submitting
2-image jobs to either replica; each replica in turn gets SIGTERM (short grace, so jobs are cut
and handed back), exits, and is started again on the same directory. A call refused or cut by a
draining replica is not counted unless it was accepted; every accepted job must then end with
all its images. Reported: jobs accepted, images expected and stored, lost, and the time until
the last job ended after the load stopped.
Usage: python -m bench.restarts [--jobs 100] [--workers 8] [--latency 3.0] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from bench.stack import CLIENT_KEY, UPSTREAM_KEY, ServerOptions, Upstream
from tests.support.launch import server_env, start_fake_openai, start_server
from tests.support.ports import free_port, wait_for_port

AUTH = (("x-api-key", CLIENT_KEY),)
IMAGES_PER_JOB = 2
SETTINGS = {"VISIONSTUDIO_JOB_LEASE_S": "2", "VISIONSTUDIO_SHUTDOWN_GRACE_S": "1"}


@dataclass
class Replica:
    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    target: str = ""

    def start(self) -> None:
        grpc_port, http_port = free_port(), free_port()
        self.proc = start_server(
            grpc_port, http_port, self.data_dir, self.env, server_args=("--log-level", "WARNING")
        )
        wait_for_port(grpc_port, process=self.proc)
        self.target = f"127.0.0.1:{grpc_port}"

    def restart(self) -> None:
        assert self.proc is not None
        self.target = ""  # no new calls to it from here on
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.start()


@dataclass
class Result:
    jobs_accepted: int
    images_expected: int
    images_stored: int
    images_lost: int
    jobs_not_succeeded: int
    settle_s: float


async def _submit(
    replicas: list[Replica], jobs: list[str], wanted: int, worker: int, grew: asyncio.Condition
) -> None:
    turn = worker
    while len(jobs) < wanted:
        turn += 1
        target = replicas[turn % len(replicas)].target
        if not target:
            await asyncio.sleep(0.05)
            continue
        async with grpc.aio.insecure_channel(target) as channel:
            request = pb.GenerateImageRequest(prompt="load", number_of_images=IMAGES_PER_JOB)
            call = pb_grpc.ImageServiceStub(channel).GenerateImage(request, metadata=AUTH)
            try:
                async for event in call:
                    if event.HasField("accepted"):
                        jobs.append(event.accepted.job_id)
                        async with grew:
                            grew.notify_all()
            except grpc.aio.AioRpcError:
                pass  # refused or cut by a draining replica: the job (if accepted) goes on


async def _settled(replica: Replica, jobs: list[str]) -> tuple[int, int]:
    """Waits until every job ended; (images stored, jobs that did not succeed)."""
    async with grpc.aio.insecure_channel(replica.target) as channel:
        stub = pb_grpc.ImageServiceStub(channel)
        while True:
            found = [await stub.GetJob(pb.GetJobRequest(job_id=j), metadata=AUTH) for j in jobs]
            if all(job.status != pb.JOB_STATUS_RUNNING for job in found):
                images = sum(len(job.images) for job in found)
                return images, sum(job.status != pb.JOB_STATUS_SUCCEEDED for job in found)
            await asyncio.sleep(0.5)


async def _run(args: argparse.Namespace, upstream_url: str, data_dir: Path) -> Result:
    env = server_env(upstream_url, UPSTREAM_KEY, [CLIENT_KEY], **ServerOptions().settings())
    replicas = [Replica(data_dir, env | SETTINGS) for _ in range(2)]
    for replica in replicas:
        replica.start()
    jobs: list[str] = []
    grew = asyncio.Condition()
    load = [
        asyncio.create_task(_submit(replicas, jobs, args.jobs, worker, grew))
        for worker in range(args.workers)
    ]
    try:
        # Restarted one after the other, at a third and two thirds of the load.
        for turn, replica in enumerate(replicas, start=1):
            async with grew:
                threshold = args.jobs * turn // 3
                await grew.wait_for(lambda: len(jobs) >= threshold)  # noqa: B023
            await asyncio.to_thread(replica.restart)
        await asyncio.gather(*load)
        stopped = time.monotonic()
        stored, not_succeeded = await _settled(replicas[0], jobs)
        expected = len(jobs) * IMAGES_PER_JOB
        return Result(
            len(jobs), expected, stored, expected - stored, not_succeeded,
            round(time.monotonic() - stopped, 1),
        )  # fmt: skip
    finally:
        for replica in replicas:
            if replica.proc is not None:
                replica.proc.kill()
                replica.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.restarts", description=__doc__)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=8)
    # Longer than the 1 s grace, so restarts cut running calls and hand their jobs back.
    parser.add_argument("--latency", type=float, default=3.0, help="upstream s/image")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    upstream_port = free_port()
    fake = start_fake_openai(upstream_port, Upstream(args.latency).options())
    try:
        wait_for_port(upstream_port, process=fake)
        with tempfile.TemporaryDirectory(prefix="visionstudio-restarts-") as data_dir:
            result = asyncio.run(_run(args, f"http://127.0.0.1:{upstream_port}/v1", Path(data_dir)))
    finally:
        fake.terminate()
        fake.wait()
    if args.json:
        print(json.dumps(asdict(result)))
        return
    print(f"rolling restart of 2 replicas, {args.workers} workers, {args.latency} s/image upstream")
    for name, value in asdict(result).items():
        print(f"  {name:20} {value}")


if __name__ == "__main__":
    main()
