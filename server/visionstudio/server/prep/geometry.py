"""Rectangles and ratios: which part of an image to keep, and where a border goes."""

from __future__ import annotations

from dataclasses import dataclass

from visionstudio.server.spec import AspectRatio

Box = tuple[int, int, int, int]


def largest_with_ratio(width: int, height: int, ratio: AspectRatio) -> tuple[int, int]:
    """The largest size with exactly `ratio` that fits in `width`x`height`."""
    k = min(width // ratio.width, height // ratio.height)
    return ratio.width * k, ratio.height * k


def centered_box(width: int, height: int, inner: tuple[int, int]) -> Box:
    left = (width - inner[0]) // 2
    top = (height - inner[1]) // 2
    return left, top, left + inner[0], top + inner[1]


@dataclass(frozen=True)
class Placement:
    """A `width`x`height` area with an inner rectangle at (`left`, `top`)."""

    width: int
    height: int
    left: int
    top: int

    def inner_box(self, inner: tuple[int, int]) -> Box:
        return self.left, self.top, self.left + inner[0], self.top + inner[1]


def border_canvas(width: int, height: int, fraction: float) -> Placement:
    """The image grown by `fraction` of its width left and right and of its height top and
    bottom, with the original in the middle."""
    dx = round(width * fraction)
    dy = round(height * fraction)
    return Placement(width=width + 2 * dx, height=height + 2 * dy, left=dx, top=dy)


def frame_with_ratio(width: int, height: int, ratio_w: int, ratio_h: int) -> Placement:
    """The smallest frame with (about) the ratio `ratio_w`:`ratio_h` that holds a
    `width`x`height` canvas, centred. Scaling that frame to the provider's size scales the
    canvas uniformly, so nothing is distorted."""
    if width * ratio_h >= height * ratio_w:
        frame_w, frame_h = width, max(height, round(width * ratio_h / ratio_w))
    else:
        frame_w, frame_h = max(width, round(height * ratio_w / ratio_h)), height
    return Placement(frame_w, frame_h, (frame_w - width) // 2, (frame_h - height) // 2)
