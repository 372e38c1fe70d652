"""End to end, mode replicate: source Milvus 2.3.5 -> Kafka -> cdc-server -> standby Milvus
2.3.5 (common.ttMsgEnabled=false), written with ReplicateMessage (DML) and the normal RPCs
marked as replicated (DDL).

Every test creates its task BEFORE its workload and uses names of its own. The check
(conftest.Replication) waits with a deadline for the standby to equal the source: databases,
collection lists, schemas, partition lists, index lists, load states, count(*), then every
row (every primary key exactly once, every scalar, every vector bit for bit). Queries on the
standby use consistency Strong: they see data only once the TimeTicks the server forwards
have passed the standby's clock.
"""
import threading
import time

import numpy as np
from pymilvus import Collection

import milvus_util as mu
import workload as wl
from conftest import CdcServer, Replication, artifacts_dir, report, start_task

REPLICATE = {"target_mode": "replicate"}


def start_replicate_task(cdc, env, standby):
    return start_task(cdc, env, standby.uri, **REPLICATE)


def count(ep, name, db_name="default", expr="", consistency="Strong"):
    """count(*); consistency Strong waits until the standby's TimeTicks pass its clock, so
    it never returns while the task is paused or the server is down: use Eventually then
    (it reads everything the server made visible with its last TimeTicks)."""
    return ep.collection(name, db_name).query(expr, output_fields=["count(*)"],
                                              consistency_level=consistency,
                                              timeout=60)[0]["count(*)"]


def test_replicate_workload(env, standby, cdc, names):
    """The issue's workload: a database besides default, int64 and VarChar keys, autoID,
    dynamic field, user partitions and a partition key, inserts in batches, deletes by key
    and by expression, upserts, create index, load, release, flush, drop partition, drop
    collection, drop database."""
    task_id = start_replicate_task(cdc, env, standby)
    w = wl.Workload(env.source, names, seed=11)
    t0 = time.monotonic()
    scope = wl.full_workload(w, scale=0.5)
    t_load = time.monotonic() - t0
    waited, rows = Replication(env, standby, cdc, task_id, scope).check()
    # replicate keeps the schema as it is: the autoID collection stays autoID on the standby
    auto = standby.collection(f"{names}_auto", f"{names}_db")
    assert auto.schema.primary_field.auto_id, "autoID was not kept on the standby"
    report(f"[replicate workload] {w.inserted} rows inserted in {t_load:.1f}s of workload "
           f"({', '.join(w.ops)}); standby equal {waited:.1f}s after the workload ended; "
           f"{rows} rows compared row by row; autoID kept on the standby")
    cdc.require_running(task_id)


def test_replicate_pause_resume(env, standby, cdc, names):
    task_id = start_replicate_task(cdc, env, standby)
    w = wl.Workload(env.source, names, seed=12)
    c_int, c_str = wl.simple_collections(
        w, created=lambda n: cdc.wait_collections(standby, task_id, n))
    batch, batches = 2000, 8
    for i in range(3):
        wl.batch_step(w, c_int, c_str, i, batch)
    cdc.require_running(task_id)
    cdc.pause(task_id)
    cdc.wait_state(task_id, "Paused")
    for i in range(3, 6):
        wl.batch_step(w, c_int, c_str, i, batch)
    # nothing written to the source after the pause reaches the standby before resume (the
    # batch in flight at the pause may still land: it was written before)
    leaked = count(standby, f"{names}_int", expr=f"pk >= {3 * batch} and pk < {6 * batch}",
                   consistency="Eventually")
    cdc.resume(task_id)
    cdc.wait_state(task_id, "Running")
    for i in range(6, batches):
        wl.batch_step(w, c_int, c_str, i, batch)
    waited, rows = Replication(env, standby, cdc, task_id, {"default": names}).check()
    report(f"[replicate pause/resume] {w.inserted} rows inserted; {leaked} rows of the paused "
           f"span on the standby before resume; equal {waited:.1f}s after resume and the "
           f"last batches, {rows} rows compared")
    assert leaked == 0, f"{leaked} rows written after the pause reached the standby"


