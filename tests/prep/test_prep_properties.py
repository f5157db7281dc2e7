"""Property tests for the geometry of masks, borders and frames."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops
from visionstudio.server.prep.geometry import border_canvas, frame_with_ratio
from visionstudio.server.prep.masks import composite, edit_area, feather_region
from visionstudio.server.provider.models import ModelRules, rules_for

sides = st.integers(min_value=1, max_value=6000)
RULES = [rules_for("gpt-image-2.5-flare"), rules_for("gpt-image-1.5")]


@given(width=sides, height=sides, fraction=st.floats(min_value=0.01, max_value=0.5))
def test_border_canvas_centres_the_original(width: int, height: int, fraction: float) -> None:
    canvas = border_canvas(width, height, fraction)
    assert canvas.width == width + 2 * canvas.left and canvas.height == height + 2 * canvas.top
    assert abs(canvas.left - width * fraction) <= 0.5 and abs(canvas.top - height * fraction) <= 0.5


@given(width=sides, height=sides, rules=st.sampled_from(RULES))
def test_every_canvas_gets_an_accepted_size_and_an_undistorted_frame(
    width: int, height: int, rules: ModelRules
) -> None:
    size = rules.size_for_canvas(width, height)
    assert rules.accepts(*size)
    frame = frame_with_ratio(width, height, *size)
    # The frame holds the canvas, centred, and has the provider's ratio up to rounding.
    assert frame.width >= width and frame.height >= height
    assert frame.left == (frame.width - width) // 2 and frame.top == (frame.height - height) // 2
    assert abs(frame.width * size[1] - frame.height * size[0]) <= max(size)
    # One of the sides is not padded at all: the frame is as small as it can be.
    assert frame.width == width or frame.height == height


@settings(max_examples=60, deadline=None)
@given(
    size=st.tuples(st.integers(20, 300), st.integers(20, 300)),
    mask_size=st.tuples(st.integers(8, 300), st.integers(8, 300)),
    box=st.tuples(st.floats(0, 0.5), st.floats(0, 0.5), st.floats(0.55, 1), st.floats(0.55, 1)),
    alpha_convention=st.booleans(),
)
def test_masks_of_any_size_and_convention_become_a_binary_area(
    size: tuple[int, int],
    mask_size: tuple[int, int],
    box: tuple[float, float, float, float],
    alpha_convention: bool,
) -> None:
    mw, mh = mask_size
    pixels = (int(box[0] * mw), int(box[1] * mh), int(box[2] * mw), int(box[3] * mh))
    if alpha_convention:
        mask = Image.new("RGBA", mask_size, (255, 255, 255, 255))
        mask.paste((0, 0, 0, 0), pixels)
    else:
        mask = Image.new("L", mask_size, 0)
        mask.paste(255, pixels)
    try:
        area = edit_area(mask, size, "mask_file")
    except Exception as exc:  # a box that vanishes when scaled down is refused, not mangled
        assert "marks nothing" in str(exc) or "whole image" in str(exc)
        return
    assert area.size == size and area.mode == "L"
    histogram = area.histogram()
    assert sum(histogram) == histogram[0] + histogram[255]


@settings(max_examples=40, deadline=None)
@given(
    size=st.tuples(st.integers(40, 200), st.integers(40, 200)),
    box=st.tuples(st.floats(0.3, 0.45), st.floats(0.3, 0.45), st.floats(0.55, 0.7)),
)
def test_composite_keeps_every_pixel_away_from_the_mask(
    size: tuple[int, int], box: tuple[float, float, float]
) -> None:
    w, h = size
    original = Image.linear_gradient("L").resize(size).convert("RGB")
    repainted = ImageChops.invert(original)
    area = Image.new("L", size, 0)
    inner = (int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[2] * h))
    area.paste(255, inner)
    region = feather_region(area)
    out = composite(original, repainted.crop(region), area.crop(region), region)
    margin = 10
    diff = ImageChops.difference(out, original).convert("L")
    diff.paste(0, (inner[0] - margin, inner[1] - margin, inner[2] + margin, inner[3] + margin))
    assert diff.getbbox() is None
