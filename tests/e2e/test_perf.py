"""Measured, not asserted: end-to-end rows/s of a bulk insert and the replication lag
(source insert acknowledged -> row visible on the target) at a steady moderate rate.
Target: the normal Milvus 2.3.5. The figures go to stdout and to
$CDC_E2E_ARTIFACTS/report.txt. The target must still equal the source at the end.
"""
import os
import threading
import time

import numpy as np
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, utility

import milvus_util as mu
from conftest import Replication, report, start_task

BULK_ROWS = int(os.environ.get("CDC_E2E_BULK_ROWS", "30000"))
BULK_BATCH = 5000
RATE = int(os.environ.get("CDC_E2E_LAG_RATE", "500"))          # rows/s
DURATION = float(os.environ.get("CDC_E2E_LAG_SECONDS", "20"))  # s
TICK = 0.1                                                     # one batch every 100 ms


def lean_schema():
    return CollectionSchema([FieldSchema("pk", DataType.INT64, is_primary=True),
                             FieldSchema("n", DataType.INT32),
                             FieldSchema("vec", DataType.FLOAT_VECTOR, dim=mu.DIM)])


def columns(rng, pks):
    return [pks.tolist(), (pks % 1000).astype(np.int32).tolist(),
            mu.vectors(rng, len(pks)).tolist()]


def ready_collection(env, target, name):
    """Created, indexed and loaded on the source; waits until the target has it loaded."""
    c = Collection(name, lean_schema(), using=env.source.alias())
    c.create_index("vec", mu.FLAT)
    c.load()
    mu.wait_until(f"{name} loaded on the target",
                  lambda: str(utility.load_state(name, using=target.alias())).endswith("Loaded"),
                  120, 0.1)
    return c, target.collection(name)


def count(c, level="Eventually"):
    return c.query("", output_fields=["count(*)"], consistency_level=level)[0]["count(*)"]


def pct(values, q):
    return float(np.percentile(np.asarray(values), q))


def test_throughput_and_lag(env, target, cdc, names):
    task_id = start_task(cdc, env, target.uri)
    rng = np.random.default_rng(5)

    # bulk insert, as fast as one pymilvus client goes
    src, tgt = ready_collection(env, target, f"{names}_bulk")
    data = [columns(rng, np.arange(lo, min(lo + BULK_BATCH, BULK_ROWS)))
            for lo in range(0, BULK_ROWS, BULK_BATCH)]
    t0 = time.monotonic()
    for d in data:
        src.insert(d)
    t_src = time.monotonic() - t0
    mu.wait_until(f"{BULK_ROWS} rows visible on the target", lambda: count(tgt) >= BULK_ROWS,
                  180, 0.05)
    t_e2e = time.monotonic() - t0
    report(f"[perf] bulk insert of {BULK_ROWS} rows ({mu.DIM}-d float vectors, batches of "
           f"{BULK_BATCH}): source took {t_src:.2f}s ({BULK_ROWS / t_src:.0f} rows/s); all "
           f"visible on the target after {t_e2e:.2f}s: end to end {BULK_ROWS / t_e2e:.0f} "
           f"rows/s (drain after the last insert {t_e2e - t_src:.2f}s)")

    # steady rate with marker rows: the first row of every batch is looked for on the target
    src2, tgt2 = ready_collection(env, target, f"{names}_lag")
    per_batch = max(1, int(RATE * TICK))
    batches = int(DURATION / TICK)
    acked, seen = {}, {}
    done = threading.Event()
    poll_errors = []

    def poll():
        try:
            while not done.is_set() or len(seen) < len(acked):
                open_markers = [m for m in list(acked) if m not in seen]
                if open_markers:
                    res = tgt2.query(f"pk in {open_markers}", output_fields=["pk"],
                                     consistency_level="Eventually")
                    now = time.monotonic()
                    for r in res:
                        seen.setdefault(r["pk"], now)
                if done.is_set() and time.monotonic() > done_at[0] + 120:
                    break
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001
            poll_errors.append(e)

    done_at = [0.0]
    poller = threading.Thread(target=poll)
    poller.start()
    start = time.monotonic()
    late = 0
    try:
        for b in range(batches):
            due = start + b * TICK
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the producer, not waiting for a result
            else:
                late += 1
            pks = np.arange(b * per_batch, (b + 1) * per_batch)
            src2.insert(columns(rng, pks))
            acked[int(pks[0])] = time.monotonic()
    finally:
        done_at[0] = time.monotonic()
        done.set()
        poller.join()
    sent_for = done_at[0] - start
    assert not poll_errors, f"polling the target failed: {poll_errors[0]!r}"
    lags = [(seen[m] - acked[m]) * 1000 for m in acked if m in seen]
    missing = len(acked) - len(lags)
    report(f"[perf] steady {per_batch * batches / sent_for:.0f} rows/s for {sent_for:.1f}s "
           f"({batches} batches of {per_batch}, {late} sent late): lag source insert "
           f"acknowledged -> visible on the target (consistency Eventually, polled every "
           f"~10 ms): p50 {pct(lags, 50):.0f} ms, p99 {pct(lags, 99):.0f} ms, max "
           f"{max(lags):.0f} ms over {len(lags)} marker rows"
           + (f"; {missing} markers never seen" if missing else ""))
    assert missing == 0, f"{missing} marker rows never reached the target"

    Replication(env, target, cdc, task_id, {"default": names}).check()
