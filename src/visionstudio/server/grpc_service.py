"""ImageService RPC handlers: map the request, run the core, map the events. Nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc
from visionstudio.server import proto_mapping
from visionstudio.server.interceptors import current_caller
from visionstudio.server.spec import JobSpec
from visionstudio.server.studio import ImageStudio


class ImageService(pb_grpc.ImageServiceServicer):
    def __init__(self, studio: ImageStudio, *, max_call_s: float) -> None:
        self._studio = studio
        self._max_call_s = max_call_s

    async def _run(
        self, spec: JobSpec, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImageEvent]:
        remaining = context.time_remaining()
        timeout = self._max_call_s if remaining is None else min(remaining, self._max_call_s)
        async for event in self._studio.run(spec, caller=current_caller.get(), timeout_s=timeout):
            yield proto_mapping.to_event(event)

    async def GenerateImage(
        self, request: pb.GenerateImageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImageEvent]:
        async for event in self._run(proto_mapping.generate_spec(request), context):
            yield event

    async def EditImage(
        self, request: pb.EditImageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImageEvent]:
        async for event in self._run(proto_mapping.edit_spec(request), context):
            yield event

    async def Inpaint(
        self, request: pb.InpaintRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImageEvent]:
        async for event in self._run(proto_mapping.inpaint_spec(request), context):
            yield event
