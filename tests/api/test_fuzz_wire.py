"""Fuzzing the gRPC surface with undecodable bytes on the wire: answered INVALID_ARGUMENT naming
the request (left to itself, grpc.aio would answer UNKNOWN and log a traceback for each)."""

from __future__ import annotations

import grpc
from google.protobuf.message import DecodeError
from hypothesis import strategies as st
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.support.fuzzing import (
    CALL_TIMEOUT_S,
    answer,
    assert_refused_cleanly,
    assert_still_serving,
    fuzz,
)
from tests.support.harness import AUTH, Harness, png, rich_error

Request = pb.GenerateImageRequest | pb.EditImageRequest | pb.InpaintRequest

SERVICE = "/visionstudio.image.v1.ImageService"
REQUEST_TYPES: dict[str, type[Request]] = {
    f"{SERVICE}/GenerateImage": pb.GenerateImageRequest,
    f"{SERVICE}/EditImage": pb.EditImageRequest,
    f"{SERVICE}/Inpaint": pb.InpaintRequest,
}
VALID_BYTES = [
    pb.GenerateImageRequest(prompt="a fox", number_of_images=2).SerializeToString(),
    pb.EditImageRequest(prompt="night", image_file=png((64, 48))).SerializeToString(),
    # A data: URL, because a damaged host name would be looked up in DNS.
    pb.InpaintRequest(prompt="a door", image_url="data:,x", mask_file=b"m").SerializeToString(),
]


def _damage(data: bytes, position: int, value: int) -> bytes:
    """`data` with one byte replaced, or cut short there when `value` is negative."""
    position %= len(data)
    return data[:position] if value < 0 else data[:position] + bytes([value]) + data[position + 1 :]


RAW = st.one_of(
    st.binary(max_size=2048),
    st.builds(_damage, st.sampled_from(VALID_BYTES), st.integers(0, 10_000), st.integers(-1, 255)),
    # Field 1 (the prompt in every request) holding arbitrary bytes: often not UTF-8.
    st.binary(min_size=1, max_size=120).map(lambda b: b"\x0a" + bytes([len(b)]) + b),
    # A length prefix far beyond the message.
    st.integers(128, 2**32).map(lambda n: b"\x0a" + _varint(n) + b"x"),
)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes([*out, n])


def _identity(data: bytes) -> bytes:
    return data


async def test_undecodable_bytes_on_the_wire(harness: Harness) -> None:
    async def check(example: tuple[str, bytes]) -> None:
        method, payload = example
        call = harness.channel.unary_stream(
            method, request_serializer=_identity, response_deserializer=pb.ImageEvent.FromString
        )(payload, metadata=AUTH, timeout=CALL_TIMEOUT_S)
        err = await answer(call)
        try:
            REQUEST_TYPES[method].FromString(payload)
        except DecodeError:
            assert err is not None
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
            assert rich_error(err)["fields"] == ["request"]
            return
        assert_refused_cleanly(err)  # it decoded: the service's own rules apply

    await fuzz(st.tuples(st.sampled_from(sorted(REQUEST_TYPES)), RAW), check)
    await assert_still_serving(harness)
