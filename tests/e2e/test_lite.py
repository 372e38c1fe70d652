"""End to end, mode api, target milvus-lite 3.2.2 (reduced workload, pymilvus 2.3.7 talks
to milvus-lite for everything used here).

milvus-lite replaces a row whose primary key exists instead of keeping a second copy, so
these tests cannot see duplicates; the tests against the normal Milvus target do.
"""
import time

import pytest

import workload as wl
from conftest import Replication, report, start_task


@pytest.mark.parametrize("variant", [
    pytest.param({}, id="full"),
    pytest.param({"other_db": False, "user_partitions": False}, id="default_db_no_partitions"),
])
def test_lite_workload(env, lite, cdc, names, variant):
    task_id = start_task(cdc, env, lite.uri)
    w = wl.Workload(env.source, names, seed=4)
    t0 = time.monotonic()
    scope = wl.full_workload(w, scale=0.1, **variant)
    t_load = time.monotonic() - t0
    waited, rows = Replication(env, lite, cdc, task_id, scope, lite=True).check()
    report(f"[lite {variant or 'full'}] {w.inserted} rows inserted in {t_load:.1f}s; "
           f"milvus-lite equal {waited:.1f}s after the workload; {rows} rows compared")
    assert cdc.task(task_id)["state"] == "Running"
