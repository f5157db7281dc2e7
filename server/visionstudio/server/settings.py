"""The service's configuration: one typed object, read once at start-up and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MiB = 1024 * 1024


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything the server reads from the environment (prefix ``VISIONSTUDIO_``).

    The provider's own settings (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``) are read by the openai
    SDK itself, so any OpenAI-compatible endpoint works without a second name for them.
    """

    model_config = SettingsConfigDict(env_prefix="VISIONSTUDIO_", extra="ignore")

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # A file with one client key per line (# comments allowed), read as well as api_keys.
    api_keys_file: Path | None = None
    grpc_port: int = 50051
    http_port: int = 8527
    host: str = "0.0.0.0"
    data_dir: Path = Path(".data")
    # Job records: None = SQLite in data_dir; sqlite:///abs/path.db or postgresql://u:p@host/db.
    database_url: str | None = None
    # Image bytes: None = a directory in data_dir; file:///abs/dir or s3://bucket/prefix.
    blob_url: str | None = None
    # Base of the image URLs handed to callers; defaults to http://localhost:<http_port>.
    public_url: str | None = None
    # Signs image URLs so they load in a browser without a key; generated in data_dir if unset.
    url_signing_key: SecretStr | None = None
    url_ttl_s: int = 7 * 24 * 3600

    model: str = "gpt-image-2.5-flare"
    upstream_timeout_s: float = 600.0
    # Retries of 429/5xx/connection failures (the SDK's own retries are off), with backoff.
    upstream_max_retries: int = 2
    upstream_backoff_initial_s: float = 0.5
    upstream_backoff_max_s: float = 8.0
    # Upstream image calls in flight, and admitted ones waiting, per process and per API key;
    # a job that does not fit is refused at once (RESOURCE_EXHAUSTED).
    upstream_concurrency: int = 32
    max_queued_images: int = 256
    per_key_concurrency: int = 16
    per_key_queued_images: int = 64
    per_key_images_per_minute: int = 0
    # The budget learns the provider's limits from its answers (x-ratelimit-* headers, 429s);
    # these optional ceilings (per minute, 0: none) cap it further. For replicas sharing one
    # account, give each its share, or share them (below).
    provider_images_per_minute: int = 0
    provider_requests_per_minute: int = 0
    # Replicas sharing one provider account share one budget in the PostgreSQL database (the
    # database_url's), under this account name.
    provider_budget_shared: bool = False
    provider_account: str = "default"
    # Several upstream deployments (OpenAI accounts, Azure OpenAI deployments): a TOML file of
    # [[deployment]] tables (see provider/providers_file.py). Unset: one deployment from the
    # SDK's variables and `model`. A deployment that failed is skipped this long, then probed.
    providers_file: Path | None = None
    deployment_probe_after_s: float = 30.0

    max_message_bytes: int = 64 * MiB
    max_input_bytes: int = 50 * MiB
    max_input_pixels: int = 40_000_000
    fetch_timeout_s: float = 20.0
    fetch_connect_timeout_s: float = 5.0
    fetch_max_redirects: int = 3
    # Hosts or CIDR ranges whose private/loopback addresses image URLs may still reach.
    url_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Hardening (#15): memory, connections and what /metrics reveals under hostile load.
    # Pixels prep holds decoded at once over all jobs (about 3-4 bytes each, a few copies).
    prep_pixel_budget: int = 100_000_000
    # The largest canvas a border may grow an image to.
    max_canvas_pixels: int = 64_000_000
    # Token usage per API key on /metrics (ids keyed with the URL signing key); off: one series.
    metrics_per_key: bool = False
    # Connections (#15). HTTP: connections open at once (at the cap the oldest idle or
    # half-sent one is closed for a newcomer), seconds a connection may go without a complete
    # request (headers included, also between keep-alive requests).
    http_max_connections: int = 4096
    http_idle_timeout_s: float = 30.0
    # gRPC: connections open at once, calls per connection, seconds for a new connection's
    # handshake (TLS and HTTP/2 preface) and before an idle connection is closed.
    grpc_max_connections: int = 4096
    grpc_max_concurrent_streams: int = 2048
    grpc_handshake_timeout_s: float = 10.0
    grpc_max_connection_idle_s: float = 300.0
    # Request bytes being received at once over both surfaces (a gRPC call reserves
    # max_message_bytes while its message arrives, an HTTP body its length); a call waits
    # this long for room before it is refused UNAVAILABLE (HTTP 503). A body or message
    # must arrive within request_body_timeout_s.
    request_bytes_budget: int = 512 * MiB
    request_bytes_wait_s: float = 10.0
    request_body_timeout_s: float = 120.0

    # Bounds a call when the caller sets no gRPC deadline, and bounds every job.
    max_call_s: float = 900.0
    # True: a job whose caller went away (or stopped waiting) runs on and keeps its images.
    # False: it is cancelled, and its upstream requests aborted.
    detach_jobs: bool = True
    # How long an idempotency key re-attaches to its first job.
    idempotency_window_s: float = 86400.0
    # Jobs and their images older than this are deleted (0 keeps everything).
    retention_s: float = 30 * 86400.0
    retention_interval_s: float = 3600.0
    # A stream with nothing else to send gets a progress event this often.
    progress_interval_s: float = 10.0
    shutdown_grace_s: float = 30.0
    # Durable jobs and batches: the replica making a job (driving a batch) renews its lease on
    # it a third of the way through; when the lease runs out (the replica died) another
    # replica, or the restarted server, carries it on within about 1.5 leases. Two thirds of it
    # longer than any pause of a live process.
    job_lease_s: float = 30.0
    # Batches (RunBatch): how many items of one batch run at once. The rest wait their turn,
    # so a large batch takes a share of its key's slots instead of all of them.
    batch_item_concurrency: int = Field(default=4, ge=1, le=64)
    # How often the provider's reachability is probed for readiness (grpc health, /readyz).
    health_probe_interval_s: float = 30.0
    # grpc.health.v1 also on this port, answered off the event loop (quick under any load);
    # unset: only on the gRPC port.
    health_port: int | None = None
    # PEM files; when both are set, gRPC and HTTP serve TLS only.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    log_format: str = "json"
    # uvloop (libuv) or the standard library's asyncio loop.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    _split_lists = field_validator("api_keys", "url_allowlist", mode="before")(_split_csv)


def client_keys(settings: Settings) -> list[str]:
    keys = [k.get_secret_value() for k in settings.api_keys]
    if settings.api_keys_file is not None:
        for line in settings.api_keys_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
    return keys
