"""Real PostgreSQL for tests: use the server on 127.0.0.1 if one runs, else install (apt) and start one.

Databases are created per test session with a random name and dropped afterwards.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def ensure_postgres(port: int = 5432) -> None:
    if _listening(port):
        return
    if not shutil.which("pg_ctlcluster"):
        _run("apt-get", "update", "-q")
        _run("apt-get", "install", "-y", "-q", "postgresql")
    clusters = _run("pg_lsclusters", "--no-header").stdout.split()
    if not clusters:
        _run("pg_createcluster", "15", "main")
        clusters = _run("pg_lsclusters", "--no-header").stdout.split()
    version, name = clusters[0], clusters[1]
    subprocess.run(["pg_ctlcluster", version, name, "start"], capture_output=True)
    for _ in range(50):
        if _listening(port):
            return
        time.sleep(0.2)
    raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1:{port}")


def psql(sql: str) -> str:
    """Run SQL as the postgres superuser (peer authentication over the local socket)."""
    return _run("runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-Atc", sql).stdout


def create_database() -> tuple[str, str]:
    """A fresh role and database; returns (DATABASE_URL, name)."""
    ensure_postgres()
    name = f"studio_test_{secrets.token_hex(4)}"
    password = secrets.token_hex(12)
    psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' CREATEDB")
    psql(f"CREATE DATABASE {name} OWNER {name}")
    return f"postgres://{name}:{password}@127.0.0.1:5432/{name}", name


def drop_database(name: str) -> None:
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(f"DROP ROLE IF EXISTS {name}")


def ensure_redis(port: int = 6379) -> str:
    """A Redis on 127.0.0.1:``port`` (this machine's, else installed with apt and started); its URL."""
    if not _listening(port):
        if not shutil.which("redis-server"):
            _run("apt-get", "update", "-q")
            _run("apt-get", "install", "-y", "-q", "redis-server")
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            capture_output=True,
        )
        for _ in range(50):
            if _listening(port):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"Redis did not start on 127.0.0.1:{port}")
    return f"redis://127.0.0.1:{port}"
