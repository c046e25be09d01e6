"""A real, throwaway PostgreSQL 15 server for tests: initdb + pg_ctl in a temporary folder, on a free port.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the ``postgres``
system user (``setpriv``).  A machine without the server binaries fails the test with a clear message;
it is never skipped (install them with environments/host/install-deps.sh).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2


def _pg_bin() -> Path:
    """The newest PostgreSQL server of this machine (Debian 12 ships 15, Debian 13 17)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if
                   p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/<version>/bin")


PG_BIN = _pg_bin()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *cmd]


@contextmanager
def postgres_server(database: str) -> Iterator[str]:
    """Start a server, create ``database``, yield its URL; stop the server and remove its files after."""
    initdb = PG_BIN / "initdb"
    assert initdb.is_file(), (f"PostgreSQL server binaries missing ({initdb}): install the Debian package "
                              "postgresql (environments/host/install-deps.sh)")
    base = Path(tempfile.mkdtemp(prefix="dflab-pg-", dir="/tmp"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (base, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    try:
        subprocess.run(_as_server_user([str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust",
                                        "--no-sync", "-E", "UTF8"]), **run)
        subprocess.run(_as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "60",
                                        "-l", str(base / "server.log"),
                                        "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off",
                                        "start"]), **run)
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{database}"')
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                           capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)
