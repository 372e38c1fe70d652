"""Renames and aliases on a Milvus 2.3.5 source, in both target modes (issue 12, item 4).

Milvus 2.3.5 writes no record of a RenameCollection or a CreateAlias to its WAL: the rows
written afterwards carry the new name (or the alias they were written through) under the
same collection id. The task must not stop on them: the target follows the new name, gets
the aliases, and ends equal to the source row by row.
"""
import threading

import numpy as np
import pytest
from pymilvus import Collection, utility

import faults as fx
import milvus_util as mu
import workload as wl
from conftest import Replication, report, start_task

# mode -> the fixture of its target
MODES = {"replicate": "standby", "api": "target"}
BATCH = 50


@pytest.fixture(params=sorted(MODES))
def mode(request):
    return request.param, request.getfixturevalue(MODES[request.param])


class Writer(threading.Thread):
    """Inserts batches of BATCH new keys into whatever `name` holds, until stopped; a batch
    refused because the collection was renamed under it goes again under the new name (a
    refused insert wrote nothing)."""

    def __init__(self, w, name):
        super().__init__(daemon=True)
        self.w, self.name = w, name
        self.batches, self.refused = 0, 0
        self.stop = threading.Event()
        self.changed = threading.Condition()
        self.error = None

    def run(self):
        key = 0
        try:
            while not self.stop.is_set():
                data = mu.int_columns(self.w.rng, np.arange(key, key + BATCH), tag=self.batches)
                try:
                    Collection(self.name, using=self.w.src.alias()).insert(data)
                except Exception:  # noqa: BLE001 - renamed meanwhile: the new name next time
                    self.refused += 1
                    if self.refused > 100:
                        raise
                    continue
                key += BATCH
                with self.changed:
                    self.batches += 1
                    self.changed.notify_all()
        except Exception as e:  # noqa: BLE001 - reported by wait_batches
            self.error = e
            with self.changed:
                self.changed.notify_all()

    def wait_batches(self, n, timeout=60):
        with self.changed:
            ok = self.changed.wait_for(lambda: self.error or self.batches >= n, timeout)
        assert self.error is None, f"the writer failed: {self.error!r}"
        assert ok, f"the writer did only {self.batches} batches in {timeout}s"


def test_rename_and_alias_while_written(env, cdc, names, mode):
    mode_name, target_ep = mode
    task_id = start_task(cdc, env, target_ep.uri, target_mode=mode_name)
    w = wl.Workload(env.source, names, seed=12)
    old, new, alias = f"{names}_old", f"{names}_new", f"{names}_al"
    c = fx.upsert_collection(w, old)
    cdc.wait_collections(target_ep, task_id, [old])

    writer = Writer(w, old)
    writer.start()
    try:
        writer.wait_batches(10)
        utility.rename_collection(old, new, using=w.src.alias())
        writer.name = new
        done = writer.batches
        writer.wait_batches(done + 10)
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert writer.error is None, f"the writer failed: {writer.error!r}"

    # Through the alias: rows, deletes and upserts, and a DDL (flush) that names the alias.
    utility.create_alias(new, alias, using=w.src.alias())
    through = Collection(alias, using=w.src.alias())
    w.insert(through, mu.int_columns(w.rng, np.arange(10**6, 10**6 + 500), tag=7), 500, "p_up")
    through.delete(f"pk in {list(range(0, 500, 3))}")
    through.upsert(mu.int_columns(w.rng, np.arange(100, 400), tag=8), partition_name="_default")
    through.flush()
    # Under the new name: a DDL the target can only take under the new name.
    renamed = Collection(new, using=w.src.alias())
    renamed.release()
    renamed.load()
    w.insert(renamed, mu.int_columns(w.rng, np.arange(2 * 10**6, 2 * 10**6 + 200), tag=9), 200)

    waited, rows = Replication(env, target_ep, cdc, task_id, {"default": names}).check()
    on_target = target_ep.collections("default")
    assert new in on_target and old not in on_target, (
        f"the target has {sorted(n for n in on_target if n.startswith(names))}, not {new} alone")
    aliases = utility.list_aliases(new, using=target_ep.alias())
    assert alias in aliases, f"the target's {new} has the aliases {aliases}, not {alias}"

    # A rename the task has not seen when its pipeline starts again (a pause, a crash): the
    # collection is described afresh under its newest name while the events still to apply
    # carry the name before, which the target still has.
    cdc.pause(task_id)
    cdc.wait_state(task_id, "Paused")
    w.insert(renamed, mu.int_columns(w.rng, np.arange(3 * 10**6, 3 * 10**6 + 300), tag=10), 300)
    renamed.delete(f"pk in {list(range(1, 600, 5))}")
    newest = f"{names}_newest"
    utility.rename_collection(new, newest, using=w.src.alias())
    again = Collection(newest, using=w.src.alias())
    w.insert(again, mu.int_columns(w.rng, np.arange(4 * 10**6, 4 * 10**6 + 300), tag=11), 300)
    again.upsert(mu.int_columns(w.rng, np.arange(200, 500), tag=12), partition_name="_default")
    again.flush()
    cdc.resume(task_id)
    waited2, rows2 = Replication(env, target_ep, cdc, task_id, {"default": names}).check()
    on_target = sorted(n for n in target_ep.collections("default") if n.startswith(names))
    assert on_target == [newest], f"the target has {on_target}, not [{newest}]"
    cdc.require_running(task_id)
    report(f"[rename {mode_name}] {writer.batches} batches written while {old} was renamed "
           f"{new} ({writer.refused} refused by the source during the rename), then rows, "
           f"deletes, upserts and a flush through alias {alias}: equal {waited:.1f}s after the "
           f"workload, {rows} rows compared row by row; the target has {new} with {aliases}. "
           f"Renamed {newest} while the task was paused, rows under both names: equal "
           f"{waited2:.1f}s after the resume, {rows2} rows compared")
