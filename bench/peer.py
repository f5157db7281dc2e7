"""LiteLLM's proxy beside visionstudio (#17): the same workloads straight to the upstream, through
LiteLLM's proxy and through the service, in one run against the same loopback upstream returning
photo-sized images, with the caller holding every image's bytes. Each gateway runs as a real
process; its CPU and peak memory are read from /proc.

Rows: n=1 generate, sequential (gRPC `include_data`, HTTP/JSON `include_data`); an edit with a
~3 MB PNG input, sequential; gateway CPU per image at 50 calls in flight; n=4 time to the first
and last image in multiples of one image; 100 calls at once (small images), added p50; peak RSS.
"Adds" figures are paired: per round every path is called once (the order rotated) and the
direct call of the same round is subtracted; median [p25-p75] over the rounds.

LiteLLM lives in a virtualenv of its own (`make bench-peer-install`); without it this prints how
to install it and exits 0. Never part of `make test`.
Usage: python -m bench.peer [--latency 0.5] [--runs 20] [--edit-runs 12] [--cpu-s 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from visionstudio.server.prep.images import encode
from visionstudio.server.spec import OutputFormat

from bench.peer_calls import PROMPT, EditRoute, GrpcPath, HttpPath, OpenAIPath, Route
from bench.peer_proxy import INSTALL_HINT, Proxy, litellm_command, litellm_proxy, litellm_version
from bench.peer_report import Conditions, Results, as_json, render
from bench.peer_workloads import Call, at_once, cpu_per_image_ms, rounds
from bench.readings import cpu_seconds, proc_status_kib
from bench.stack import ServerOptions, Stack, Upstream, processes
from tests.fake_openai.render import encoded_generation
from tests.support import images

RATIO, SIZE = "3:2", (1536, 1024)  # the largest standard size: ~2.4 MB as a photographic PNG
EDIT_SIDE = 1448  # a ~3 MB photographic PNG input
IN_FLIGHT, AT_ONCE = 50, 100


@dataclass(frozen=True)
class _Routes:
    direct: OpenAIPath
    peer: OpenAIPath
    grpc: GrpcPath
    http: HttpPath

    def all(self) -> dict[str, Route]:
        return {
            "direct": self.direct,
            "LiteLLM": self.peer,
            "gRPC": self.grpc,
            "HTTP/JSON": self.http,
        }

    def editors(self) -> dict[str, EditRoute]:
        return {"direct": self.direct, "LiteLLM": self.peer, "gRPC": self.grpc}


async def _sequential(args: argparse.Namespace, routes: _Routes, out: Results) -> None:
    photo = encode(images.photo(EDIT_SIDE), OutputFormat.PNG)
    await rounds({name: route.generate for name, route in routes.all().items()}, 2)  # warm-up
    out.generate = await rounds(
        {name: route.generate for name, route in routes.all().items()}, args.runs
    )

    def edit(route: EditRoute) -> Call:
        return lambda: route.edit(photo)

    out.edit = await rounds(
        {name: edit(route) for name, route in routes.editors().items()}, args.edit_runs
    )
    four = {
        "direct": routes.direct.generate,
        "LiteLLM": lambda: routes.peer.generate(4),
        "gRPC": lambda: routes.grpc.generate(4),
    }
    out.n4 = await rounds(four, args.n4_runs)
    for name, result in (("generate", out.generate), ("edit", out.edit), ("n4", out.n4)):
        if result.errors:
            out.notes.append(f"{name}: failed calls {dict(result.errors)}")


async def _cpu(
    args: argparse.Namespace, routes: _Routes, stack: Stack, proxy: Proxy, out: Results
) -> None:
    def server() -> float:
        return cpu_seconds(stack.server_pid)

    meters: dict[str, tuple[Route, Callable[[], float]]] = {
        "LiteLLM": (routes.peer, proxy.cpu_seconds),
        "gRPC": (routes.grpc, server),
        "HTTP/JSON": (routes.http, server),
    }
    for _ in range(args.repetitions):
        for name, (route, meter) in meters.items():
            ms, _, errors = await cpu_per_image_ms(route.generate, meter, IN_FLIGHT, args.cpu_s)
            out.cpu_ms.setdefault(name, []).append(ms)
            if errors:
                out.notes.append(f"CPU at {IN_FLIGHT} in flight, {name}: {dict(errors)}")


async def _photo_workloads(args: argparse.Namespace, stack: Stack, proxy: Proxy) -> Results:
    out = Results()
    routes = _Routes(
        OpenAIPath(stack.upstream_url, SIZE, AT_ONCE),
        OpenAIPath(proxy.base_url, SIZE, AT_ONCE),
        GrpcPath(stack, RATIO, AT_ONCE),
        HttpPath(stack, RATIO, AT_ONCE),
    )
    try:
        await _sequential(args, routes, out)
        await _cpu(args, routes, stack, proxy, out)
    finally:
        for route in routes.all().values():
            await route.close()
    out.peak_mib = {
        "LiteLLM": proxy.peak_rss_mib(),
        "visionstudio": proc_status_kib(stack.server_pid, "VmHWM") / 1024,
    }
    return out


async def _burst(args: argparse.Namespace, stack: Stack, proxy: Proxy) -> dict[str, list[float]]:
    """Median seconds of AT_ONCE calls started together, per path and repetition."""
    paths: dict[str, Route] = {
        "direct": OpenAIPath(stack.upstream_url, SIZE, AT_ONCE),
        "LiteLLM": OpenAIPath(proxy.base_url, SIZE, AT_ONCE),
        "gRPC": GrpcPath(stack, RATIO, AT_ONCE),
    }
    medians: dict[str, list[float]] = {name: [] for name in paths}
    try:
        for path in paths.values():
            await at_once(path.generate, 10)
        names = list(paths)
        for r in range(args.repetitions):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                median_s, failed = await at_once(paths[name].generate, AT_ONCE)
                medians[name].append(median_s if not failed else float("nan"))
    finally:
        for path in paths.values():
            await path.close()
    return medians


async def _run(args: argparse.Namespace, command: Path) -> Results:
    options = ServerOptions(capacity=AT_ONCE * 4)
    with (
        processes(Upstream(args.latency, photographic=True), options) as stack,
        litellm_proxy(command, stack.upstream_url) as proxy,
    ):
        results = await _photo_workloads(args, stack, proxy)
    # Small images for the burst: what is measured is the queueing, not the bytes.
    with (
        processes(Upstream(args.latency), options) as stack,
        litellm_proxy(command, stack.upstream_url) as proxy,
    ):
        results.burst_s = await _burst(args, stack, proxy)
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--latency", type=float, default=0.5, help="upstream seconds per image")
    add("--runs", type=int, default=20, help="rounds of sequential n=1 generations")
    add("--edit-runs", type=int, default=12, help="rounds of sequential edits")
    add("--n4-runs", type=int, default=5, help="rounds of n=4 generations")
    add("--cpu-s", type=float, default=10.0, help=f"seconds at {IN_FLIGHT} in flight per gateway")
    add("--repetitions", type=int, default=2, help="of the CPU and burst figures")
    add("--json", action="store_true", help="print JSON only")
    return parser


def main() -> None:
    args = _parser().parse_args()
    command = litellm_command()
    if command is None:
        print(f"bench.peer: skipped, LiteLLM's proxy is not installed: {INSTALL_HINT}")
        return
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    results = asyncio.run(_run(args, command))
    conditions = Conditions(
        litellm=litellm_version(),
        image_mb=len(encoded_generation(PROMPT, 0, SIZE, False, "png", 100, True)) / 1e6,
        input_mb=len(encode(images.photo(EDIT_SIDE), OutputFormat.PNG)) / 1e6,
        latency_s=args.latency,
        cores=os.cpu_count() or 0,
    )
    if not args.json:
        print(render(results, conditions))
    print(json.dumps(as_json(results, conditions)))


if __name__ == "__main__":
    grpc.aio.init_grpc_aio()
    main()
