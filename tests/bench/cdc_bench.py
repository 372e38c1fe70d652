"""cdc_bench: the CDC benchmark of issue 7, side by side with zilliztech/milvus-cdc.

A program, not a test: it prints figures. Run it with tests/bench/run.sh (inside a
loopback-only network namespace, with the harness's source Milvus 2.3.5 -> Kafka, the normal
Milvus 2.3.5 target and the standby Milvus 2.3.5); see tests/bench/README.md.

Workloads (one pymilvus client; count(*) polled on the target at consistency Eventually):
  live128   200 000 rows of 128-d in batches of 5 000: rows / (first insert -> target has
            them all), and how long after the last insert was acknowledged
  live768   100 000 rows of 768-d in batches of 2 000, the same
  backlog   task paused, 100 000 rows of 128-d inserted (batches of 5 000), task resumed:
            rows / (resume -> target has them all); then idle CPU for a while
  lag       500 rows/s for 60 s in batches every 100 ms; the first row of each batch is a
            marker: insert acknowledged -> marker visible on the target (p50/p99), and the
            same polled on the source itself (Milvus's own visibility floor)
Systems, each workload from a clean state (fresh server process and data dir or meta root,
a new task, a new collection that is dropped afterwards):
  raw             build/tests/raw_ceiling: our C++ client inserting the same batches
                  straight into the normal target (live128, live768, backlog)
  ours-api        cdc-server, target_mode api, to the normal Milvus target
  ours-replicate  cdc-server, target_mode replicate, to the standby ("not supported by this
                  build" when the task pauses saying so)
  peer-<label>    a milvus-cdc binary (--peer), which replicates to the standby
Per CDC system and workload: peak RSS and CPU (cores) of the server process per phase.
Once per run: decode throughput on one core (build/tests/decode_bench, 768-d inserts).
Medians over --runs; ratios ours/peer are taken per run, then their median.
Output: a table on stdout, DIR/results.json, and DIR/bench.png (tests/bench/plot.py).
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path

import numpy as np
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, connections, utility

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

WORKLOADS = ["live128", "live768", "backlog", "lag"]
REPLICATE_CHANNEL = "by-dev-replicate-msg"
def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- environment

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
        sys.exit(f"cdc_bench: {key} is not set: run it with tests/bench/run.sh (the harness "
                 f"writes it to $CDC_HARNESS_DIR/env)")
    return v


def source_etcd_root():
    """The source Milvus's ETCD_ROOTPATH (harness: cdc-harness-source)."""
    hdir = os.environ.get("CDC_HARNESS_DIR", "")
    p = Path(hdir) / "source" / "rootpath"
    return p.read_text().strip() if p.is_file() else "cdc-harness-source"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, fn, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except (BenchSkip, TaskPaused):
            raise
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last_exc = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s"
                               + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


class BenchSkip(Exception):
    """This system cannot run this workload in this build (e.g. mode not implemented)."""


class TaskPaused(RuntimeError):
    """The task paused itself: the run of this system and workload failed."""


# --------------------------------------------------------------------------- process sampling

def proc_sample(pid):
    """(cpu seconds user+system, RSS MB) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
        return cpu, int(fields[21]) * PAGE_SIZE / 1e6  # rss pages -> MB (10^6 bytes)
    except (OSError, ValueError, IndexError):
        return None


class Sampler(threading.Thread):
    """Samples CPU time and RSS of one process every `interval` s; `window(t0, t1)` gives the
    peak RSS and the CPU used (seconds and cores) between two time.monotonic() instants."""

    def __init__(self, pid, interval=0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples = []  # (t, cpu_s, rss_mb)
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            s = proc_sample(self.pid)
            if s is None:
                break
            self.samples.append((time.monotonic(), s[0], s[1]))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(5)

    def window(self, t0, t1):
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        before = [s for s in self.samples if s[0] <= t0]
        after = [s for s in self.samples if s[0] >= t1]
        a = before[-1] if before else (inside[0] if inside else None)
        b = after[0] if after else (inside[-1] if inside else None)
        if a is None or b is None or b[0] <= a[0]:
            return {"peak_rss_mb": None, "cpu_s": None, "cpu_cores": None}
        rss = [s[2] for s in inside] or [a[2], b[2]]
        return {"peak_rss_mb": round(max(rss), 1), "cpu_s": round(b[1] - a[1], 3),
                "cpu_cores": round((b[1] - a[1]) / (b[0] - a[0]), 4)}


def thread_cpu(pid):
    """{thread name: CPU seconds} of every thread of a process (threads of one name summed)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def vm_hwm_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1.024 / 1000.0
    except OSError:
        pass
    return None


# --------------------------------------------------------------------------- Milvus

class Endpoint:
    """One Milvus server (default database), through one pymilvus alias."""

    def __init__(self, role, uri):
        self.role, self.uri = role, uri.rstrip("/")
        self.alias = f"bench-{role}-{uuid.uuid4().hex[:6]}"
        connections.connect(alias=self.alias, uri=self.uri, timeout=30)

    def collections(self):
        return utility.list_collections(using=self.alias)

    def has(self, name):
        return utility.has_collection(name, using=self.alias)

    def create(self, name, dim, index=True, load=True):
        schema = CollectionSchema([FieldSchema("pk", DataType.INT64, is_primary=True),
                                   FieldSchema("vec", DataType.FLOAT_VECTOR, dim=dim)])
        c = Collection(name, schema, using=self.alias, shards_num=1)
        if index:
            c.create_index("vec", {"index_type": "FLAT", "metric_type": "L2", "params": {}})
        if load:
            c.load()
        return c

    def collection(self, name):
        return Collection(name, using=self.alias)

    def loaded(self, name):
        return (self.has(name)
                and str(utility.load_state(name, using=self.alias)).endswith("Loaded"))

    def count(self, name):
        c = Collection(name, using=self.alias)
        return c.query("", output_fields=["count(*)"],
                       consistency_level="Eventually")[0]["count(*)"]

    def drop(self, name):
        try:
            if self.has(name):
                utility.drop_collection(name, using=self.alias)
            return True
        except Exception as e:  # noqa: BLE001
            log(f"{self.role}: could not drop {name}: {e!r}")
            return False


