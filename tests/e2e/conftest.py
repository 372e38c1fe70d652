"""Fixtures of the end-to-end suite: a real cdc-server between the harness' source
Milvus 2.3.5 (WAL in Kafka) and a real target (Milvus 2.3.5, or milvus-lite 3.2.2).

Run it with tests/e2e/run.sh (inside a loopback-only network namespace). The servers'
addresses come from the environment or from $CDC_HARNESS_DIR/env.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import milvus_util as mu

REPO = Path(__file__).resolve().parents[2]
CDC_SERVER = Path(os.environ.get("CDC_SERVER", REPO / "build" / "cdc-server")).resolve()
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
CATCH_UP_TIMEOUT = float(os.environ.get("CDC_E2E_CATCH_UP_TIMEOUT", "180"))
# Whole test, set-up and teardown included: a call that never returns fails its test with
# the place it hung instead of holding the suite until CI's limit.
TEST_TIMEOUT = int(os.environ.get("CDC_E2E_TEST_TIMEOUT", "600"))


def harness_env(key):
    if os.environ.get(key):
        return os.environ[key]
    hdir = os.environ.get("CDC_HARNESS_DIR")
    if hdir and os.path.isfile(os.path.join(hdir, "env")):
        with open(os.path.join(hdir, "env")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                if k == key:
                    return v
    return None


def required_env(key):
    v = harness_env(key)
    if not v:
        pytest.fail(f"{key} is not set: run the suite with tests/e2e/run.sh (the harness "
                    f"writes it to $CDC_HARNESS_DIR/env)")
    return v


def artifacts_dir():
    base = os.environ.get("CDC_E2E_ARTIFACTS")
    if not base:
        base = os.path.join(os.environ.get("CDC_HARNESS_DIR") or "/tmp", "e2e")
    Path(base).mkdir(parents=True, exist_ok=True)
    return Path(base)


def report(line):
    """Prints a measured figure and appends it to $CDC_E2E_ARTIFACTS/report.txt."""
    print(line, flush=True)
    with open(artifacts_dir() / "report.txt", "a") as f:
        f.write(line + "\n")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CdcServer:
    """One cdc-server process, started and stopped by PID; restartable on the same port and
    data directory (also after kill -9)."""

    def __init__(self, workdir, kafka_brokers, source_uri, log_level="info", extra_config=""):
        """extra_config: more YAML at the top level of cdc.yaml (e.g. a limits: section)."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "cdc.yaml"
        self.config_path.write_text(
            f"log_level: {log_level}\n"
            f"source:\n"
            f"  kafka:\n    brokers: {kafka_brokers}\n"
            f"  milvus:\n    uri: {source_uri}\n"
            + extra_config)
        self.log_path = self.workdir / "cdc-server.log"
        self.proc = None
        self.exits = []  # (how, exit code)

    def start(self, env=None):
        """env: more environment variables for this start only (e.g. a failpoint)."""
        assert self.proc is None, "already running"
        with open(self.log_path, "ab") as log:
            log.write(f"==== start at {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(CDC_SERVER), "--config", str(self.config_path),
                 "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)],
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env={**os.environ, **(env or {})})
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise AssertionError(f"cdc-server exited with {rc} during start-up:\n"
                                     + self.log_tail())
            try:
                if self.http("GET", "/healthz", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"/healthz not 200 within {START_TIMEOUT}s:\n"
                                     + self.log_tail())
            time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self):
        """SIGTERM to our PID; the server must exit by itself with code 0."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.exits.append(("SIGTERM timeout, SIGKILL", None))
            raise AssertionError(f"cdc-server (pid {proc.pid}) still running "
                                 f"{STOP_TIMEOUT}s after SIGTERM:\n" + self.log_tail())
        self.exits.append(("SIGTERM", rc))
        assert rc == 0, f"cdc-server exit code {rc} after SIGTERM:\n" + self.log_tail()

    def kill9(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGKILL)
        self.exits.append(("SIGKILL", proc.wait()))

    def wait_exit(self, timeout):
        """Waits for the server to exit by itself (a failpoint); returns its exit code."""
        if self.proc is None:
            return None
        proc = self.proc
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"cdc-server (pid {proc.pid}) did not exit within {timeout}s:\n"
                                 + self.log_tail())
        self.proc = None
        self.exits.append(("exited", rc))
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def crash_restart(self):
        self.kill9()
        return self.start()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        lines = self.log().splitlines()
        return "\n".join(f"  | {l[:400]}" for l in lines[-n:])

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [l for l in self.log().splitlines() if rx.search(l)]

    # HTTP ---------------------------------------------------------------------------

    def http(self, method, path, body=None, timeout=30.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body,
                         headers={"Content-Type": "application/json"} if body else {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def cdc(self, request_type, request_data=None, expect=200):
        body = {"request_type": request_type}
        if request_data is not None:
            body["request_data"] = request_data
        status, raw = self.http("POST", "/cdc", json.dumps(body))
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = raw
        assert status == expect, (f"POST /cdc {json.dumps(body)[:600]}: expected {expect}, "
                                  f"got {status} {raw[:600]!r}\n" + self.log_tail())
        return answer.get("data") if isinstance(answer, dict) else answer

    def create_task(self, target_uri, **extra):
        data = {"milvus_connect_param": {"uri": target_uri, "connect_timeout": 10},
                "db_collections": {"*": [{"name": "*"}]}}
        data.update(extra)
        return self.cdc("create", data)["task_id"]

    def task(self, task_id):
        return self.cdc("get", {"task_id": task_id})["Task"]

    def positions(self, task_id):
        return self.cdc("position", {"task_id": task_id}).get("positions", [])

    def pause(self, task_id):
        self.cdc("pause", {"task_id": task_id})

    def resume(self, task_id):
        self.cdc("resume", {"task_id": task_id})

    def require_running(self, task_id):
        """The task has not paused itself (fails with its reason otherwise)."""
        t = self.task(task_id)
        assert t["state"] == "Running", (
            f"task {task_id} is {t['state']}, reason {t.get('reason')!r}\n" + self.log_tail())
        return t

    def wait_collections(self, target_ep, task_id, names, db_name="default", timeout=60.0):
        """Waits until the target has the collections (the task must keep running)."""
        def ready():
            self.require_running(task_id)
            return set(names) <= set(target_ep.collections(db_name))
        try:
            mu.wait_until(f"collections {names} in {db_name} on the target", ready, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.log_tail()}")

    def wait_state(self, task_id, state, timeout=20.0):
        return mu.wait_until(f"task {task_id} in state {state}",
                             lambda: (lambda t: t if t["state"] == state else None)(
                                 self.task(task_id)), timeout, 0.05)

    def wait_reading(self, task_id, kafka_brokers, source_prefix="by-dev", timeout=30.0):
        """A new task starts at the end of the WAL, resolved after create returns. Waits
        until the task reports a checkpoint for every source WAL topic that exists now
        (topics created later are read from their beginning), so that a workload started
        afterwards is wholly after the start point."""
        from confluent_kafka.admin import AdminClient
        topics = AdminClient({"bootstrap.servers": kafka_brokers}).list_topics(timeout=10).topics
        wanted = {t for t in topics if t.startswith(f"{source_prefix}-rootcoord-dml_")
                  or t == f"{source_prefix}-replicate-msg"}

        def ready():
            t = self.task(task_id)
            assert t["state"] in ("Running", "Initial"), f"task is {t}\n" + self.log_tail()
            have = {p["channel_name"] for p in self.positions(task_id)}
            return wanted <= have

        try:
            mu.wait_until(f"task {task_id} reading from the end of {sorted(wanted)}", ready,
                          timeout, 0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}; positions: {self.positions(task_id)}\n"
                                 + self.log_tail())


class Env:
    """The harness' addresses and endpoints."""

    def __init__(self):
        self.kafka = required_env("KAFKA_BROKERS")
        self.source_uri = required_env("SOURCE_MILVUS_URI")
        self.source = mu.Endpoint("src", self.source_uri)

    def endpoint(self, role, key):
        return mu.Endpoint(role, required_env(key))


