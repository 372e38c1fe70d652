"""Tasks and their states survive SIGTERM and kill -9 (RocksDB)."""

import pytest

from conftest import assert_error, create_body, create_data


def snapshot(server):
    """Task id -> (state, target uri, timeout, collection names)."""
    return {t["task_id"]: (t["state"], t["milvus_connect_param"]["uri"],
                           t["milvus_connect_param"]["connect_timeout"],
                           [c["name"] for c in t["collection_infos"]])
            for t in server.tasks()}


def restart(server, how):
    if how == "sigterm":
        server.restart()
    else:
        server.crash_restart()


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_tasks_come_back_in_their_states(server, lite_uri, how):
    a = server.create(create_data(lite_uri, [{"name": "c1"}]))
    b = server.create(create_data(lite_uri, [{"name": "c2"}], timeout=7))
    server.wait_state(a, "Running")
    server.wait_state(b, "Running")
    server.pause(b)
    before = snapshot(server)
    assert before[a][0] == "Running" and before[b][0] == "Paused"
    restart(server, how)
    assert snapshot(server) == before
    # They are live tasks again, not just records.
    server.pause(a)
    server.resume(b)
    server.wait_state(b, "Running")


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_deleted_task_stays_deleted(server, lite_uri, how):
    a = server.create(create_data(lite_uri, [{"name": "c1"}]))
    b = server.create(create_data(lite_uri, [{"name": "c2"}]))
    server.delete(a)
    restart(server, how)
    assert [t["task_id"] for t in server.tasks()] == [b]
    status, body = server.cdc({"request_type": "get",
                               "request_data": {"task_id": a}})
    assert_error(status, body, 404)


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_disable_auto_start_task_stays_paused(server, lite_uri, how):
    tid = server.create(create_data(lite_uri, disable_auto_start=True))
    state = server.task(tid)["state"]
    restart(server, how)
    assert server.task(tid)["state"] == state
    assert state == "Paused", "contract: disable_auto_start = created paused"


def test_resumed_task_runs_after_restart(server, lite_uri):
    tid = server.create(create_data(lite_uri, disable_auto_start=True))
    server.resume(tid)
    server.wait_state(tid, "Running")
    server.restart()
    server.wait_state(tid, "Running")


def test_restored_tasks_still_cover_their_collections(server, lite_uri):
    tid = "00000000000000000000000000000abc"
    server.create(create_data(lite_uri, [{"name": "c1"}], task_id=tid))
    server.crash_restart()
    status, body = server.cdc(create_body(lite_uri, [{"name": "c1"}]))
    assert_error(status, body, 400)
    # Idempotent create still recognises the restored task.
    assert server.create(create_data(lite_uri, [{"name": "c1"}],
                                     task_id=tid)) == tid
    assert [t["task_id"] for t in server.tasks()] == [tid]


def test_echoed_fields_survive_restart(server, lite_uri):
    mapping = [{"source_db": "a", "target_db": "b",
                "collection_mapping": {"c1": "c2"}}]
    data = create_data(lite_uri, name_mapping=mapping,
                       target_mode="replicate")
    del data["collection_infos"]
    data["db_collections"] = {"a": [{"name": "c1"}]}
    tid = server.create(data)
    before = server.task(tid)
    server.restart()
    after = server.task(tid)
    for key in ("name_mapping", "db_collections", "target_mode",
                "milvus_connect_param"):
        assert after.get(key) == before.get(key), key
    assert after["name_mapping"] == mapping


def test_failed_create_leaves_nothing_after_restart(server, closed_uri,
                                                    lite_uri):
    status, _ = server.cdc(create_body(closed_uri, timeout=1))
    assert status == 500
    status, _ = server.cdc(create_body(lite_uri, timeout=-1))
    assert status == 400
    server.crash_restart()
    assert server.tasks() == []