class VectorPool:
    """A few batches of random vectors as Python lists (built before the clock starts; the
    batches are reused with new primary keys: the CDC does not look at vector values)."""

    def __init__(self, dim, batch, distinct=4, seed=7):
        rng = np.random.default_rng(seed)
        self.batches = [(rng.random((batch, dim), dtype=np.float32) * 2 - 1).tolist()
                        for _ in range(distinct)]

    def rows(self, i, n):
        v = self.batches[i % len(self.batches)]
        return v if n == len(v) else v[:n]


def insert_batches(coll, pool, rows, batch, first_pk=0):
    """Inserts rows [first_pk, first_pk+rows) in batches; returns (t_first, t_last_ack)."""
    t0 = time.monotonic()
    for i, lo in enumerate(range(0, rows, batch)):
        n = min(batch, rows - lo)
        pks = list(range(first_pk + lo, first_pk + lo + n))
        coll.insert([pks, pool.rows(i, n)])
    return t0, time.monotonic()


class CountPoller(threading.Thread):
    """Polls count(*) of a collection (consistency Eventually) every `interval` s until it
    reaches `want`; samples (t, count) whenever the count changes."""

    def __init__(self, ep, name, want, interval=0.05, timeout=900):
        super().__init__(daemon=True)
        self.ep, self.name, self.want = ep, name, want
        self.interval, self.timeout = interval, timeout
        self.samples, self.errors = [], 0
        self.reached = None
        self._halt = threading.Event()
        self.t_start = time.monotonic()

    def run(self):
        last = -1
        c = self.ep.collection(self.name)
        while not self._halt.is_set():
            now = time.monotonic()
            try:
                n = c.query("", output_fields=["count(*)"],
                            consistency_level="Eventually")[0]["count(*)"]
            except Exception:  # noqa: BLE001 - transient while segments move
                self.errors += 1
                n = None
            if n is not None and n != last:
                last = n
                self.samples.append((now, n))
                if n >= self.want:
                    self.reached = now
                    return
            if now - self.t_start > self.timeout:
                return
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(30)


class AppliedPoller(threading.Thread):
    """Our server only: polls GET /metrics every `interval` s and samples (t, rows) of
    cdc_rows_applied_total{kind="Insert"} whenever it changes: when the server had the rows
    acknowledged by the target, as against when the target shows them (count(*))."""

    RX = re.compile(r'^cdc_rows_applied_total\{[^}]*kind="Insert"[^}]*\}\s+([0-9.e+]+)', re.M)

    def __init__(self, sysobj, want, interval=0.1):
        super().__init__(daemon=True)
        self.sysobj, self.want, self.interval = sysobj, want, interval
        self.samples = []
        self.reached = None
        self._halt = threading.Event()

    def run(self):
        last = -1
        while not self._halt.is_set():
            now = time.monotonic()
            n = int(sum(float(v) for v in self.RX.findall(self.sysobj.metrics())))
            if n != last:
                last = n
                self.samples.append((now, n))
                if n >= self.want:
                    self.reached = now
                    return
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(10)


# --------------------------------------------------------------------------- CDC servers

