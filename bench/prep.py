"""Milliseconds per prep step for 1024x1024 and 4096x4096 inputs (median of several runs).

Usage: python -m bench.prep [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

from PIL import Image
from visionstudio.server.prep import PixelBudget, finish
from visionstudio.server.prep.geometry import border_canvas
from visionstudio.server.prep.images import decode, encode, for_provider, png_as_is
from visionstudio.server.prep.inpaint import InpaintJob
from visionstudio.server.prep.masks import edit_area
from visionstudio.server.provider.models import rules_for
from visionstudio.server.spec import AspectRatio, OutputFormat

from tests.support import images

RULES = rules_for("gpt-image-2.5-flare")


def _time(step: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _steps(side: int) -> dict[str, Callable[[], object]]:
    photo = images.photo(side)
    png = encode(photo, OutputFormat.PNG)
    decoded = decode(png, "image_file", 10**8)
    mask = Image.new("L", (side, side), 0)
    mask.paste(255, (side // 4, side // 4, side // 2, side // 2))
    area = edit_area(mask, decoded.size, "mask_file")
    budget = PixelBudget(10**9)

    def original() -> Image.Image:
        return decode(png, "image_file", 10**8).image

    size = RULES.size_for_canvas(side, side)
    job, _, _ = InpaintJob.masked(decoded.image, area, size, original, budget)
    answer = encode(images.photo(1024).resize(job.size), OutputFormat.PNG)
    canvas = border_canvas(side, side, 0.2)
    border_size = RULES.size_for_canvas(canvas.width, canvas.height)
    border_job, _, _ = InpaintJob.border(decoded.image, canvas, border_size, original, budget)
    border_answer = encode(images.photo(1024).resize(border_job.size), OutputFormat.PNG)
    provider_png = encode(images.photo(1536).crop((0, 0, 1536, 1024)), OutputFormat.PNG)
    return {
        "decode PNG input": lambda: decode(png, "image_file", 10**8),
        "input for provider (as is)": lambda: for_provider(decoded),
        "edit: PNG input checked, not decoded": lambda: png_as_is(png, 10**8),
        "mask to edit area": lambda: edit_area(mask, decoded.size, "mask_file"),
        "inpaint: image+mask uploads": lambda: InpaintJob.masked(
            decoded.image, area, size, original, budget
        ),
        "inpaint: composite + encode": lambda: job.finish(answer, OutputFormat.PNG),
        "border 20%: image+mask uploads": lambda: InpaintJob.border(
            decoded.image, canvas, border_size, original, budget
        ),
        "border 20%: finish + encode": lambda: border_job.finish(border_answer, OutputFormat.PNG),
        "result as is (3:2 PNG)": lambda: finish.to_ratio(
            provider_png, AspectRatio.LANDSCAPE_3_2, OutputFormat.PNG, False
        ),
        "result crop 16:9 + encode": lambda: finish.to_ratio(
            provider_png, AspectRatio.LANDSCAPE_16_9, OutputFormat.PNG, False
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    table: dict[str, dict[str, float]] = {}
    for side in (1024, 4096):
        for name, step in _steps(side).items():
            table.setdefault(name, {})[f"{side}px"] = _time(step, args.runs)
    print(
        f"prep steps, ms (median of {args.runs}; {os.cpu_count()} cores; provider size "
        "about 1 MP; each step runs in a worker thread in the service)"
    )
    print(f"  {'step':34} {'1024x1024':>10} {'4096x4096':>10}")
    for name, cols in table.items():
        print(f"  {name:34} {cols['1024px']:10.1f} {cols['4096px']:10.1f}")
    print(json.dumps({"prep_ms": table}))


if __name__ == "__main__":
    main()
