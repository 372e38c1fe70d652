"""End to end, mode api: source Milvus 2.3.5 -> Kafka -> cdc-server -> target Milvus 2.3.5.

Every test creates its task BEFORE its workload (a new task starts at the end of the WAL)
and uses names of its own (the source and the target are shared by the tests). The check
(conftest.Replication) waits with a deadline for the target to equal the source: databases,
collection lists, schemas, partition lists, index lists, load states, count(*), then every
row (every primary key once, every scalar, every vector bit for bit).
"""
import threading
import time

import numpy as np
from pymilvus import Collection, db

import milvus_util as mu
import workload as wl
from conftest import Replication, report, start_task


def test_ddl_right_after_create(env, target, cdc, names):
    """Collections created and at once indexed, then loaded and written to. CreateCollection
    travels on the collection's DML topics, CreateIndex and LoadCollection on the replicate
    topic: the target must get them in timestamp order. A first collection makes some DML
    channels active (TimeTicks) before the others are created. On a fresh harness (the suite
    runs this test first) the other collections' DML topics are new to the reader, the case
    where that order is at risk."""
    task_id = start_task(cdc, env, target.uri)
    rng = np.random.default_rng(8)
    warm = Collection(f"{names}_warm", mu.int_schema(array=False), using=env.source.alias(),
                      shards_num=2)
    cdc.wait_collections(target, task_id, [warm.name])
    colls = [warm]
    for i in range(7):
        c = Collection(f"{names}_c{i}", mu.int_schema(array=False),
                       using=env.source.alias(), shards_num=2)
        c.create_index("vec", mu.FLAT)
        colls.append(c)
    warm.create_index("vec", mu.FLAT)
    for i, c in enumerate(colls):
        c.load()
        c.insert(mu.int_columns(rng, np.arange(i * 200, (i + 1) * 200), array=False))
    waited, rows = Replication(env, target, cdc, task_id, {"default": names}).check()
    report(f"[ddl right after create] {len(colls)} collections; equal {waited:.1f}s after the "
           f"workload, {rows} rows compared")


def run_workload(env, target, cdc, names, label, **opts):
    task_id = start_task(cdc, env, target.uri)
    w = wl.Workload(env.source, names, seed=1)
    t0 = time.monotonic()
    scope = wl.full_workload(w, **opts)
    t_load = time.monotonic() - t0
    waited, rows = Replication(env, target, cdc, task_id, scope).check()
    report(f"[{label}] {w.inserted} rows inserted in {t_load:.1f}s of workload "
           f"({', '.join(w.ops)}); target equal {waited:.1f}s after the workload ended; "
           f"{rows} rows compared row by row")
    # autoID: the target keeps the source's keys (target.md); 2.3.5 has no
    # allow_insert_auto_id, so the target collection is expected with autoID=false.
    auto_db = f"{names}_db" if opts.get("other_db", True) else "default"
    c = target.collection(f"{names}_auto", auto_db)
    report(f"[{label}] target {auto_db}.{names}_auto: primary key autoID="
           f"{c.schema.primary_field.auto_id}; cdc-server: "
           + "; ".join(l.split("  ", 1)[-1] for l in cdc.log_lines("(?i)autoid"))[:300])
    assert cdc.task(task_id)["state"] == "Running"


def test_full_workload(env, target, cdc, names):
    """The issue's workload: a database besides default, partitions, a partition key,
    autoID, dynamic field, VarChar keys; every kind of change. At scale 2.2 it inserts over
    100 000 rows of 128-d vectors."""
    run_workload(env, target, cdc, names, "full workload", scale=2.2)


def test_workload_default_db_no_partitions(env, target, cdc, names):
    """The same workload (half size) with every collection in default and no user
    partition: the other changes checked apart from databases and partitions."""
    run_workload(env, target, cdc, names, "workload in default, no partitions", scale=0.5,
                 other_db=False, user_partitions=False)


