"""Image bytes in an S3-compatible bucket (aiobotocore), shared by every replica of the service."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from visionstudio.server.store.blobs import check_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

# DeleteObjects takes at most this many keys per request.
_DELETE_BATCH = 1000


class S3BlobStore:
    """Objects under ``prefix`` in ``bucket``, each stored with its Content-Type."""

    def __init__(self, client: S3Client, stack: AsyncExitStack, bucket: str, prefix: str) -> None:
        self._client = client
        self._stack = stack
        self._bucket = bucket
        self._prefix = prefix

    @classmethod
    async def open(cls, bucket: str, prefix: str = "") -> S3BlobStore:
        """A client configured the way every AWS SDK is: botocore itself reads the endpoint
        (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL), AWS_DEFAULT_REGION, the credential chain and
        ~/.aws/config; only AWS_REGION, the newer name, is passed on here."""
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=os.environ.get("AWS_REGION") or None,
                # Presigned URLs would otherwise be SigV2 in us-east-1, which newer regions and
                # many S3-compatible stores refuse. (SigV4 URLs live at most 7 days.)
                config=AioConfig(signature_version="s3v4"),
            )
        )
        prefix = prefix.strip("/")
        return cls(client, stack, bucket, f"{prefix}/" if prefix else "")

    def _key(self, key: str) -> str:
        return self._prefix + check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._client.put_object(
            Bucket=self._bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    async def get(self, key: str) -> bytes | None:
        try:
            response = await self._client.get_object(Bucket=self._bucket, Key=self._key(key))
        except self._client.exceptions.NoSuchKey:
            return None
        async with response["Body"] as body:
            return await body.read()

    async def delete(self, keys: Sequence[str]) -> None:
        names = [self._key(key) for key in keys]
        for start in range(0, len(names), _DELETE_BATCH):
            batch = names[start : start + _DELETE_BATCH]
            response = await self._client.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": name} for name in batch], "Quiet": True},
            )
            # Quiet mode reports only the failures; a missing key is not one.
            if errors := response.get("Errors"):
                first = errors[0]
                raise OSError(
                    f"S3 refused to delete {len(errors)} object(s), e.g. {first.get('Key')}:"
                    f" {first.get('Code')} {first.get('Message')}"
                )

    async def presigned_url(self, key: str, ttl_s: int) -> str | None:
        return await self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": self._key(key)}, ExpiresIn=ttl_s
        )

    async def close(self) -> None:
        await self._stack.aclose()