def http_post(port, body, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/cdc", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {"raw": raw.decode(errors="replace")}
    return resp.status, answer


class CdcProcess:
    """Common part of our server and the peer: a process on a free port with a work dir,
    started fresh for every workload and stopped by PID."""

    key = "?"
    target_role = "target"

    def __init__(self, workroot):
        self.workroot = Path(workroot)
        self.proc = None
        self.port = None
        self.workdir = None
        self.task_id = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def cdc(self, request_type, data=None, ok_only=True):
        body = {"request_type": request_type}
        if data is not None:
            body["request_data"] = data
        status, answer = http_post(self.port, body)
        if ok_only and (status != 200 or answer.get("code") != 200):
            raise RuntimeError(f"{self.key}: POST /cdc {request_type}: HTTP {status} {answer}\n"
                               + self.log_tail())
        return answer.get("data") or {}

    def log_tail(self, n=30):
        try:
            lines = (self.workdir / "server.log").read_text(errors="replace").splitlines()
        except (OSError, TypeError):
            return ""
        return "\n".join("  | " + l[:300] for l in lines[-n:])

    def _launch(self, argv, cwd):
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "server.log", "ab") as logf:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, start_new_session=True)

    def _wait_http(self, timeout=60):
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.key} exited with {self.proc.returncode} at start:\n"
                                   + self.log_tail())
            try:
                status, answer = http_post(self.port, {"request_type": "list"}, timeout=2)
                return status == 200
            except OSError:
                return False
        wait_until(f"{self.key} answering on port {self.port}", up, timeout, 0.1)

    def stop(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                log(f"{self.key}: pid {proc.pid} still running 30 s after SIGTERM: SIGKILL")
                proc.kill()
                proc.wait()

    def task(self):
        data = self.cdc("get", {"task_id": self.task_id})
        return data.get("Task") or data.get("task") or {}  # milvus-cdc v1.0.0: "task"

    def state(self):
        t = self.task()
        return str(t.get("state")), t.get("reason") or ""

    def pause(self):
        self.cdc("pause", {"task_id": self.task_id})

    def resume(self):
        self.cdc("resume", {"task_id": self.task_id})

    def check_running(self):
        """Raises when the task paused itself: BenchSkip when it says that its mode is not
        implemented in this build, TaskPaused otherwise."""
        state, reason = self.state()
        if "paus" in state.lower():
            if getattr(self, "mode", "") == "replicate" and re.search(
                    r"mode replicate is not (yet )?implemented|not implemented yet|"
                    r"not supported by this", reason, re.I):
                raise BenchSkip(f"not supported by this build ({reason})")
            raise TaskPaused(f"{self.key}: the task paused itself: {reason}\n"
                             + self.log_tail())


class Ours(CdcProcess):
    def __init__(self, binary, mode, workroot, env, extra_config=""):
        super().__init__(workroot)
        self.binary, self.mode, self.env = binary, mode, env
        self.extra_config = extra_config
        self.key = f"ours-{mode}"
        self.target_role = "target" if mode == "api" else "standby"

    def start(self, tag):
        self.workdir = self.workroot / f"{self.key}-{tag}"
        self.port = free_port()
        cfg = self.workdir / "cdc.yaml"
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg.write_text(f"log_level: info\nsource:\n  kafka:\n    brokers: {self.env['kafka']}\n"
                       f"  milvus:\n    uri: {self.env['source']}\n" + self.extra_config)
        self._launch([str(self.binary), "--config", str(cfg), "--listen",
                      f"127.0.0.1:{self.port}", "--data-dir", str(self.workdir / "data")],
                     self.workdir)
        self._wait_http()

    def create_task(self):
        uri = self.env[self.target_role]
        param = {"uri": uri, "connect_timeout": 10}
        if self.mode == "replicate":
            param["channel_num"] = 16
        self.task_id = self.cdc("create", {"milvus_connect_param": param,
                                           "collection_infos": [{"name": "*"}],
                                           "target_mode": self.mode})["task_id"]

    def wait_ready(self):
        """A new task starts at the end of the WAL, resolved after create returns: wait until
        it has a checkpoint for every WAL topic that exists (later topics are read from their
        beginning). A task that pauses at once because its mode is not implemented: skip."""
        from confluent_kafka.admin import AdminClient
        topics = AdminClient({"bootstrap.servers": self.env["kafka"]}).list_topics(
            timeout=10).topics
        wanted = {t for t in topics if t.startswith("by-dev-rootcoord-dml_")
                  or t == REPLICATE_CHANNEL}

        def ready():
            self.check_running()
            have = {p["channel_name"] for p in
                    self.cdc("position", {"task_id": self.task_id}).get("positions", [])}
            return wanted <= have
        wait_until(f"{self.key} task reading from the end of the WAL", ready, 60, 0.1)

    def metrics(self):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode(errors="replace")
            conn.close()
            return text
        except OSError:
            return ""


class Peer(CdcProcess):
    """zilliztech/milvus-cdc (v1.0.0 or v2.x): reads ./configs/cdc.yaml from its working
    directory; replicates to a standby (ReplicateMessage). One configuration and one create
    request serve both versions: v1.0.0 reads the keys that v2 still accepts as deprecated
    (etcdAddress, etcdEndpoints, host/port) and ignores v2's (replicateChan, uri)."""

    target_role = "standby"

    def __init__(self, label, binary, workroot, env):
        super().__init__(workroot)
        self.label, self.binary, self.env = label, Path(binary).resolve(), env
        self.key = f"peer-{label}"

    def start(self, tag):
        self.workdir = self.workroot / f"{self.key}-{tag}"
        self.port = free_port()
        (self.workdir / "configs").mkdir(parents=True, exist_ok=True)
        etcd = self.env["etcd"]
        meta_root = f"cdc-bench-{self.label}-{tag}-{uuid.uuid4().hex[:6]}"
        (self.workdir / "configs" / "cdc.yaml").write_text(f"""\
address: 127.0.0.1:{self.port}
maxTaskNum: 100
maxNameLength: 256
logLevel: info
batchMode: true
metaStoreConfig:
  storeType: etcd
  etcdEndpoints: ["{etcd}"]
  rootPath: {meta_root}
sourceConfig:
  etcdAddress: ["{etcd}"]
  etcdRootPath: {self.env['source_etcd_root']}
  etcdMetaSubPath: meta
  readChanLen: 10
  channelNum: 16
  defaultPartitionName: _default
  replicateChan: {REPLICATE_CHANNEL}
  kafka:
    address: {self.env['kafka']}
""")
        self._launch([str(self.binary)], self.workdir)
        self._wait_http()

    def create_task(self):
        uri = self.env["standby"]
        host, _, port = uri.split("://", 1)[-1].partition(":")
        self.task_id = self.cdc("create", {
            "milvus_connect_param": {"uri": uri, "host": host, "port": int(port),
                                     "connect_timeout": 10, "channel_num": 16},
            "collection_infos": [{"name": "*"}],
            "rpc_channel_info": {"name": REPLICATE_CHANNEL}})["task_id"]

    def wait_ready(self):
        """The peer watches the source's etcd for new collections and reads each from its
        start position: nothing to wait for beyond a running task."""
        def running():
            self.check_running()
            return True
        wait_until(f"{self.key} task running", running, 30, 0.1)

    def metrics(self):
        return ""


# --------------------------------------------------------------------------- workloads

class Bench:
    def __init__(self, args):
        self.args = args
        self.env = {"kafka": required_env("KAFKA_BROKERS"),
                    "etcd": required_env("ETCD_ENDPOINTS"),
                    "source": required_env("SOURCE_MILVUS_URI"),
                    "target": required_env("TARGET_MILVUS_URI"),
                    "standby": required_env("STANDBY_MILVUS_URI"),
                    "source_etcd_root": source_etcd_root()}
        self.eps = {"source": Endpoint("source", self.env["source"]),
                    "target": Endpoint("target", self.env["target"]),
                    "standby": Endpoint("standby", self.env["standby"])}
        self.out = Path(args.out)
        self.workroot = self.out / "work"
        self.workroot.mkdir(parents=True, exist_ok=True)
        s = args.scale
        self.sizes = {
            "live128": dict(rows=int(200_000 * s), dim=128, batch=5_000),
            "live768": dict(rows=int(100_000 * s), dim=768, batch=2_000),
            "backlog": dict(rows=int(100_000 * s), dim=128, batch=5_000),
            "lag": dict(rate=args.lag_rate, seconds=args.lag_seconds, dim=128, tick=0.1),
        }
        self.pools = {}
        self.unsupported = {}  # system key -> reason
        self.results = []

    def pool(self, dim, batch):
        if (dim, batch) not in self.pools:
            self.pools[(dim, batch)] = VectorPool(dim, batch)
        return self.pools[(dim, batch)]

    def systems(self):
        out = []
        if "raw" in self.args.systems:
            out.append("raw")
            if "replicate" in self.args.modes:
                out.append("raw-standby")
        for mode in self.args.modes:
            binary = (self.args.replicate_server if mode == "replicate"
                      and self.args.replicate_server else self.args.server)
            out.append(Ours(binary, mode, self.workroot, self.env,
                            self.args.server_config.replace("\\n", "\n")))
        for label, path in self.args.peer:
            out.append(Peer(label, path, self.workroot, self.env))
        return out

    # -- clean state -----------------------------------------------------------------------

    def clean_all(self):
        """Drops every collection of the default database on the source and the targets."""
        for role in ("source", "target", "standby"):
            ep = self.eps[role]
            for name in ep.collections():
                ep.drop(name)

    def name_for(self, run, workload, key):
        short = {"raw": "raw", "raw-standby": "rs", "ours-api": "oa", "ours-replicate": "or"}.get(
            key, re.sub(r"[^a-z0-9]", "", key.lower().replace("peer-", "p")))
        return f"b{run}_{workload}_{short}_{uuid.uuid4().hex[:4]}"

    # -- raw ceiling -----------------------------------------------------------------------

    def run_raw(self, run, workload, standby=False):
        """standby=False: inserts into the api target; True: ReplicateMessage to the standby
        (raw_ceiling --replicate), the ceiling of mode replicate."""
        sz = self.sizes[workload]
        role = "standby" if standby else "target"
        if standby and workload == "lag":
            return {}  # a standby takes no pymilvus inserts: no floor of its own to poll
        tgt = self.eps[role]
        name = self.name_for(run, workload, "raw-standby" if standby else "raw")
        self.clean_all()
        if standby:
            # loading on a standby ends once TimeTicks arrive: raw_ceiling sends them
            coll = tgt.create(name, sz["dim"], load=False)
            coll.load(_async=True)
        else:
            coll = tgt.create(name, sz["dim"])
            wait_until(f"{name} loaded on the target", lambda: tgt.loaded(name), 120)
        if workload == "lag":
            # the target's own visibility floor: the same marker rows inserted with pymilvus
            # straight into the target and polled there
            res = {"note": "pymilvus inserts into the target, polled on the target"}
            try:
                self.wl_lag(None, coll, tgt, name, sz, None, res, floor=False)
            finally:
                tgt.drop(name)
            return res
        try:
            cmd = [str(self.args.raw_ceiling), "--uri", self.env[role], "--collection", name,
                   "--rows", str(sz["rows"]), "--batch", str(sz["batch"]), "--dim",
                   str(sz["dim"])] + (["--replicate"] if standby else [])
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
            if p.returncode != 0:
                raise RuntimeError(f"raw_ceiling failed ({p.returncode}): {p.stderr.strip()}")
            kv, samples = {}, []
            for line in p.stdout.splitlines():
                k, _, v = line.partition("=")
                if k == "sample":
                    t, n = v.split()
                    samples.append((float(t), int(n)))
                elif v:
                    kv[k] = float(v)
            t0 = kv["first_insert"]
            res = {"rows": int(kv["rows"]), "rows_per_s": round(kv["rows_per_s"]),
                   "e2e_s": kv["e2e_s"], "source_s": kv["insert_s"],
                   "caught_up_after_s": kv["caught_up_after_s"],
                   "client_cpu_s": kv["cpu_s"], "client_peak_rss_mb": kv["peak_rss_mb"],
                   "timeline": [(round(t - t0, 3), n) for t, n in samples]}
            return res
        finally:
            tgt.drop(name)

    # -- a CDC system ----------------------------------------------------------------------

    def run_cdc(self, run, workload, sysobj):
        sz = self.sizes[workload]
        src = self.eps["source"]
        tgt = self.eps[sysobj.target_role]
        name = self.name_for(run, workload, sysobj.key)
        tag = f"r{run}-{workload}"
        res = {}
        self.clean_all()
        t_boot = time.monotonic()
        sysobj.start(tag)
        sampler = Sampler(sysobj.pid)
        sampler.start()
        try:
            sysobj.create_task()
            sysobj.wait_ready()
            # Setup is not measured: the collection first, and its index and load only once the
            # target has it (a CreateIndex on the replicate channel that overtakes its
            # CreateCollection on a new DML topic is a correctness matter for tests/e2e; here
            # it would only stop the measurement).
            coll = src.create(name, sz["dim"], index=False, load=False)
            wait_until(f"{name} on the {sysobj.target_role}",
                       lambda: (sysobj.check_running(), tgt.has(name))[1], 60, 0.1)
            coll.create_index("vec", {"index_type": "FLAT", "metric_type": "L2", "params": {}})
            coll.load()
            # the index and the load state come through the CDC
            try:
                wait_until(f"{name} loaded on the {sysobj.target_role}",
                           lambda: (sysobj.check_running(), tgt.loaded(name))[1], 90, 0.1)
            except TimeoutError:
                if not tgt.has(name):
                    raise
                # the collection came, the load did not (yet): load it on the target
                tc = tgt.collection(name)
                if not tc.indexes:
                    tc.create_index("vec", {"index_type": "FLAT", "metric_type": "L2",
                                            "params": {}})
                tc.load()
                res["note"] = "load not replicated within 90 s: the bench loaded the target"
            t_ready = time.monotonic()
            res["setup"] = sampler.window(t_boot, t_ready)
            res["setup_s"] = round(t_ready - t_boot, 2)
            getattr(self, f"wl_{workload}")(sysobj, coll, tgt, name, sz, sampler, res)
            res["vm_hwm_mb"] = vm_hwm_mb(sysobj.pid)
            loads = [v["peak_rss_mb"] for k, v in res.items()
                     if isinstance(v, dict) and v.get("peak_rss_mb") is not None]
            res["peak_rss_mb"] = max(loads) if loads else None
            m = sysobj.metrics()
            if m:
                keep = [l for l in m.splitlines() if l.startswith(
                    ("cdc_rows_applied_total", "cdc_bytes_applied_total", "cdc_target_errors",
                     "cdc_target_retries", "cdc_channel_lag_ms"))]
                res["metrics"] = keep[:60]
            return res
        finally:
            try:
                sampler.stop()
            finally:
                self.finish(sysobj, src, tgt, name)

    def finish(self, sysobj, src, tgt, name):
        """Drops the collection on the source while the task still runs (the drop is
        replicated), then stops the server and drops what is left on the target."""
        try:
            src.drop(name)
            if sysobj.proc is not None and sysobj.proc.poll() is None:
                try:
                    wait_until(f"{name} dropped on the target", lambda: not tgt.has(name), 20,
                               0.2)
                except Exception:  # noqa: BLE001
                    pass
        finally:
            sysobj.stop()
            tgt.drop(name)

    def wl_live(self, sysobj, coll, tgt, name, sz, sampler, res):
        pool = self.pool(sz["dim"], sz["batch"])
        poller = CountPoller(tgt, name, sz["rows"], timeout=self.args.timeout)
        poller.start()
        applied = self.applied_poller(sysobj, sz["rows"])
        t0, t_src = insert_batches(coll, pool, sz["rows"], sz["batch"])
        while poller.is_alive():
            poller.join(1)
            sysobj.check_running()
        self.applied_result(applied, t0, t_src, res)
        if poller.reached is None:
            raise RuntimeError(f"{sysobj.key}: {sz['rows']} rows not visible on the target after "
                               f"{self.args.timeout} s (last {poller.samples[-1:]})\n"
                               + sysobj.log_tail())
        t_vis = poller.reached
        res.update({"rows": sz["rows"], "source_s": round(t_src - t0, 3),
                    "e2e_s": round(t_vis - t0, 3),
                    "rows_per_s": round(sz["rows"] / (t_vis - t0)),
                    "source_rows_per_s": round(sz["rows"] / (t_src - t0)),
                    "caught_up_after_s": round(max(0.0, t_vis - t_src), 3),
                    "load": sampler.window(t0, t_vis),
                    "timeline": [(round(t - t0, 3), n) for t, n in poller.samples]})

    wl_live128 = wl_live
    wl_live768 = wl_live

    def applied_poller(self, sysobj, want):
        if not isinstance(sysobj, Ours) or self.args.no_applied_poll:
            return None
        p = AppliedPoller(sysobj, want)
        p.start()
        return p

    @staticmethod
    def applied_result(applied, t0, t_src, res):
        """When our server had all rows acknowledged by the target (from its /metrics)."""
        if applied is None:
            return
        applied.join(5)  # the target may show the rows before the server's counter says so
        applied.stop()
        if applied.reached is not None:
            res["applied_all_s"] = round(applied.reached - t0, 3)
            if t_src is not None:
                res["applied_after_source_s"] = round(applied.reached - t_src, 3)
        res["applied_timeline"] = [(round(t - t0, 3), n) for t, n in applied.samples]

    def wl_backlog(self, sysobj, coll, tgt, name, sz, sampler, res):
        pool = self.pool(sz["dim"], sz["batch"])
        sysobj.pause()
        wait_until(f"{sysobj.key} paused", lambda: "paus" in sysobj.state()[0].lower(), 30)
        t_p0, t_p1 = insert_batches(coll, pool, sz["rows"], sz["batch"])
        # every row is in the source's WAL (the source sees them all) before the resume
        wait_until("rows visible on the source", lambda: self.eps["source"].count(name)
                   >= sz["rows"], 120, 0.1)
        seen_paused = tgt.count(name)
        t_r = time.monotonic()
        applied = self.applied_poller(sysobj, sz["rows"])
        sysobj.resume()
        poller = CountPoller(tgt, name, sz["rows"], timeout=self.args.timeout)
        poller.start()
        while poller.is_alive():
            poller.join(1)
            sysobj.check_running()
        self.applied_result(applied, t_r, None, res)
        if poller.reached is None:
            raise RuntimeError(f"{sysobj.key}: backlog not caught up after {self.args.timeout} "
                               f"s (last {poller.samples[-1:]})\n" + sysobj.log_tail())
        t_vis = poller.reached
        res.update({"rows": sz["rows"], "paused_insert_s": round(t_p1 - t_p0, 3),
                    "visible_while_paused": seen_paused,
                    "catch_up_s": round(t_vis - t_r, 3),
                    "rows_per_s": round(sz["rows"] / (t_vis - t_r)),
                    "paused": sampler.window(t_p0, t_r),
                    "load": sampler.window(t_r, t_vis),
                    "timeline": [(round(t - t_r, 3), n) for t, n in poller.samples]})
        # idle after pause/resume: nothing is written; a second of settling first
        time.sleep(1.0)
        t_i0 = time.monotonic()
        threads0 = thread_cpu(sysobj.pid)
        time.sleep(self.args.idle_seconds)
        threads1 = thread_cpu(sysobj.pid)
        idle = sampler.window(t_i0, time.monotonic())
        res["idle"] = idle
        res["idle_cpu_cores"] = idle["cpu_cores"]
        # which threads spend the idle CPU (seconds over the idle window, busiest first)
        busy = sorted(((round(v - threads0.get(k, 0.0), 3), k) for k, v in threads1.items()),
                      reverse=True)
        res["idle_threads_cpu_s"] = {k: v for v, k in busy[:10] if v > 0}

    def wl_lag(self, sysobj, coll, tgt, name, sz, sampler, res, floor=True):
        per_batch = max(1, int(sz["rate"] * sz["tick"]))
        batches = int(sz["seconds"] / sz["tick"])
        pool = self.pool(sz["dim"], per_batch)
        acked, sent = {}, {}
        seen = {"target": {}, "source": {}}
        done = threading.Event()
        errors = []

        def poll(role, ep):
            c = ep.collection(name)
            try:
                while True:
                    box = seen[role]
                    open_markers = [m for m in list(acked) if m not in box]
                    if open_markers:
                        r = c.query(f"pk in {open_markers}", output_fields=["pk"],
                                    consistency_level="Eventually")
                        now = time.monotonic()
                        for row in r:
                            box.setdefault(row["pk"], now)
                    elif done.is_set():
                        return
                    if done.is_set() and time.monotonic() > done_at[0] + 120:
                        return
                    time.sleep(0.01)
            except Exception as e:  # noqa: BLE001
                errors.append(f"{role}: {e!r}")

        done_at = [0.0]
        pollers = [threading.Thread(target=poll, args=("target", tgt), daemon=True)]
        if floor and not self.args.no_source_floor:
            pollers.append(threading.Thread(target=poll, args=("source", self.eps["source"]),
                                            daemon=True))
        for p in pollers:
            p.start()
        start = time.monotonic()
        late = 0
        try:
            for b in range(batches):
                due = start + b * sz["tick"]
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    late += 1
                lo = b * per_batch
                t_send = time.monotonic()
                coll.insert([list(range(lo, lo + per_batch)), pool.rows(b, per_batch)])
                sent[lo] = t_send
                acked[lo] = time.monotonic()
        finally:
            done_at[0] = time.monotonic()
            done.set()
        for p in pollers:
            p.join(180)
        t_end = time.monotonic()
        if errors:
            raise RuntimeError(f"polling failed: {errors[0]}")
        lags = {role: [(box[m] - acked[m]) * 1000 for m in acked if m in box]
                for role, box in seen.items()}
        missing = len(acked) - len(lags["target"])
        pct = lambda v, q: round(float(np.percentile(v, q)), 1) if v else None  # noqa: E731
        res.update({"rate": round(per_batch * batches / (done_at[0] - start)),
                    "markers": len(acked), "missing": missing, "sent_late": late,
                    "p50_ms": pct(lags["target"], 50), "p99_ms": pct(lags["target"], 99),
                    "max_ms": round(max(lags["target"]), 1) if lags["target"] else None,
                    "source_p50_ms": pct(lags["source"], 50),
                    "source_p99_ms": pct(lags["source"], 99),
                    "insert_call_p50_ms": pct([(acked[m] - sent[m]) * 1000 for m in acked], 50),
                    "lags_ms": [round(x, 1) for x in lags["target"]],
                    "source_lags_ms": [round(x, 1) for x in lags["source"]]})
        if sampler is not None:
            res["load"] = sampler.window(start, done_at[0])
            res["drain"] = sampler.window(done_at[0], t_end)
        if missing:
            raise RuntimeError(f"{sysobj.key if sysobj else 'raw'}: {missing} marker rows never "
                               f"reached the target")

    # -- decode ----------------------------------------------------------------------------

    def run_decode(self):
        if not Path(self.args.decode_bench).is_file():
            return {"error": f"{self.args.decode_bench} not built"}
        env = {k: v for k, v in os.environ.items() if k != "KAFKA_BROKERS"}
        p = subprocess.run([str(self.args.decode_bench), "--dim", "768", "--seconds",
                            str(self.args.decode_seconds)], capture_output=True, text=True,
                           env=env, timeout=600)
        out = {"exit": p.returncode}
        for line in p.stdout.splitlines():
            m = re.match(r"(wal::decode \+ wal::validate_insert|protobuf parse only.*?)\s{2,}"
                         r"(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
            if m:
                key = "decode" if m.group(1).startswith("wal::") else "parse"
                out[f"{key}_records_s"] = float(m.group(6))
                out[f"{key}_mb_s"] = float(m.group(7))
        if "decode_mb_s" not in out:
            out["error"] = (p.stdout + p.stderr)[-2000:]
        return out

    # -- driver ----------------------------------------------------------------------------

    def run(self):
        started = datetime.datetime.now()
        meta = machine_info()
        meta.update({"started": started.isoformat(timespec="seconds"),
                     "args": {k: (str(v) if isinstance(v, Path) else v)
                              for k, v in vars(self.args).items()},
                     "sizes": self.sizes, "server": str(self.args.server),
                     "replicate_server": str(self.args.replicate_server or self.args.server),
                     "server_commit": git_commit(), "load_avg_start": os.getloadavg()})
        self.clean_all()
        systems = self.systems()
        decode = []
        for run in range(1, self.args.runs + 1):
            log(f"==== run {run} of {self.args.runs}")
            if "decode" in self.args.only:
                d = self.run_decode()
                decode.append(d)
                log(f"decode (one core, 768-d inserts): {d}")
            order = systems[(run - 1) % len(systems):] + systems[:(run - 1) % len(systems)] \
                if systems else []
            for workload in [w for w in WORKLOADS if w in self.args.only]:
                for s in order:
                    key = s if isinstance(s, str) else s.key
                    if key in self.unsupported:
                        continue
                    log(f"run {run} {workload} {key} ...")
                    entry = {"run": run, "workload": workload, "system": key}
                    t = time.monotonic()
                    try:
                        if s in ("raw", "raw-standby"):
                            entry["result"] = self.run_raw(run, workload, s == "raw-standby")
                        else:
                            entry["result"] = self.run_cdc(run, workload, s)
                    except BenchSkip as e:
                        self.unsupported[key] = str(e)
                        entry["skipped"] = str(e)
                        log(f"{key}: {e}")
                    except Exception as e:  # noqa: BLE001 - report, go on with the others
                        entry["error"] = f"{e}"
                        log(f"{key} {workload} FAILED: {e}")
                        traceback.print_exc()
                    entry["wall_s"] = round(time.monotonic() - t, 1)
                    self.results.append(entry)
                    if "result" in entry and entry["result"]:
                        log(f"  {brief(workload, entry['result'])}")
                    self.save(meta, decode)
        meta["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        meta["load_avg_end"] = os.getloadavg()
        return self.save(meta, decode)

    def save(self, meta, decode):
        doc = {"meta": meta, "unsupported": self.unsupported, "decode": decode,
               "results": self.results, "summary": summarize(self.results, decode)}
        (self.out / "results.json").write_text(json.dumps(doc, indent=1))
        return doc


def brief(workload, r):
    if workload == "lag":
        return (f"lag p50 {r.get('p50_ms')} ms p99 {r.get('p99_ms')} ms (source floor "
                f"p50 {r.get('source_p50_ms')} p99 {r.get('source_p99_ms')}), "
                f"peak RSS {r.get('peak_rss_mb')} MB")
    s = f"{r.get('rows_per_s')} rows/s"
    if "caught_up_after_s" in r:
        s += f", caught up {r['caught_up_after_s']} s after the source"
    if "idle_cpu_cores" in r:
        s += f", idle CPU {r['idle_cpu_cores']} cores"
    if r.get("peak_rss_mb") is not None:
        s += f", peak RSS {r['peak_rss_mb']} MB"
    return s


# --------------------------------------------------------------------------- summary

MEASURES = [
    # (label, workload, result key(s) joined by |, format, issue 7's target for our server)
    ("live 200k x 128-d, batches of 5 000: rows/s", "live128", "rows_per_s", "{:,.0f}", ""),
    ("  caught up after the source stopped (s)", "live128", "caught_up_after_s", "{:.2f}",
     "< 0.3"),
    ("  ours: all rows acknowledged by the target, after the source (s)", "live128",
     "applied_after_source_s", "{:.2f}", ""),
    ("  peak RSS (MB)", "live128", "peak_rss_mb", "{:.0f}", "<= 256"),
    ("  CPU while loading (cores)", "live128", "load.cpu_cores", "{:.2f}", ""),
    ("live 100k x 768-d, batches of 2 000: rows/s", "live768", "rows_per_s", "{:,.0f}", ""),
    ("  caught up after the source stopped (s)", "live768", "caught_up_after_s", "{:.2f}",
     "< 0.3"),
    ("  ours: all rows acknowledged by the target, after the source (s)", "live768",
     "applied_after_source_s", "{:.2f}", ""),
    ("  peak RSS (MB)", "live768", "peak_rss_mb", "{:.0f}", "<= 256"),
    ("  CPU while loading (cores)", "live768", "load.cpu_cores", "{:.2f}", ""),
    ("backlog 100k x 128-d, resume -> caught up: rows/s", "backlog", "rows_per_s", "{:,.0f}",
     ">= 110k or >= 90% raw"),
    ("  resume -> all visible (s); ours: -> all acknowledged by the target (s)", "backlog",
     "catch_up_s|applied_all_s", "{:.2f}", ""),
    ("  peak RSS (MB)", "backlog", "peak_rss_mb", "{:.0f}", "<= 256"),
    ("  CPU while catching up (cores)", "backlog", "load.cpu_cores", "{:.2f}", ""),
    ("  idle CPU after pause/resume (cores)", "backlog", "idle_cpu_cores", "{:.3f}", "< 0.02"),
    ("lag at 500 rows/s, 60 s: p50 (ms)", "lag", "p50_ms", "{:.0f}", ""),
    ("  p99 (ms)", "lag", "p99_ms", "{:.0f}", "<= 250"),
    ("  same polled on the source: p50 / p99 (ms)", "lag", "source_p50_ms|source_p99_ms",
     "{:.0f}", ""),
    ("  peak RSS (MB)", "lag", "peak_rss_mb", "{:.0f}", "<= 256"),
    ("  CPU (cores)", "lag", "load.cpu_cores", "{:.2f}", ""),
]


def getpath(d, path):
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def summarize(results, decode):
    """{workload: {system: {key: median}}}, ratios ours/peer per run -> median."""
    out = {}
    keys = set()
    for _, _, key, _, _ in MEASURES:
        keys.update(key.split("|"))
    by = {}
    for e in results:
        if e.get("result"):
            by.setdefault((e["workload"], e["system"]), []).append(e)
    for (w, s), entries in by.items():
        out.setdefault(w, {})[s] = {
            k: median([getpath(e["result"], k) for e in entries]) for k in keys}
        out[w][s]["runs"] = len(entries)
    ratios = {}
    systems = {e["system"] for e in results}
    ours = sorted(s for s in systems if s.startswith("ours-"))
    others = sorted(s for s in systems if s.startswith("peer-")) + [
        s for s in ("raw", "raw-standby") if s in systems]
    for w in {e["workload"] for e in results}:
        for a, b in ratio_pairs(ours, others):
                for k in keys:
                    per_run = []
                    for run in {e["run"] for e in results}:
                        ra = [getpath(e["result"], k) for e in results if e["run"] == run
                              and e["workload"] == w and e["system"] == a and e.get("result")]
                        rb = [getpath(e["result"], k) for e in results if e["run"] == run
                              and e["workload"] == w and e["system"] == b and e.get("result")]
                        if ra and rb and ra[0] is not None and rb[0]:
                            per_run.append(ra[0] / rb[0])
                    if per_run:
                        ratios.setdefault(w, {}).setdefault(f"{a}/{b}", {})[k] = round(
                            statistics.median(per_run), 3)
    out["ratios"] = ratios
    out["decode"] = {k: median([d.get(k) for d in decode])
                     for k in ("decode_mb_s", "decode_records_s", "parse_mb_s")}
    return out


def ratio_pairs(ours, others):
    """Ours against every peer; mode api against the raw api target, mode replicate against
    the raw standby."""
    raw_of = {"raw": "ours-api", "raw-standby": "ours-replicate"}
    return [(a, b) for a in ours for b in others if b not in raw_of or raw_of[b] == a]


def fmt(v, f):
    if v is None:
        return "-"
    try:
        return f.format(v)
    except (ValueError, TypeError):
        return str(v)


def table(doc):
    summ = doc["summary"]
    systems = []
    for e in doc["results"]:
        if e["system"] not in systems:
            systems.append(e["system"])
    order = sorted(systems, key=lambda s: (0 if s.startswith("raw") else 1 if s.startswith("ours")
                                           else 2, s))
    peers = [s for s in order if s.startswith("peer-")]
    ours = [s for s in order if s.startswith("ours-")]
    others = peers + [s for s in ("raw", "raw-standby") if s in order]
    ratio_cols = [(a, b) for a, b in ratio_pairs(ours, others) if a not in doc["unsupported"]]
    head = (["measure (median of runs)"] + order + [f"{a}÷{b}" for a, b in ratio_cols]
            + ["target (ours)"])
    rows = []
    for label, w, key, f, goal in MEASURES:
        if w not in summ:
            continue
        row = [label]
        for s in order:
            if s in doc["unsupported"]:
                row.append("n/s")
                continue
            vals = [fmt((summ[w].get(s) or {}).get(k), f) for k in key.split("|")]
            row.append(" / ".join(vals) if any(v != "-" for v in vals) else "-")
        for a, b in ratio_cols:
            r = (summ.get("ratios", {}).get(w, {}).get(f"{a}/{b}") or {})
            vals = [fmt(r.get(k), "{:.2f}") for k in key.split("|")]
            row.append(" / ".join(vals) if any(v != "-" for v in vals) else "-")
        rows.append(row + [goal])
    d = summ.get("decode") or {}
    if d.get("decode_mb_s"):
        rows.append(["decode, one core, 768-d inserts (MB/s)"]
                    + [fmt(d["decode_mb_s"], "{:,.0f}") if s.startswith("ours")
                       and s not in doc["unsupported"] else "-" for s in order]
                    + ["" for _ in ratio_cols] + [">= 1 000"])
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i])
                       for i, c in enumerate(r)) for r in [head] + rows]
    lines.insert(1, "-" * len(lines[0]))
    notes = [] if "raw" not in order else ["raw: our C++ client (build/tests/raw_ceiling) inserting the same batches straight "
             "into the api target; lag: pymilvus inserting into the api target, polled there "
             "(the target's own floor)"] + (
        ["raw-standby: the same batches as ReplicateMessage (Insert + TimeTick) straight into "
         "the standby (raw_ceiling --replicate)"] if "raw-standby" in order else [])
    for k, v in doc["unsupported"].items():
        notes.append(f"n/s: {k}: {v}")
    errs = [e for e in doc["results"] if e.get("error")]
    for e in errs:
        notes.append(f"failed: run {e['run']} {e['workload']} {e['system']}: "
                     f"{e['error'].splitlines()[0][:200]}")
    return "\n".join(lines + notes)


