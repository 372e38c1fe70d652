"""Fixtures and helpers for the black-box tests of the CDC control plane.

The tests start the real binary ($CDC_SERVER, default build/cdc-server) on a
free loopback port with a temporary data directory and drive it over HTTP
with the request bodies of the contract (shared/spec/http-api.md).  The
target for create is a real Milvus-protocol server ($LITE_URI, milvus-lite).
Everything runs inside the loopback-only network namespace that
tests/run.sh entered; nothing here enters or leaves it.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CDC_SERVER = Path(os.environ.get("CDC_SERVER", REPO / "build" / "cdc-server"))
CDC_SERVER = CDC_SERVER.resolve()

START_TIMEOUT = 20.0  # seconds until /healthz answers 200
STOP_TIMEOUT = 20.0  # seconds until the process exits after SIGTERM
EXIT_TIMEOUT = 10.0  # seconds for a refused start-up to end the process

HEX32 = re.compile(r"^[0-9a-f]{32}$")
REQUEST_TYPES = ("create", "list", "get", "pause", "resume", "delete",
                 "position", "maintenance")


def free_port():
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_request(port, method, path, body=None, headers=None, timeout=30.0,
                 host="127.0.0.1"):
    """One HTTP request on a fresh connection: (status, headers, body)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, hdrs, resp.read()
    finally:
        conn.close()


def check_envelope(status, headers, raw):
    """Parse a /cdc answer and check what every answer must satisfy.

    JSON object, Content-Type application/json, "code" equal to the HTTP
    status (extension of the contract), and exactly the keys of the success
    or the failure shape.
    """
    ctype = headers.get("content-type", "")
    assert ctype.split(";")[0].strip() == "application/json", (
        f"Content-Type {ctype!r} (status {status}, body {raw[:300]!r})")
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise AssertionError(f"answer is not JSON ({e}): {raw[:300]!r}")
    assert isinstance(body, dict), f"answer is not an object: {body!r}"
    assert body.get("code") == status, (
        f"HTTP status {status} but body code {body.get('code')!r}: {body!r}")
    if status == 200:
        assert set(body) == {"code", "data"}, f"success shape: {body!r}"
        assert isinstance(body["data"], dict), f"data: {body!r}"
    else:
        assert set(body) == {"code", "message"}, f"failure shape: {body!r}"
        assert isinstance(body["message"], str) and body["message"], (
            f"failure without message: {body!r}")
    return body


def assert_error(status, body, code, *words):
    """The answer is a failure with `code` whose message has all `words`."""
    assert status == code, f"expected {code}, got {status}: {body!r}"
    msg = body["message"].lower()
    for w in words:
        assert w.lower() in msg, (
            f"message does not name {w!r}: {body['message']!r}")


def create_data(uri, collections=None, token="root:Milvus", timeout=10,
                **extra):
    """request_data of a create in the documented form."""
    data = {
        "milvus_connect_param": {
            "uri": uri, "token": token, "connect_timeout": timeout},
        "collection_infos": (collections if collections is not None
                             else [{"name": "*"}]),
    }
    data.update(extra)
    return data


def create_body(uri, collections=None, **kw):
    return {"request_type": "create",
            "request_data": create_data(uri, collections, **kw)}


