"""The image options a caller may spell as the HTTP/JSON API does, and their enum values."""

# Postponed annotations: protobuf's enum wrapper is generic only in its type stubs.
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict, TypeVar

from visionstudio.image.v1 import image_service_pb2 as pb

if TYPE_CHECKING:
    # Only the type stubs name the class of generated enums.
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

ASPECT_RATIOS: Mapping[str, pb.AspectRatio.ValueType] = {
    "1:1": pb.ASPECT_RATIO_1_1,
    "2:3": pb.ASPECT_RATIO_2_3,
    "3:2": pb.ASPECT_RATIO_3_2,
    "3:4": pb.ASPECT_RATIO_3_4,
    "4:3": pb.ASPECT_RATIO_4_3,
    "9:16": pb.ASPECT_RATIO_9_16,
    "16:9": pb.ASPECT_RATIO_16_9,
}
QUALITIES: Mapping[str, pb.Quality.ValueType] = {
    "auto": pb.QUALITY_AUTO,
    "low": pb.QUALITY_LOW,
    "medium": pb.QUALITY_MEDIUM,
    "high": pb.QUALITY_HIGH,
}
BACKGROUNDS: Mapping[str, pb.Background.ValueType] = {
    "auto": pb.BACKGROUND_AUTO,
    "transparent": pb.BACKGROUND_TRANSPARENT,
    "opaque": pb.BACKGROUND_OPAQUE,
}
OUTPUT_FORMATS: Mapping[str, pb.OutputFormat.ValueType] = {
    "png": pb.OUTPUT_FORMAT_PNG,
    "jpeg": pb.OUTPUT_FORMAT_JPEG,
    "webp": pb.OUTPUT_FORMAT_WEBP,
}
JOB_STATUSES: Mapping[str, pb.JobStatus.ValueType] = {
    "running": pb.JOB_STATUS_RUNNING,
    "succeeded": pb.JOB_STATUS_SUCCEEDED,
    "partial": pb.JOB_STATUS_PARTIAL,
    "failed": pb.JOB_STATUS_FAILED,
    "cancelled": pb.JOB_STATUS_CANCELLED,
}


class ImageOptions(TypedDict, total=False):
    """Keyword arguments of every image call; an enum is a name above, a number or None."""

    number_of_images: int
    quality: int | str | None
    output_format: int | str | None
    include_data: bool
    idempotency_key: str
    timeout: float | None


class SceneOptions(ImageOptions, total=False):
    """Keyword arguments of the calls that choose the whole picture (generate and edit); they
    also take `partial_images` (0..3 previews per image, sent as `preview` events)."""

    aspect_ratio: int | str | None
    background: int | str | None
    partial_images: int


_Enum = TypeVar("_Enum", bound=int)


def enum_value(
    argument: str,
    value: int | str | None,
    enum: _EnumTypeWrapper[_Enum],
    names: Mapping[str, _Enum],
) -> _Enum:
    """Maps a friendly string or a generated enum number to the enum; None means unspecified."""
    if isinstance(value, str):
        if value in names:
            return names[value]
        raise ValueError(f"unknown {argument} {value!r}; expected one of: {', '.join(names)}")
    number = 0 if value is None else value
    for known in enum.values():
        if known == number:
            return known
    raise ValueError(f"unknown {argument} value {value}; expected one of: {', '.join(names)}")
