"""Faults as production meets them, for the end-to-end suite: a harness server (Kafka, the
target, the standby) killed with SIGKILL and started again on its ports and data, and the
workload the fault matrix runs around them."""
import os
import subprocess
import time

import numpy as np
from pymilvus import Collection

import milvus_util as mu
import workload as wl
from conftest import REPO, harness_env

HARNESS = REPO / "tests" / "harness" / "harness.sh"


def harness(*args, timeout=300):
    """Runs a harness command; fails with its output."""
    done = subprocess.run([str(HARNESS), *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())
    assert done.returncode == 0, (f"harness.sh {' '.join(args)} exited with "
                                  f"{done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


ENV_KEYS = {"kafka": "KAFKA_BROKERS", "standby": "STANDBY_MILVUS_URI",
            "target": "TARGET_MILVUS_URI", "source": "SOURCE_MILVUS_URI"}


def kill(name):
    """SIGKILL of a harness server (no chance to flush or say goodbye)."""
    harness("kill", name)


def start(name):
    """Starts a killed harness server again; it must come back on the same address (the
    clients and cdc-server's tasks keep theirs). Returns the seconds it took to be ready."""
    before = harness_env(ENV_KEYS[name])
    t0 = time.monotonic()
    harness("start", name)
    after = harness_env(ENV_KEYS[name])
    assert after == before, f"{name} came back on {after}, not on {before}"
    return time.monotonic() - t0


def upsert_collection(w, name, shards=2):
    """An int64-key collection with a user partition, indexed and loaded: the rows that
    upserts name by partition live in."""
    c = Collection(name, mu.int_schema(), using=w.src.alias(), shards_num=shards)
    c.create_partition("p_up")
    c.create_index("vec", mu.FLAT)
    c.load()
    return c


def dml_round(w, c, lo, n, tag):
    """Inserts n rows from key lo (half in p_up), deletes some earlier ones, and upserts
    earlier keys into the partition each lives in, plus new keys."""
    half = n // 2
    w.insert(c, mu.int_columns(w.rng, np.arange(lo, lo + half), tag=tag), n)
    w.insert(c, mu.int_columns(w.rng, np.arange(lo + half, lo + n), tag=tag), n, "p_up")
    if lo > 0:
        c.delete(f"pk in {list(range(0, lo, 97))}")
        # keys of earlier rounds: the first half of each round is in _default, the second
        # half in p_up
        old_default = [k for k in range(0, lo, 7) if (k % n) < half][:300]
        old_up = [k for k in range(0, lo, 7) if (k % n) >= half][:300]
        c.upsert(mu.int_columns(w.rng, np.array(old_default), tag=tag + 1000),
                 partition_name="_default")
        c.upsert(mu.int_columns(w.rng, np.array(old_up), tag=tag + 2000),
                 partition_name="p_up")


def after_fault_steps(w, c, lo, n, tag):
    """What the issue ran once the faulty server was back: upserts of 600 rows across both
    partitions of a 2-shard collection, a partition created, written, flushed and dropped,
    and a flush, release and load."""
    half = n // 2
    old_default = np.array([k for k in range(0, lo) if (k % n) < half][:300])
    old_up = np.array([k for k in range(0, lo) if (k % n) >= half][:300])
    c.upsert(mu.int_columns(w.rng, old_default, tag=tag), partition_name="_default")
    c.upsert(mu.int_columns(w.rng, old_up, tag=tag + 1), partition_name="p_up")
    c.create_partition("p_tmp")
    w.insert(c, mu.int_columns(w.rng, np.arange(10**7, 10**7 + 200), tag=tag + 2), 200, "p_tmp")
    c.flush()
    c.release()
    c.drop_partition("p_tmp")
    c.load()
    w.insert(c, mu.int_columns(w.rng, np.arange(lo, lo + n), tag=tag + 3), n)
    c.upsert(mu.int_columns(w.rng, np.arange(lo, lo + 100), tag=tag + 4))
    c.flush()
    w.note("after the fault: upserts across partitions, partition created/written/dropped")


def wait_rows(ep, name, n, timeout=180):
    return wl.wait_rows_on(ep, "default", name, lambda k: k >= n, timeout,
                           f"{n} rows of {name} on {ep.role}")