class CdcServer:
    """One cdc-server process; restartable on the same port and data dir."""

    def __init__(self, workdir, config=None, data_dir=None, port=None,
                 extra_args=()):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.data_dir = Path(data_dir or self.workdir / "data")
        self.config_path = None
        if config is not None:
            self.config_path = self.workdir / "cdc.yaml"
            self.config_path.write_text(config)
        self.extra_args = list(extra_args)
        self.log_path = self.workdir / "server.log"
        self.proc = None
        self.starts = 0

    def args(self):
        a = [str(CDC_SERVER)]
        if self.config_path is not None:
            a += ["--config", str(self.config_path)]
        a += ["--listen", f"127.0.0.1:{self.port}",
              "--data-dir", str(self.data_dir)]
        return a + self.extra_args

    def start(self):
        assert self.proc is None, "already running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args(), cwd=self.workdir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=log)
        self.starts += 1
        self.wait_ready()
        return self

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise AssertionError(
                    f"cdc-server exited with {rc} during start-up; log:\n"
                    + self.log()[-4000:])
            try:
                status, _, _ = http_request(self.port, "GET", "/healthz",
                                            timeout=2.0)
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"/healthz not 200 within {START_TIMEOUT}s; log:\n"
                    + self.log()[-4000:])
            time.sleep(0.05)

    def stop(self):
        """SIGTERM; the process must exit by itself with code 0."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"no exit within {STOP_TIMEOUT}s of SIGTERM; log:\n"
                + self.log()[-4000:])
        assert rc == 0, (f"exit code {rc} after SIGTERM; log:\n"
                         + self.log()[-4000:])

    def kill9(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.kill()
        proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    def crash_restart(self):
        self.kill9()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # HTTP ---------------------------------------------------------------

    def http(self, method, path, body=None, headers=None, timeout=30.0):
        return http_request(self.port, method, path, body, headers, timeout)

    def cdc(self, body, method="POST", timeout=30.0):
        """POST /cdc with a dict (sent as JSON) or raw str/bytes.

        Returns (status, parsed body) after check_envelope.
        """
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        status, headers, raw = self.http(
            method, "/cdc", body, {"Content-Type": "application/json"},
            timeout)
        return status, check_envelope(status, headers, raw)

    def ok(self, body):
        status, resp = self.cdc(body)
        assert status == 200, f"expected 200 for {body!r}, got {resp!r}"
        return resp["data"]

    def create(self, request_data):
        data = self.ok({"request_type": "create",
                        "request_data": request_data})
        assert set(data) == {"task_id"}, f"create data: {data!r}"
        assert HEX32.match(data["task_id"]), data
        return data["task_id"]

    def tasks(self):
        data = self.ok({"request_type": "list"})
        assert set(data) == {"tasks"}, data
        assert isinstance(data["tasks"], list), data
        return data["tasks"]

    def task(self, task_id):
        data = self.ok({"request_type": "get",
                        "request_data": {"task_id": task_id}})
        assert set(data) == {"Task"}, data
        return data["Task"]

    def pause(self, task_id):
        assert self.ok({"request_type": "pause",
                        "request_data": {"task_id": task_id}}) == {}

    def resume(self, task_id):
        assert self.ok({"request_type": "resume",
                        "request_data": {"task_id": task_id}}) == {}

    def delete(self, task_id):
        assert self.ok({"request_type": "delete",
                        "request_data": {"task_id": task_id,
                                         "ignore_not_found": False}}) == {}

    def wait_state(self, task_id, state, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(task_id)
            if task["state"] == state:
                return task
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"task {task_id} is {task['state']!r}, not {state!r} "
                    f"after {timeout}s: {task!r}")
            time.sleep(0.05)

    def healthy(self):
        status, _, _ = self.http("GET", "/healthz", timeout=5.0)
        return status == 200


@pytest.fixture
def make_server(tmp_path):
    """Factory: make_server(config=None, **kw) starts a server.

    Every server it started is stopped with SIGTERM at teardown and must
    exit with code 0.
    """
    servers = []

    def make(config=None, start=True, name=None, **kw):
        workdir = tmp_path / (name or f"server{len(servers)}")
        s = CdcServer(workdir, config=config, **kw)
        servers.append(s)
        return s.start() if start else s

    yield make
    failures = []
    for s in servers:
        try:
            s.stop()
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n".join(failures))


@pytest.fixture
def server(make_server):
    return make_server()


def harness_env(key):
    """KEY from the environment, else from $CDC_HARNESS_DIR/env.

    The harness writes plain KEY=VALUE lines; a shell that sources them
    without `set -a` does not export them to pytest.
    """
    if os.environ.get(key):
        return os.environ[key]
    hdir = os.environ.get("CDC_HARNESS_DIR")
    if hdir and os.path.isfile(os.path.join(hdir, "env")):
        with open(os.path.join(hdir, "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k == key:
                    return v
    return None


@pytest.fixture(scope="session")
def lite_uri():
    uri = harness_env("LITE_URI")
    if not uri:
        pytest.fail("LITE_URI is not set: run the suite through tests/run.sh "
                    "(milvus-lite started by tests/harness/harness.sh)")
    return uri.rstrip("/")


@pytest.fixture
def closed_uri():
    """A target address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def run_to_exit(args, cwd, timeout=EXIT_TIMEOUT):
    """Run cdc-server expecting it to end by itself: (exit code, output)."""
    proc = subprocess.Popen([str(CDC_SERVER)] + list(args), cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise AssertionError(f"cdc-server {args} still running after "
                             f"{timeout}s; it should have refused to start")
    return proc.returncode, (out + err).decode(errors="replace")