@pytest.fixture(scope="session")
def env():
    e = Env()
    yield e
    e.source.close()


@pytest.fixture(scope="session")
def target(env):
    ep = env.endpoint("tgt", "TARGET_MILVUS_URI")
    yield ep
    ep.close()


@pytest.fixture(scope="session")
def standby(env):
    """The standby Milvus 2.3.5 (common.ttMsgEnabled=false) of target_mode replicate."""
    ep = env.endpoint("sby", "STANDBY_MILVUS_URI")
    yield ep
    ep.close()


@pytest.fixture(scope="session")
def lite(env):
    ep = env.endpoint("lite", "LITE_URI")
    yield ep
    ep.close()


@pytest.fixture(autouse=True)
def test_deadline(request):
    """Raises TimeoutError in the test (where it waits) after TEST_TIMEOUT seconds. pymilvus
    and grpc wait in short steps, so the signal handler runs even inside a blocked call.
    Autouse fixtures are set up first, so the deadline also covers the other fixtures'
    teardown (stopping cdc-server)."""
    def expired(signum, frame):
        raise TimeoutError(f"{request.node.name} took longer than {TEST_TIMEOUT}s "
                           f"(CDC_E2E_TEST_TIMEOUT); see the traceback for where it waited")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def names(request):
    """A prefix of names that no other test uses (the source and the targets are shared)."""
    base = re.sub(r"[^a-z0-9]", "", request.node.name.lower().replace("test_", ""))[:12]
    return f"e2e_{base}_{uuid.uuid4().hex[:6]}"


