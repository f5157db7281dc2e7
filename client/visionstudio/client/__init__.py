"""Client for visionstudio's ImageService: typed async and blocking clients, and the CLI."""

from visionstudio.client.client import (
    ASPECT_RATIOS,
    BACKGROUNDS,
    DEFAULT_TARGET,
    MAX_MESSAGE_BYTES,
    OUTPUT_FORMATS,
    QUALITIES,
    AsyncImageClient,
    ImageClient,
    describe_error,
)

__all__ = [
    "ASPECT_RATIOS",
    "BACKGROUNDS",
    "DEFAULT_TARGET",
    "MAX_MESSAGE_BYTES",
    "OUTPUT_FORMATS",
    "QUALITIES",
    "AsyncImageClient",
    "ImageClient",
    "describe_error",
]