def test_replicate_kill9_restart(env, standby, cdc, names):
    """kill -9 while the source inserts; restart on the same data dir: no row lost, none
    duplicated (each pk once, count(*) equal)."""
    task_id = start_replicate_task(cdc, env, standby)
    w = wl.Workload(env.source, names, seed=13)
    c_int, c_str = wl.simple_collections(
        w, created=lambda n: cdc.wait_collections(standby, task_id, n))
    batch, batches = 2000, 10
    errors = []
    progress = {"batch": -1}

    def produce():
        try:
            for i in range(batches):
                wl.batch_step(w, c_int, c_str, i, batch)
                progress["batch"] = i
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        n_kill = wl.wait_rows_on(standby, "default", f"{names}_int", lambda n: n >= 2 * batch,
                                 120, "the first rows on the standby")
        at_batch = progress["batch"]
        cdc.require_running(task_id)
        pid = cdc.pid
        cdc.kill9()
        killed_at = time.monotonic()
        wl.wait_rows_on(env.source, "default", f"{names}_int",
                        lambda n: n >= n_kill + 2 * batch or progress["batch"] >= batches - 1,
                        120, "more rows on the source while cdc-server is down")
        cdc.start()
        down = time.monotonic() - killed_at
    finally:
        producer.join()
    assert not errors, f"workload failed: {errors[0]!r}"
    assert cdc.exits[-1] == ("SIGKILL", -9), cdc.exits
    assert cdc.task(task_id)["state"] == "Running"
    waited, rows = Replication(env, standby, cdc, task_id, {"default": names}).check()
    replays = cdc.log_lines("sent as Delete \\+ Insert")
    report(f"[replicate kill -9] killed pid {pid} at {n_kill} standby rows (source at batch "
           f"{at_batch + 1} of {batches}), down {down:.1f}s; equal {waited:.1f}s after the "
           f"workload, {rows} rows compared, each pk once; replayed inserts: "
           f"{len(replays)} batch(es)")


def test_replicate_crash_after_apply_before_checkpoint(env, standby, cdc, names):
    """The worst moment for a crash: the standby acknowledged inserts whose checkpoint was
    not written (a failpoint makes the server exit right there). After the restart they are
    read again; they must not appear twice on the standby."""
    task_id = start_replicate_task(cdc, env, standby)
    w = wl.Workload(env.source, names, seed=14)
    c_int, c_str = wl.simple_collections(
        w, created=lambda n: cdc.wait_collections(standby, task_id, n))
    # the collections (and their index and load) are on the standby: restart with the
    # failpoint, then insert
    wl.wait_rows_on(standby, "default", f"{names}_int", lambda n: n == 0, 60,
                    "the standby collection loaded")
    cdc.stop()
    cdc.start(env={"CDC_FAILPOINT_EXIT_AFTER_INSERTS": "3"})
    cdc.require_running(task_id)
    batch = 1500
    for i in range(4):
        wl.batch_step(w, c_int, c_str, i, batch)
    rc = cdc.wait_exit(60)
    assert rc == 137, f"the failpoint did not end the server (exit code {rc})\n" + cdc.log_tail()
    assert cdc.log_lines("failpoint: exiting after"), cdc.log_tail()
    on_standby = count(standby, f"{names}_int", consistency="Eventually")
    assert on_standby > 0, "nothing reached the standby before the failpoint"
    cdc.start()
    cdc.require_running(task_id)
    for i in range(4, 6):
        wl.batch_step(w, c_int, c_str, i, batch)
    waited, rows = Replication(env, standby, cdc, task_id, {"default": names}).check()
    replays = cdc.log_lines("sent as Delete \\+ Insert")
    assert replays, ("the restart replayed no insert: the failpoint left no replay window\n"
                     + cdc.log_tail())
    report(f"[replicate crash after apply] {on_standby} rows of {names}_int on the standby at "
           f"the crash; replayed: {replays[0].split('  ', 1)[-1][:160]!r}; equal "
           f"{waited:.1f}s after the workload, {rows} rows compared, each pk once")


