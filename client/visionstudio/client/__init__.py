"""Client for visionstudio's ImageService: typed async and blocking clients, and the CLI."""

from visionstudio.client.async_client import AsyncImageClient
from visionstudio.client.blocking_client import ImageClient
from visionstudio.client.channel import DEFAULT_TARGET, MAX_MESSAGE_BYTES
from visionstudio.client.errors import describe_error
from visionstudio.client.options import ASPECT_RATIOS, BACKGROUNDS, OUTPUT_FORMATS, QUALITIES
from visionstudio.client.requests import edit_item, generate_item, inpaint_item

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
    "edit_item",
    "generate_item",
    "inpaint_item",
]