# --------------------------------------------------------------------------- misc

def machine_info():
    info = {"host": platform.node(), "kernel": platform.release(),
            "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_gb"] = round(int(f.readline().split()[1]) / 1e6, 1)
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    info["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return info


def git_commit():
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def parse_peer(spec):
    label, sep, path = spec.partition("=")
    if not sep:
        path = spec
        p = Path(spec).resolve()
        label = p.parent.name if p.name in ("cdc", "milvus-cdc") else p.name
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"--peer: {path} is not a file")
    return re.sub(r"[^A-Za-z0-9.\-]", "-", label), path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="decode," + ",".join(WORKLOADS),
                    help="comma list of: decode," + ",".join(WORKLOADS))
    ap.add_argument("--modes", default="api,replicate",
                    help="our server's target modes: api,replicate")
    ap.add_argument("--systems", default="raw", help="'raw' to measure the raw ceiling, "
                    "'' to skip it")
    ap.add_argument("--peer", action="append", default=[], type=parse_peer,
                    help="[LABEL=]PATH of a milvus-cdc binary; repeatable")
    ap.add_argument("--out", default=None, help="output directory (default "
                    "$CDC_HARNESS_DIR/bench-<time>)")
    ap.add_argument("--server", default=str(REPO / "build" / "cdc-server"))
    ap.add_argument("--replicate-server", default="",
                    help="another cdc-server binary for mode replicate (default --server), e.g. "
                    "the build of a branch that implements it")
    ap.add_argument("--server-config", default="",
                    help="more YAML for our server's cdc.yaml ('\\n' for line breaks), e.g. "
                    "'limits:\\n  read_batch_bytes: 1048576' to compare a setting")
    ap.add_argument("--raw-ceiling", default=str(REPO / "build" / "tests" / "raw_ceiling"))
    ap.add_argument("--decode-bench", default=str(REPO / "build" / "tests" / "decode_bench"))
    ap.add_argument("--decode-seconds", type=float, default=3.0)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the row counts")
    ap.add_argument("--lag-seconds", type=float, default=60.0)
    ap.add_argument("--lag-rate", type=int, default=500)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds a target may take to show all rows")
    ap.add_argument("--no-applied-poll", action="store_true",
                    help="do not poll our server's /metrics for applied rows")
    ap.add_argument("--no-source-floor", action="store_true",
                    help="do not poll the source in the lag test")
    ap.add_argument("--plot-python", default=os.environ.get("CDC_BENCH_PLOT_PY", ""),
                    help="python with matplotlib (tests/bench/plot_venv.sh)")
    args = ap.parse_args()
    args.only = [x for x in args.only.split(",") if x]
    args.modes = [x for x in args.modes.split(",") if x]
    args.systems = [x for x in args.systems.split(",") if x]
    for m in args.modes:
        if m not in ("api", "replicate"):
            ap.error(f"--modes: unknown mode {m}")
    for w in args.only:
        if w not in WORKLOADS + ["decode"]:
            ap.error(f"--only: unknown workload {w}")
    if args.out is None:
        base = os.environ.get("CDC_HARNESS_DIR") or "/tmp"
        args.out = os.path.join(base, "bench-" + time.strftime("%Y%m%d-%H%M%S"))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.modes and not Path(args.server).is_file():
        sys.exit(f"cdc_bench: {args.server} not found: build it first")
    if "raw" in args.systems and not Path(args.raw_ceiling).is_file():
        sys.exit(f"cdc_bench: {args.raw_ceiling} not found: cmake --build build --target "
                 f"raw_ceiling")

    # SIGTERM (run.sh's trap, a timeout) unwinds like Ctrl-C, so that the finally blocks stop
    # the CDC server of the workload in flight by its PID
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    bench = Bench(args)
    doc = bench.run()
    text = table(doc)
    m = doc["meta"]
    header = (f"cdc_bench {m['started']} on {m.get('host')} ({m.get('cpus')} CPUs, "
              f"{m.get('cpu_model', '?')}, {m.get('mem_gb')} GB, {m.get('os', '?')}); "
              f"server {m.get('server_commit')}"
              + (f" (mode replicate: {args.replicate_server})" if args.replicate_server else "")
              + f"; runs {args.runs}; load average "
              f"{m['load_avg_start'][0]:.1f} -> {m['load_avg_end'][0]:.1f}")
    (Path(args.out) / "table.txt").write_text(header + "\n" + text + "\n")
    print("\n" + header + "\n" + text, flush=True)
    if args.plot_python and Path(args.plot_python).is_file():
        p = subprocess.run([args.plot_python, str(HERE / "plot.py"),
                            str(Path(args.out) / "results.json"),
                            str(Path(args.out) / "bench.png")], capture_output=True, text=True)
        print(p.stdout.strip() or p.stderr.strip()[-1000:], flush=True)
    else:
        print("no plot: tests/bench/plot_venv.sh (outside the namespace) installs matplotlib",
              flush=True)
    print(f"results: {args.out}/results.json, {args.out}/table.txt", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
