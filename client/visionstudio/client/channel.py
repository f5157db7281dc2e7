"""Opening the channel to the server: address, TLS, message limits and the API key metadata."""

import grpc

DEFAULT_TARGET = "localhost:50051"
# The server uses the same limits, so the largest image sent back with include_data fits.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

Metadata = tuple[tuple[str, str], ...]

_API_KEY_METADATA = "x-api-key"
_CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)


def api_key_metadata(api_key: str | None) -> Metadata:
    return ((_API_KEY_METADATA, api_key),) if api_key else ()


def credentials(secure: bool, root_certificates: bytes | None) -> grpc.ChannelCredentials | None:
    """TLS credentials, or None for plaintext."""
    if secure:
        return grpc.ssl_channel_credentials(root_certificates)
    # Certificates without `secure` signal a caller who expects TLS; never fall back silently.
    if root_certificates is not None:
        raise ValueError("root_certificates needs secure=True")
    return None


def open_channel(target: str, tls: grpc.ChannelCredentials | None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(target, _CHANNEL_OPTIONS)
    return grpc.secure_channel(target, tls, _CHANNEL_OPTIONS)


def open_aio_channel(target: str, tls: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    if tls is None:
        return grpc.aio.insecure_channel(target, _CHANNEL_OPTIONS)
    return grpc.aio.secure_channel(target, tls, _CHANNEL_OPTIONS)
