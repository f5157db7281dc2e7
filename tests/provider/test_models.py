"""The size rules: every size asked for is one the model accepts, and ratios come out exact."""

from __future__ import annotations

import pytest
from visionstudio.server.prep.geometry import largest_with_ratio
from visionstudio.server.provider.models import STANDARD_SIZES, rules_for
from visionstudio.server.spec import AspectRatio


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2.5-flare", "gpt-image-2.5-sunburst"])
@pytest.mark.parametrize("ratio", list(AspectRatio))
def test_flexible_models_get_the_exact_ratio(model: str, ratio: AspectRatio) -> None:
    rules = rules_for(model)
    width, height = rules.size_for_ratio(ratio)
    assert rules.accepts(width, height)
    assert width * ratio.height == height * ratio.width


@pytest.mark.parametrize("model", ["gpt-image-1.5", "gpt-image-1-mini", "chatgpt-image-latest"])
@pytest.mark.parametrize("ratio", list(AspectRatio))
def test_fixed_models_get_a_standard_size_then_an_exact_crop(
    model: str, ratio: AspectRatio
) -> None:
    rules = rules_for(model)
    size = rules.size_for_ratio(ratio)
    assert size in STANDARD_SIZES and rules.accepts(*size)
    width, height = largest_with_ratio(*size, ratio)
    assert width * ratio.height == height * ratio.width
    # The crop keeps most of the picture: the closest standard size was chosen.
    assert width * height >= 0.6 * size[0] * size[1]


@pytest.mark.parametrize(
    ("size", "ok"),
    [
        ((1024, 1024), True),
        ((1536, 864), True),
        ((3840, 2160), True),
        ((1000, 1000), False),  # not divisible by 16
        ((3840, 1024), False),  # ratio beyond 3:1
        ((768, 768), False),  # too few pixels
        ((4096, 2160), False),  # too big
    ],
)
def test_flexible_limits(size: tuple[int, int], ok: bool) -> None:
    assert rules_for("gpt-image-2").accepts(*size) is ok


@pytest.mark.parametrize("canvas", [(840, 560), (600, 400), (100, 1000), (4000, 300), (64, 64)])
def test_canvas_sizes_are_accepted_and_close_in_ratio(canvas: tuple[int, int]) -> None:
    rules = rules_for("gpt-image-2.5-flare")
    width, height = rules.size_for_canvas(*canvas)
    assert rules.accepts(width, height)
    wanted = min(max(canvas[0] / canvas[1], 1 / 3), 3)
    assert abs(width / height - wanted) / wanted < 0.05


def test_shut_down_models_are_refused_at_start() -> None:
    for model in ("gpt-image-1", "dall-e-3"):
        with pytest.raises(ValueError, match="shut down"):
            rules_for(model)
