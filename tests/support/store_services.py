"""Real storage servers for the store tests, on loopback, started once per test session.

- PostgreSQL: a throw-away cluster (initdb) in a temporary directory, its own port and socket
  directory, so an installed cluster on 5432 is never touched. Each test gets a fresh database.
- S3: moto's server (the `moto[server]` dev dependency) as a separate process; each test gets a
  fresh bucket and dummy credentials through the usual AWS variables.

Missing PostgreSQL binaries fail the tests instead of skipping them: `make test` installs them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiobotocore.session import get_session

from tests.support.ports import LOOPBACK, NotListening, free_port, wait_for_port

START_TIMEOUT_S = 30.0


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    try:
        wait_for_port(port, START_TIMEOUT_S, process)
    except NotListening as exc:
        pytest.fail(f"{exc}:\n{log.read_text()}")


# --- PostgreSQL ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str = "postgres"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{LOOPBACK}:{self.port}/{database}"

    async def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = f"test_{uuid.uuid4().hex}"
        admin = await asyncpg.connect(self.url("postgres"))
        try:
            # Identifiers cannot be parameters; the name is generated above.
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return self.url(name)


def postgres_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres (Debian keeps them off PATH)."""
    candidates: list[Path] = []
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    if pg_config := shutil.which("pg_config"):
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(bindir.stdout.strip()))
    candidates.extend(
        sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    for bindir_path in candidates:
        if all((bindir_path / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir_path
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, via pg_config"
        " or under /usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql,"
        " as `make test` does)",
        pytrace=False,
    )


def _unprivileged_ids() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: as root, run it as `postgres` (or `nobody`)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    pytest.fail("running as root and neither a `postgres` nor a `nobody` user exists")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = postgres_bindir()
    ids = _unprivileged_ids()
    # Not pytest's tmp_path: its parents are private to root, and the server runs as another user.
    root = Path(tempfile.mkdtemp(prefix="visionstudio-pg-"))
    as_user: dict[str, Any] = {}
    if ids is not None:
        os.chown(root, *ids)
        as_user = {"user": ids[0], "group": ids[1], "extra_groups": []}
    data, log, port = root / "data", root / "server.log", free_port()

    def pg(*args: str | Path) -> None:
        def run() -> None:
            subprocess.run(args, check=True, capture_output=True, text=True, cwd=root, **as_user)

        try:
            try:
                run()
            except subprocess.CalledProcessError as exc:
                if exc.returncode >= 0:
                    raise
                # Killed by a signal (pg_ctl once died of SIGSEGV on a fresh machine, and the
                # next start in the same run worked): tried once more.
                run()
        except subprocess.CalledProcessError as exc:
            server_log = log.read_text() if log.exists() else ""
            pytest.fail(f"{' '.join(map(str, args))} failed:\n{exc.stderr}\n{server_log}")

    try:
        pg(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
           "-E", "UTF8", "--locale=C")  # fmt: skip
        # Durability off: a test cluster is thrown away, and fsyncs would dominate the run.
        options = (
            f"-p {port} -k {root} -c listen_addresses={LOOPBACK}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        pg(bindir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "30", "start")
        try:
            yield PostgresServer(port)
        finally:
            pg(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- S3 (moto) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    # The usual AWS variables, pointing the SDK at this server with dummy credentials.
    env: dict[str, str]

    async def create_bucket(self, monkeypatch: pytest.MonkeyPatch) -> str:
        """A fresh bucket; the AWS variables point at this server until the test ends."""
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        bucket = f"test-{uuid.uuid4().hex}"
        async with get_session().create_client("s3", region_name=self.env["AWS_REGION"]) as client:
            await client.create_bucket(Bucket=bucket)
        return bucket


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process, log)
        endpoint = f"http://{LOOPBACK}:{port}"
        config = tmp_path_factory.mktemp("aws") / "none"
        yield S3Server(
            endpoint=endpoint,
            env={
                "AWS_ENDPOINT_URL_S3": endpoint,
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_REGION": "us-east-1",
                # A developer's own AWS files must not leak into the tests.
                "AWS_CONFIG_FILE": str(config),
                "AWS_SHARED_CREDENTIALS_FILE": str(config),
            },
        )
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
async def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    return await s3_server.create_bucket(monkeypatch)
