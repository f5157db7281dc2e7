"""gRPC calls whose message never finishes arriving, sent over raw HTTP/2 (no gRPC client
sends half a message): what a stalled or hostile caller makes the server hold."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import h2.config
import h2.connection
import h2.events

from tests.support.ports import LOOPBACK


@contextlib.asynccontextmanager
async def stalled_calls(
    port: int, key: str, method: str, *, count: int, announced: int
) -> AsyncIterator[None]:
    """`count` calls of `method` on one connection, each announcing a message of `announced`
    bytes and sending one byte of it; held open while inside. Entered once the server has
    answered every call's headers (its interceptor is then receiving the message)."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    streams = set()
    for _ in range(count):
        stream = connection.get_next_available_stream_id()
        connection.send_headers(
            stream,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", method),
                (":authority", f"{LOOPBACK}:{port}"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("x-api-key", key),
            ],
        )
        # The gRPC frame: uncompressed, its length, then the first byte of the message.
        connection.send_data(stream, b"\x00" + announced.to_bytes(4, "big") + b"\x0a")
        streams.add(stream)
    writer.write(connection.data_to_send())
    answered: set[int] = set()
    all_answered = asyncio.Event()

    async def pump() -> None:
        while data := await reader.read(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id is not None:
                    answered.add(event.stream_id)
            if answered >= streams:
                all_answered.set()
            writer.write(connection.data_to_send())

    pumping = asyncio.create_task(pump())
    try:
        await asyncio.wait_for(all_answered.wait(), 10)
        yield
    finally:
        pumping.cancel()
        writer.close()
