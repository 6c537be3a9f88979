"""Real processes for fault drills: the Procfile's Celery worker and beat, a private redis-server
and a private PostgreSQL cluster, each on 127.0.0.1 and each killable and restartable by the test.

Drills restart these, never the machine's shared Redis or PostgreSQL: other test runs use those.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.servers import ROOT, free_port


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll `predicate` until it is true; fail naming `what` (its value may be a callable for details)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")


def procfile_command(name: str) -> list[str]:
    """The Procfile's `name` line as an argv (its `celery` run by this interpreter)."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            argv = shlex.split(line.split(":", 1)[1])
            if argv[0] == "celery":
                argv = [sys.executable, "-m", "celery", *argv[1:]]
            return argv
    raise LookupError(f"no `{name}` process in the Procfile")


class CeleryProcess:
    """The Procfile's `worker` or `beat`, in its own process group so that a kill takes all of it."""

    READY = {"worker": " ready.", "beat": "beat: Starting..."}

    def __init__(self, role: str, env: dict[str, str], name: str | None = None):
        self.role = role
        self.env = env
        self.name = name or role
        # Its own log, whatever earlier runs left (a restart of this process appends to it).
        self.log_path = ROOT / "var" / f"celery-{self.name}-{uuid.uuid4().hex[:8]}.log"
        self.process: subprocess.Popen | None = None
        self._schedule_dir: str | None = None

    def argv(self) -> list[str]:
        argv = procfile_command(self.role)
        if self.role == "worker":
            # One queue per test; gossip, mingle and heartbeats only slow the start of a lone worker.
            argv += ["-Q", self.env["CELERY_QUEUE"], "-n", f"{self.name}@%h",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"]
        else:
            self._schedule_dir = self._schedule_dir or tempfile.mkdtemp(prefix="hotline-beat-")
            argv += ["--schedule", os.path.join(self._schedule_dir, "schedule")]
        return argv

    def start(self) -> "CeleryProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._ready_before = self.log().count(self.READY[self.role])  # a restart appends to the same log
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv(), cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 60) -> "CeleryProcess":
        marker = self.READY[self.role]
        started = self._ready_before

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log()}")
            return self.log().count(marker) > started

        wait_for(ready, timeout, lambda: f"{self.name} to start:\n{self.log()}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL to the whole group: no warm shutdown, no acknowledgement, no requeue."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._schedule_dir:
            shutil.rmtree(self._schedule_dir, ignore_errors=True)
            self._schedule_dir = None


class RedisServer:
    """A throwaway redis-server on a free 127.0.0.1 port, nothing saved to disk."""

    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)

        def up():
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(up, 10, f"redis-server on port {self.port}")
        client.close()
        return self

    def kill(self) -> None:
        """kill -9: a crash; everything it held is gone (nothing is saved). `start()` brings up an
        empty Redis on the same port."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian's layout), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster of its own in a temporary directory, on a free 127.0.0.1 port.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` user. Trust
    authentication: it listens on 127.0.0.1 only and lives for one test.
    """

    def __init__(self):
        self.bin = postgres_bin()
        if self.bin is None:
            raise LookupError("no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.data = self.dir / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, user="postgres")

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> "PrivatePostgres":
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> "PrivatePostgres":
        # fsync off: a drill's data need not survive the machine, and the restart stays quick.
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")
        return self

    def crash(self) -> None:
        """`pg_ctl stop -m immediate`: SIGQUIT to the postmaster, every backend dies at once, no
        shutdown checkpoint; the next start recovers from the WAL, as after a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


# Figures of the drills run in this session, shown in the terminal summary (tests/conftest.py).
DRILL_FIGURES: list[str] = []


def report(drill: str, **figures) -> str:
    line = f"{drill}: " + ", ".join(f"{name}={value}" for name, value in figures.items())
    print(line)
    DRILL_FIGURES.append(line)
    return line


class SentinelGroup:
    """A Redis master, one replica and three `redis-sentinel` processes watching them, all on free
    127.0.0.1 ports, nothing saved to disk. Fast failure detection (DOWN_AFTER_MS) so that a drill
    fails over in seconds; a quorum of two, as in production with three sentinels."""

    MASTER_NAME = "hotline"
    DOWN_AFTER_MS = 1000
    FAILOVER_TIMEOUT_MS = 3000

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-sentinel-"))
        self.redis_ports = [free_port(), free_port()]  # master, replica
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS for this group."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def _redis(self, port: int, *extra: str) -> None:
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def _sentinel(self, port: int, master_port: int) -> None:
        config = self.dir / f"sentinel-{port}.conf"  # sentinel rewrites its own file as it learns
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {self.MASTER_NAME} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {self.MASTER_NAME} {self.DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {self.MASTER_NAME} {self.FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {self.MASTER_NAME} 1\n"
        )
        binary = shutil.which("redis-sentinel") or "redis-sentinel"
        with open(self.dir / f"sentinel-{port}.log", "ab") as log:
            self.processes[port] = subprocess.Popen([binary, str(config)], stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> "SentinelGroup":
        import redis

        master, replica = self.redis_ports
        self._redis(master)
        self._redis(replica, "--replicaof", "127.0.0.1", str(master))
        for port in self.sentinel_ports:
            self._sentinel(port, master)

        def replica_in_sync() -> bool:
            try:
                with redis.Redis(port=replica, socket_timeout=1) as client:
                    return client.info("replication").get("master_link_status") == "up"
            except redis.ConnectionError:
                return False

        def sentinels_agree() -> bool:
            try:
                for port in self.sentinel_ports:
                    with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as client:
                        state = client.sentinel_master(self.MASTER_NAME)
                        if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                            return False
                return True
            except (redis.ConnectionError, redis.ResponseError):
                return False

        wait_for(replica_in_sync, 20, "the replica to sync with the master")
        wait_for(sentinels_agree, 30, lambda: f"three sentinels to see each other and the replica:\n{self.logs()}")
        return self

    def master_port(self) -> int | None:
        """The port of the master as a majority of the live sentinels see it now."""
        import redis

        seen = []
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=1) as client:
                    address = client.execute_command("SENTINEL", "get-master-addr-by-name", self.MASTER_NAME)
                    seen.append(int(address[1]))
            except redis.ConnectionError:
                continue
        return max(set(seen), key=seen.count) if seen else None

    def kill_master(self) -> int:
        """kill -9 the current master; returns its port."""
        port = self.master_port()
        process = self.processes[port]
        process.kill()
        process.wait(10)
        return port

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(self.dir.glob("*.log")))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
