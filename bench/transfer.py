"""What carrying one finished image to the caller costs over gRPC, by caller setting (#17).

A small grpc.aio server in its own process streams one ImageEvent holding the image's bytes, as
the service does with `include_data`; nothing else is on the path (no upstream, no store). One
caller process per variant (channel options, or the caller's malloc settings) calls it in turn,
the order rotated every round, and each call is compared with the same round's baseline call.

Usage: python -m bench.transfer [--rounds 40] [--mb 2.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from visionstudio.client import MAX_MESSAGE_BYTES
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.support.ports import free_port, wait_for_port

LIMITS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
# glibc hands every allocation over 128 KiB (rising to the largest freed one) fresh pages from
# mmap, and trims the heap's top above 128 KiB: each multi-MB copy of an image then page-faults
# and zeroes its pages. These keep such buffers in the heap for reuse.
MALLOC_REUSE = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"


@dataclass(frozen=True)
class Variant:
    name: str
    options: list[tuple[str, int]] = field(default_factory=list)
    glibc_tunables: str = ""


VARIANTS = [
    Variant("our client's channel options"),
    Variant("the same, a second caller (noise)"),
    Variant("max_frame_size 16 MiB", [("grpc.http2.max_frame_size", 16 * 1024 * 1024 - 1)]),
    Variant("stream window 8 MiB", [("grpc.http2.lookahead_bytes", 8 * 1024 * 1024)]),
    Variant("BDP probing off", [("grpc.http2.bdp_probe", 0)]),
    Variant("TCP read chunk 1 MiB", [("grpc.experimental.tcp_read_chunk_size", 1024 * 1024)]),
    Variant("caller's malloc: GLIBC_TUNABLES below", glibc_tunables=MALLOC_REUSE),
]


async def _serve(port: int, size: int) -> None:
    event = pb.ImageEvent(image=pb.Image(data=os.urandom(size), mime_type="image/png"))

    async def one_image(request: pb.GenerateImageRequest, context: object) -> AsyncIterator[bytes]:
        yield event.SerializeToString()

    handler: grpc.RpcMethodHandler[pb.GenerateImageRequest, bytes]
    handler = grpc.unary_stream_rpc_method_handler(
        one_image, request_deserializer=pb.GenerateImageRequest.FromString
    )
    server = grpc.aio.server(options=LIMITS)
    service = pb.DESCRIPTOR.services_by_name["ImageService"].full_name
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service, {"GenerateImage": handler}),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def _call(stub: pb_grpc.ImageServiceAsyncStub) -> float:
    started = time.perf_counter()
    async for event in stub.GenerateImage(pb.GenerateImageRequest(prompt="x")):
        if not event.image.data:
            raise RuntimeError("an image event without its bytes")
    return time.perf_counter() - started


def _caller(target: str, options: list[tuple[str, int]]) -> None:
    """Times one call per line read from stdin, printing its seconds."""
    with asyncio.Runner() as runner:
        # A connection of its own, whatever other channels to the target exist.
        own = [*LIMITS, ("grpc.use_local_subchannel_pool", 1), *options]
        channel = runner.run(_open(target, own))
        stub = pb_grpc.ImageServiceStub(channel)
        for _ in sys.stdin:
            print(runner.run(_call(stub)), flush=True)
        runner.run(channel.close())


async def _open(target: str, options: list[tuple[str, int]]) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=options)


def _start_caller(variant: Variant, target: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GLIBC_TUNABLES": variant.glibc_tunables}
    args = ["--caller", target, "--options", json.dumps(variant.options)]
    return subprocess.Popen(
        [sys.executable, "-m", "bench.transfer", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _timed(caller: subprocess.Popen[str]) -> float:
    assert caller.stdin is not None and caller.stdout is not None
    caller.stdin.write("call\n")
    caller.stdin.flush()
    return float(caller.stdout.readline())


def _compare(rounds: int, size: int) -> dict[str, list[float]]:
    port = free_port()
    args = ["--serve", str(port), "--mb", str(size / 1e6)]
    server = subprocess.Popen([sys.executable, "-m", "bench.transfer", *args])
    callers: list[subprocess.Popen[str]] = []
    try:
        wait_for_port(port, process=server)
        callers = [_start_caller(v, f"127.0.0.1:{port}") for v in VARIANTS]
        for caller in callers * 3:  # warm-up: connections, imports, the flow-control window
            _timed(caller)
        times: list[list[float]] = [[] for _ in VARIANTS]
        for r in range(rounds):
            for i in [*range(r % len(VARIANTS), len(VARIANTS)), *range(r % len(VARIANTS))]:
                times[i].append(_timed(callers[i]))
    finally:
        for caller in callers:
            caller.terminate()
            caller.wait(timeout=30)
        server.terminate()
        server.wait(timeout=30)
    return {v.name: t for v, t in zip(VARIANTS, times, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--mb", type=float, default=2.3, help="the image's size")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--caller", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="[]", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    size = round(args.mb * 1e6)
    if args.serve is not None:
        asyncio.run(_serve(args.serve, size))
        return
    if args.caller is not None:
        _caller(args.caller, [(k, v) for k, v in json.loads(args.options)])
        return
    times = _compare(args.rounds, size)
    baseline = times[VARIANTS[0].name]
    print(f"one {args.mb} MB image event over gRPC on loopback, {args.rounds} rounds")
    print(f"  {'caller':40} {'p50':>8}   paired vs the first [p25…p75]")
    for name, seconds in times.items():
        deltas = [(t - b) * 1000 for t, b in zip(seconds, baseline, strict=True)]
        p25, _, p75 = statistics.quantiles(deltas, n=4)
        print(
            f"  {name:40} {statistics.median(seconds) * 1000:6.2f} ms   "
            f"{statistics.median(deltas):+6.2f} ms [{p25:+.2f}…{p75:+.2f}]"
        )
    print(f"  GLIBC_TUNABLES={MALLOC_REUSE}")


if __name__ == "__main__":
    main()