def test_pause_resume(env, target, cdc, names):
    task_id = start_task(cdc, env, target.uri)
    w = wl.Workload(env.source, names, seed=2)
    # the collections on the target before their index (see test_ddl_right_after_create)
    c_int, c_str = wl.simple_collections(
        w, created=lambda n: cdc.wait_collections(target, task_id, n))
    batch, batches = 2500, 8
    for i in range(3):
        wl.batch_step(w, c_int, c_str, i, batch)
    cdc.require_running(task_id)
    cdc.pause(task_id)
    paused = cdc.wait_state(task_id, "Paused")
    t_pause = time.monotonic()
    tc = target.collection(f"{names}_int")

    def target_count():
        return tc.query("", output_fields=["count(*)"],
                        consistency_level="Strong")[0]["count(*)"]

    n_paused = target_count()
    for i in range(3, 6):
        wl.batch_step(w, c_int, c_str, i, batch)
    src_n = c_int.query("", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
    n_paused2 = target_count()  # the source went on for 3 batches meanwhile
    # "Pausing stops reading and writing after the batch in flight" (http-api.md): the
    # batch in flight may still land, but nothing written to the source after the pause
    leaked = tc.query(f"pk >= {3 * batch} and pk < {6 * batch}", output_fields=["count(*)"],
                      consistency_level="Strong")[0]["count(*)"]
    cdc.resume(task_id)
    cdc.wait_state(task_id, "Running")
    for i in range(6, batches):
        wl.batch_step(w, c_int, c_str, i, batch)
    waited, rows = Replication(env, target, cdc, task_id, {"default": names}).check()
    report(f"[pause/resume] paused after 3 of {batches} batches (task: {paused.get('state')}, "
           f"reason {paused.get('reason')!r}); while paused for "
           f"{time.monotonic() - t_pause:.1f}s the target's {names}_int had {n_paused} then "
           f"{n_paused2} rows (source {src_n}; the batch in flight may land after the pause), "
           f"{leaked} of the rows inserted after the pause; after resume equal in {waited:.1f}s, "
           f"{rows} rows compared, {w.inserted} rows inserted")
    assert leaked == 0, (f"{leaked} rows inserted on the source after the pause reached the "
                         f"target before resume")


def test_kill9_restart(env, target, cdc, names):
    task_id = start_task(cdc, env, target.uri)
    w = wl.Workload(env.source, names, seed=3)
    c_int, c_str = wl.simple_collections(
        w, created=lambda n: cdc.wait_collections(target, task_id, n))
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
        # kill while the server is applying: some rows of the stream on the target already,
        # the source still inserting
        n_kill = wl.wait_rows_on(target, "default", f"{names}_int", lambda n: n >= 2 * batch,
                                 120, "the first rows on the target")
        at_batch = progress["batch"]
        cdc.require_running(task_id)
        pid = cdc.pid
        cdc.kill9()
        killed_at = time.monotonic()
        # the source goes on while the server is down; restart on the same data dir
        wl.wait_rows_on(env.source, "default", f"{names}_int",
                        lambda n: n >= n_kill + 2 * batch or progress["batch"] >= batches - 1,
                        120, "more rows on the source while cdc-server is down")
        cdc.start()
        down = time.monotonic() - killed_at
    finally:
        producer.join()
    assert not errors, f"workload failed: {errors[0]!r}"
    assert cdc.exits[-1] == ("SIGKILL", -9), cdc.exits
    state = cdc.task(task_id)["state"]
    assert state == "Running", f"task after kill -9 and restart is {state}"
    waited, rows = Replication(env, target, cdc, task_id, {"default": names}).check()
    replays = cdc.log_lines("replayed idempotently")
    replay_note = (f"{len(replays)} channels, e.g. {replays[0].split('  ', 1)[-1]!r}"
                   if replays else "no replay window logged")
    report(f"[kill -9] killed pid {pid} at {n_kill} target rows (source at batch "
           f"{at_batch + 1} of {batches}), down {down:.1f}s, restarted on the same data dir; "
           f"equal {waited:.1f}s after the workload, {rows} rows compared, no duplicates; "
           f"replay window: {replay_note}")


def where_on_target(target, names):
    """Where the target holds collections of this test (for failure messages)."""
    found = []
    for d in target.databases():
        found += [f"{d}.{c}" for c in target.collections(d) if c.startswith(names)]
    return found


def test_database_besides_default(env, target, cdc, names):
    """Only databases: collections in a database besides default (inserts, delete by key
    and by expression, upsert, index, load, flush), and a second database whose collection
    is dropped before the database is dropped. No user partition."""
    task_id = start_task(cdc, env, target.uri)
    w = wl.Workload(env.source, names, seed=6)
    dbx, dby = f"{names}_x", f"{names}_y"
    c_int, c_str = wl.simple_collections(w, db_name=dbx)
    for i in range(3):
        wl.batch_step(w, c_int, c_str, i, 1500)
    c_int.flush()
    db.create_database(dby, using=env.source.alias())
    c_y = Collection(f"{names}_y", mu.int_schema(), using=env.source.alias(dby))
    w.insert(c_y, mu.int_columns(w.rng, np.arange(300)), 300)
    c_y.drop()
    db.drop_database(dby, using=env.source.alias())
    try:
        waited, rows = Replication(env, target, cdc, task_id, {dbx: None, dby: None,
                                                               "default": names}).check()
    except AssertionError as e:
        raise AssertionError(f"{e}\nthe target holds this test's collections at: "
                             f"{where_on_target(target, names)}; databases on the target: "
                             f"{[d for d in target.databases() if d.startswith(names)]}")
    report(f"[database besides default] {w.inserted} rows; equal {waited:.1f}s after the "
           f"workload, {rows} rows compared")


def test_user_partitions(env, target, cdc, names):
    """Only partitions, in default: two user partitions created after the collection,
    inserts into each, upsert and delete in one, release, drop partition, load."""
    task_id = start_task(cdc, env, target.uri)
    rng = np.random.default_rng(7)
    c = Collection(f"{names}_int", mu.int_schema(), using=env.source.alias())
    c.create_partition("p1")
    c.create_partition("p2")
    c.create_index("vec", mu.FLAT)
    c.load()
    inserted = 0
    for i, part in enumerate(("_default", "p1", "p2", "p1")):
        pks = np.arange(i * 1500, (i + 1) * 1500)
        inserted += len(mu.insert_batched(c, mu.int_columns(rng, pks, tag=i), 1500, part))
    c.upsert(mu.int_columns(rng, np.arange(1500, 1800), tag=9), partition_name="p1")
    c.delete(f"pk in {list(range(4500, 4700))}")
    c.release()
    c.drop_partition("p2")
    c.load()
    waited, rows = Replication(env, target, cdc, task_id, {"default": names}).check()
    report(f"[user partitions] {inserted} rows; equal {waited:.1f}s after the workload, "
           f"{rows} rows compared")


def test_selected_collections_only(env, target, cdc, names):
    """A task that replicates two collections of default while two others get the same
    changes: the selected ones arrive row by row, the others never reach the target (their
    rows are skipped by the reader without being decoded, once the writer knows them)."""
    selected = [f"{names}_in_int", f"{names}_in_str"]
    task_id = cdc.create_task(target.uri,
                              db_collections={"default": [{"name": n} for n in selected]})
    cdc.wait_reading(task_id, env.kafka)
    w_in = wl.Workload(env.source, f"{names}_in", seed=8)
    w_out = wl.Workload(env.source, f"{names}_out", seed=9)
    in_int, in_str = wl.simple_collections(w_in)
    out_int, out_str = wl.simple_collections(w_out)
    for i in range(4):
        wl.batch_step(w_in, in_int, in_str, i, 1000)
        wl.batch_step(w_out, out_int, out_str, i, 1000)
    waited, rows = Replication(env, target, cdc, task_id, {"default": f"{names}_in"}).check()
    leaked = [c for c in where_on_target(target, names) if f"{names}_out" in c]
    assert leaked == [], f"collections the task does not select reached the target: {leaked}"
    cdc.require_running(task_id)
    report(f"[selected collections] {w_in.inserted} rows selected, {w_out.inserted} not; "
           f"equal {waited:.1f}s after the workload, {rows} rows compared, none of the others "
           f"on the target")