def test_replicate_normal_target_pauses_naming_tt_msg_enabled(env, target, cdc, names):
    """A normal Milvus (ttMsgEnabled=true) refuses ReplicateMessage: the task pauses with a
    reason that names common.ttMsgEnabled."""
    task_id = cdc.create_task(target.uri, **REPLICATE)
    task = cdc.wait_state(task_id, "Paused", timeout=60)
    reason = task.get("reason", "")
    assert "common.ttMsgEnabled" in reason, f"reason {reason!r}"
    assert "deny to use the replicate message" in reason, f"reason {reason!r}"
    report(f"[replicate to a normal Milvus] paused: {reason[:300]}")


def test_replicate_throughput_and_visibility(env, standby, cdc, names):
    """Measured, loosely asserted: rows/s end to end of a bulk insert, and the time from an
    insert on the source until the row is visible on the standby."""
    task_id = start_replicate_task(cdc, env, standby)
    w = wl.Workload(env.source, names, seed=15)
    c_int, _ = wl.simple_collections(
        w, created=lambda n: cdc.wait_collections(standby, task_id, n))
    wl.wait_rows_on(standby, "default", f"{names}_int", lambda n: n == 0, 60,
                    "the standby collection loaded")
    total, batch = 30000, 5000
    t0 = time.monotonic()
    for lo in range(0, total, batch):
        c_int.insert(mu.int_columns(w.rng, np.arange(lo, lo + batch), array=True))
    t_src = time.monotonic() - t0
    wl.wait_rows_on(standby, "default", f"{names}_int", lambda n: n == total, 180,
                    f"{total} rows on the standby")
    t_all = time.monotonic() - t0
    sc = standby.collection(f"{names}_int")
    lags = []
    for i in range(20):
        pk = 10**7 + i
        t1 = time.monotonic()
        c_int.insert(mu.int_columns(w.rng, np.array([pk])))
        mu.wait_until(f"pk {pk} on the standby",
                      lambda: sc.query(f"pk == {pk}", output_fields=["pk"],
                                       consistency_level="Eventually"), 30, 0.02)
        lags.append(time.monotonic() - t1)
    lags.sort()
    # catching up: a backlog written while the task is paused, applied after resume
    cdc.pause(task_id)
    cdc.wait_state(task_id, "Paused")
    for lo in range(0, total, batch):
        c_int.insert(mu.int_columns(w.rng, np.arange(2 * 10**7 + lo, 2 * 10**7 + lo + batch)))
    expected = 2 * total + len(lags)
    t2 = time.monotonic()
    cdc.resume(task_id)
    wl.wait_rows_on(standby, "default", f"{names}_int", lambda n: n == expected, 180,
                    f"{expected} rows on the standby after resume")
    t_catch = time.monotonic() - t2
    cdc.require_running(task_id)
    report(f"[replicate throughput] {total} rows (128-dim vectors): source inserts took "
           f"{t_src:.1f}s, all on the standby after {t_all:.1f}s = {total / t_all:.0f} rows/s "
           f"end to end; a backlog of {total} rows caught up in {t_catch:.1f}s after resume = "
           f"{total / t_catch:.0f} rows/s; insert-to-visible on the standby p50 "
           f"{lags[len(lags) // 2] * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms")


def test_replicate_selected_collections_only(env, standby, cdc, names):
    """Mode replicate with a selection: two collections of default are replicated while two
    others get the same changes; those never reach the standby (the reader skips their rows
    once the writer knows them), and the TimeTicks still make the selected ones visible."""
    selected = [f"{names}_in_int", f"{names}_in_str"]
    task_id = cdc.create_task(standby.uri, target_mode="replicate",
                              db_collections={"default": [{"name": n} for n in selected]})
    cdc.wait_reading(task_id, env.kafka)
    w_in = wl.Workload(env.source, f"{names}_in", seed=16)
    w_out = wl.Workload(env.source, f"{names}_out", seed=17)
    in_int, in_str = wl.simple_collections(
        w_in, created=lambda n: cdc.wait_collections(standby, task_id, n))
    out_int, out_str = wl.simple_collections(w_out)
    for i in range(4):
        wl.batch_step(w_in, in_int, in_str, i, 1000)
        wl.batch_step(w_out, out_int, out_str, i, 1000)
    waited, rows = Replication(env, standby, cdc, task_id, {"default": f"{names}_in"}).check()
    leaked = [c for c in standby.collections() if c.startswith(f"{names}_out")]
    assert leaked == [], f"collections the task does not select reached the standby: {leaked}"
    cdc.require_running(task_id)
    report(f"[replicate selected collections] {w_in.inserted} rows selected, {w_out.inserted} "
           f"not; equal {waited:.1f}s after the workload, {rows} rows compared, none of the "
           f"others on the standby")


