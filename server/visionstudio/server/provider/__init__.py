"""The upstream image model: one small interface, one implementation per backend."""

from visionstudio.server.provider.base import ImageProvider, RenderedImage, RenderRequest
from visionstudio.server.provider.models import ModelRules, rules_for

__all__ = ["ImageProvider", "ModelRules", "RenderRequest", "RenderedImage", "rules_for"]
