"""A task over collections that existed before it, without a snapshot (issue 15, item 0).

The WAL after the task's start holds no CreateCollection of such a collection, nor its
partitions, indexes or load state: the server creates it on the target from the source's
description when its first record arrives (an Insert, or a DDL such as a LoadCollection),
and streams what follows. Rows written before the task are not copied (that is what
`initial_snapshot` is for), so the test deletes them on the source after the start: then the
source and the target must be equal, schema, partitions, indexes, load state and rows.
"""
import numpy as np
import pytest
from pymilvus import Collection

import faults as fx
import milvus_util as mu
import workload as wl
from conftest import Replication, report, start_task

# mode -> the fixture of its target
MODES = {"replicate": "standby", "api": "target"}
EARLIER = 1000  # keys below this were written before the task existed


@pytest.fixture(params=sorted(MODES))
def mode(request):
    return request.param, request.getfixturevalue(MODES[request.param])


def rows_from(w, c, lo, n, tag, partition):
    """n new rows from key lo, half of them in `partition`."""
    half = n // 2
    w.insert(c, mu.int_columns(w.rng, np.arange(lo, lo + half), tag=tag), n)
    w.insert(c, mu.int_columns(w.rng, np.arange(lo + half, lo + n), tag=tag), n, partition)


def test_collections_created_before_the_task(env, cdc, names, mode):
    mode_name, target_ep = mode
    w = wl.Workload(env.source, names, seed=15)
    # Before the task: one collection indexed and loaded with a user partition, first named
    # by an Insert; one indexed, with a user partition, not loaded, first named by a
    # LoadCollection (a DDL of the replicate channel).
    loaded = fx.upsert_collection(w, f"{names}_loaded")
    rows_from(w, loaded, 0, 400, 1, "p_up")
    later = Collection(f"{names}_later", mu.int_schema(), using=w.src.alias(), shards_num=1)
    later.create_partition("p_later")
    later.create_index("vec", mu.IVF)
    rows_from(w, later, 0, 200, 2, "p_later")
    for c in (loaded, later):
        c.flush()

    task_id = start_task(cdc, env, target_ep.uri, target_mode=mode_name)
    rows_from(w, loaded, EARLIER, 300, 3, "p_up")
    loaded.upsert(mu.int_columns(w.rng, np.arange(EARLIER + 200, EARLIER + 260), tag=4),
                  partition_name="p_up")
    loaded.delete(f"pk < {EARLIER} or pk in [{EARLIER + 1}, {EARLIER + 2}]")
    later.load()
    rows_from(w, later, EARLIER, 200, 5, "p_later")
    later.delete(f"pk < {EARLIER}")
    waited, rows = Replication(env, target_ep, cdc, task_id, {"default": names}).check()
    cdc.require_running(task_id)

    # After a crash the collections are described afresh (mode api) or found on both sides
    # (mode replicate); the target has them already, and the stream goes on.
    cdc.kill9()
    cdc.start()
    rows_from(w, loaded, 2 * EARLIER, 200, 6, "p_up")
    later.upsert(mu.int_columns(w.rng, np.arange(EARLIER, EARLIER + 50), tag=7),
                 partition_name="_default")
    waited2, rows2 = Replication(env, target_ep, cdc, task_id, {"default": names}).check()
    cdc.require_running(task_id)
    report(f"[existing {mode_name}] two collections created before the task (one loaded, "
           f"one first named by its LoadCollection): created on the target with partitions, "
           f"indexes and load state; equal {waited:.1f}s after the workload, {rows} rows "
           f"compared; after a kill -9 and more writes equal {waited2:.1f}s after, {rows2} rows")