def test_replicate_collection_dropped_right_after_create(env, standby, cdc, names):
    """A collection created and dropped on the source at once, then another one with rows and
    a flush. The standby's datanode waits for a TimeTick on the first collection's channel
    before it watches any other channel (Milvus 2.3.5); if that channel never got one again,
    every later collection of the standby would stay unflushed and its Flush would hang."""
    task_id = start_replicate_task(cdc, env, standby)
    w = wl.Workload(env.source, names, seed=18)
    gone = Collection(f"{names}_gone", mu.int_schema(array=False), using=env.source.alias())
    gone.drop()
    c_int, c_str = wl.simple_collections(
        w, created=lambda n: cdc.wait_collections(standby, task_id, n))
    for i in range(3):
        wl.batch_step(w, c_int, c_str, i, 1000)
    t0 = time.monotonic()
    c_int.flush(timeout=60)
    c_str.flush(timeout=60)
    flushed = time.monotonic() - t0
    waited, rows = Replication(env, standby, cdc, task_id, {"default": names}).check()
    assert f"{names}_gone" not in standby.collections()
    cdc.require_running(task_id)
    report(f"[replicate create+drop] {w.inserted} rows and a flush after a collection created "
           f"and dropped at once; flush on the source {flushed:.1f}s; equal {waited:.1f}s "
           f"after the workload, {rows} rows compared")


def test_replicate_upserts_split_across_batches(env, standby, names):
    """Milvus splits an Insert above ~5 MB into several records of one time, and writes an
    upsert as those Inserts and then a Delete at the same time. A server whose reader hands
    over one record per batch (limits.read_batch_bytes: 1) sends the first records with a
    TimeTick before it reads the rest: the rest must go later than that TimeTick (the standby
    takes nothing older after one), and the upsert's Delete, now later than its first
    Inserts, must not delete them: they go again after it. The standby must equal the source
    row by row, every key once."""
    workdir = artifacts_dir() / f"upserts_split-{names[-6:]}"
    server = CdcServer(workdir, env.kafka, env.source_uri,
                       extra_config="limits:\n  read_batch_bytes: 1\n").start()
    try:
        task_id = start_replicate_task(server, env, standby)
        w = wl.Workload(env.source, names, seed=19)
        dim, rows = 768, 2000  # 2 000 x 768 floats = 6.1 MB: two Insert records on one shard
        big = Collection(f"{names}_big", mu.int_schema(dim=dim), using=env.source.alias(),
                         shards_num=1)
        server.wait_collections(standby, task_id, [big.name])
        big.create_index("vec", mu.FLAT)
        big.load()
        w.insert(big, mu.int_columns(w.rng, np.arange(rows), dim=dim, tag=1), rows)
        big.upsert(mu.int_columns(w.rng, np.arange(rows), dim=dim, tag=2))
        big.upsert(mu.int_columns(w.rng, np.arange(rows // 2, rows + rows // 2), dim=dim, tag=3))
        waited, compared = Replication(env, standby, server, task_id,
                                       {"default": names}).check()
        again = server.log_lines("go again after the Delete")
        server.require_running(task_id)
    finally:
        server.stop()
    report(f"[replicate upserts split across batches] {rows} rows of {dim}-d inserted, then "
           f"upserted twice, one WAL record per batch; equal {waited:.1f}s after the "
           f"workload, {compared} rows compared; Inserts sent again after their upsert's "
           f"Delete: {len(again)} time(s)")
    assert again, ("the test did not exercise what it is for: no upsert's Delete came after "
                   "a TimeTick had covered its Inserts")
