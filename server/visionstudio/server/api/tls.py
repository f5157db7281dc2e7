"""TLS for both surfaces from one certificate and key (PEM files)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc


@dataclass(frozen=True)
class Tls:
    grpc: grpc.ServerCredentials
    http: ssl.SSLContext


def load_tls(cert_file: Path | None, key_file: Path | None) -> Tls | None:
    """None (plaintext) unless both files are configured."""
    if cert_file is None or key_file is None:
        return None
    cert = cert_file.read_bytes()
    key = key_file.read_bytes()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return Tls(grpc=grpc.ssl_server_credentials([(key, cert)]), http=context)