@pytest.fixture
def cdc(env, request):
    """A running cdc-server on a free port with a fresh data dir under the artifacts dir
    (kept for the report). Stopped at teardown with SIGTERM: it must exit with 0."""
    workdir = artifacts_dir() / f"{request.node.name}-{uuid.uuid4().hex[:4]}"
    server = CdcServer(workdir, env.kafka, env.source_uri).start()
    yield server
    server.stop()


def start_task(cdc, env, target_uri, **extra):
    """Creates a task for every database and collection (`extra`: more create fields, e.g.
    target_mode), and waits until it reads from the end of the WAL: call it BEFORE the
    workload."""
    task_id = cdc.create_task(target_uri, **extra)
    cdc.wait_reading(task_id, env.kafka)
    return task_id


class Replication:
    """Waits for a target to equal the source in a scope, then checks it row by row."""

    def __init__(self, env, target_ep, server, task_id, scope, lite=False):
        """lite=True: the target is milvus-lite, which hides duplicates (an insert of an
        existing key replaces the row) and names partition-key partitions its own way."""
        self.env, self.target, self.server, self.task_id = env, target_ep, server, task_id
        self.scope = scope
        self.lite = lite

    def _task_evidence(self):
        try:
            t = self.server.task(self.task_id)
            pos = self.server.positions(self.task_id)
        except Exception as e:  # noqa: BLE001
            t, pos = f"<unavailable: {e!r}>", []
        pos = {p.get("channel_name"): p.get("time") for p in pos}
        return f"task: {json.dumps(t)}\npositions (channel: applied source time ms): {pos}\n"

    def _fail_if_paused(self):
        t = self.server.task(self.task_id)
        if t.get("state") == "Paused":
            raise AssertionError(f"the task paused itself: reason {t.get('reason')!r}\n"
                                 + self._task_evidence() + self.server.log_tail())

    def check(self, timeout=CATCH_UP_TIMEOUT):
        """Source snapshot (metadata, counts, every row), then polls the target until its
        metadata and counts equal the source's, then compares every row; repeats until equal
        or the deadline. Returns (seconds waited, rows compared)."""
        src = self.env.source
        t0 = time.monotonic()
        src_meta = mu.db_meta(src, self.scope, partition_key_partitions=not self.lite)
        src_rows = {}
        for db_name, colls in src_meta["databases"].items():
            for name, meta in (colls or {}).items():
                assert meta["load"].endswith("Loaded"), (
                    f"test bug: source {db_name}.{name} is not loaded ({meta['load']})")
                rows, dups, _ = mu.dump_rows(src, db_name, name)
                assert not dups, f"source {db_name}.{name} returned duplicates {dups[:5]}"
                assert len(rows) == meta["count"], (
                    f"paging by primary key is incomplete on the SOURCE {db_name}.{name}: "
                    f"{len(rows)} rows vs count(*) {meta['count']} (a test bug)")
                src_rows[(db_name, name)] = rows
        src_secs = time.monotonic() - t0
        deadline = time.monotonic() + timeout
        problems = ["not compared yet"]
        polls = 0
        while True:
            polls += 1
            self._fail_if_paused()
            try:
                tgt_meta = mu.db_meta(self.target, self.scope,
                                      partition_key_partitions=not self.lite)
                problems = mu.diff_meta(src_meta, tgt_meta)
            except Exception as e:  # noqa: BLE001 - e.g. a collection dropped meanwhile
                problems = [f"reading target metadata: {e!r}"]
            if not problems:
                problems = self._compare_rows(src_rows)
                if not problems:
                    waited = time.monotonic() - t0 - src_secs
                    rows = sum(len(r) for r in src_rows.values())
                    return waited, rows
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        raise AssertionError(
            f"target not equal to the source after {timeout}s ({polls} polls):\n  "
            + "\n  ".join(problems[:30]) + "\n" + self._task_evidence()
            + "cdc-server log:\n" + self.server.log_tail(60))

    def _compare_rows(self, src_rows):
        problems = []
        for (db_name, name), rows in src_rows.items():
            tgt, dups, _ = mu.dump_rows(self.target, db_name, name)
            where = f"{db_name}.{name}"
            if dups:
                problems.append(f"{where}: primary keys returned more than once by the "
                                f"target's query: {sorted(set(dups))[:10]}")
            problems += [f"{where}: {p}" for p in mu.compare_rows(rows, tgt)]
        return problems
