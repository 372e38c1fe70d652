"""list, get, pause, resume, delete, position, maintenance; secrets."""

import base64
import json
from urllib.parse import urlsplit

from conftest import HEX32, assert_error, create_body, create_data

UNKNOWN_ID = "ffffffffffffffffffffffffffffffff"


def by_id(tasks):
    return {t["task_id"]: t for t in tasks}


def test_list_without_tasks_is_an_empty_list(server):
    status, body = server.cdc('{"request_type":"list"}')
    assert status == 200
    assert body == {"code": 200, "data": {"tasks": []}}


def test_list_with_empty_request_data(server):
    status, body = server.cdc({"request_type": "list", "request_data": {}})
    assert body == {"code": 200, "data": {"tasks": []}}


def test_list_shows_every_task_with_its_state(server, lite_uri):
    a = server.create(create_data(lite_uri, [{"name": "c1"}]))
    b = server.create(create_data(lite_uri, [{"name": "c2"}]))
    server.wait_state(a, "Running")
    server.wait_state(b, "Running")
    server.pause(b)
    tasks = by_id(server.tasks())
    assert set(tasks) == {a, b}
    assert tasks[a]["state"] == "Running"
    assert tasks[b]["state"] == "Paused"
    assert not tasks[a].get("reason"), tasks[a]
    for t in tasks.values():
        assert HEX32.match(t["task_id"])
        assert t["milvus_connect_param"]["uri"] == lite_uri
        assert "token" not in t["milvus_connect_param"]
        assert t["state"] in ("Initial", "Running", "Paused")
    assert [c["name"] for c in tasks[a]["collection_infos"]] == ["c1"]
    assert [c["name"] for c in tasks[b]["collection_infos"]] == ["c2"]


def test_a_created_task_is_running_at_once(server, lite_uri):
    """create answers after the state it reports: list and get right after it say Running
    (never Initial)."""
    for name in ("r1", "r2", "r3"):
        tid = server.create(create_data(lite_uri, collections=[{"name": name}]))
        listed = by_id(server.tasks())[tid]
        assert listed["state"] == "Running", listed
        got = server.cdc({"request_type": "get", "request_data": {"task_id": tid}})[1]
        assert got["data"]["Task"]["state"] == "Running", got


def test_get_returns_capitalised_task(server, lite_uri):
    tid = server.create(create_data(lite_uri))
    server.wait_state(tid, "Running")
    status, body = server.cdc({"request_type": "get",
                               "request_data": {"task_id": tid}})
    assert status == 200
    assert list(body["data"]) == ["Task"]
    task = body["data"]["Task"]
    assert task["task_id"] == tid
    listed = dict(by_id(server.tasks())[tid])
    listed.pop("progress", None)
    assert {k: v for k, v in task.items() if k != "progress"} == listed
    for key in ("task_id", "milvus_connect_param", "collection_infos",
                "state"):
        assert key in task, f"{key} missing: {task!r}"


def test_get_unknown_task_is_404(server):
    status, body = server.cdc({"request_type": "get",
                               "request_data": {"task_id": UNKNOWN_ID}})
    assert_error(status, body, 404)


def test_get_without_task_id_is_400(server):
    status, body = server.cdc({"request_type": "get", "request_data": {}})
    assert_error(status, body, 400, "task_id")


def test_pause_and_resume(server, lite_uri):
    tid = server.create(create_data(lite_uri))
    server.wait_state(tid, "Running")
    status, body = server.cdc({"request_type": "pause",
                               "request_data": {"task_id": tid}})
    assert (status, body) == (200, {"code": 200, "data": {}})
    assert server.task(tid)["state"] == "Paused"
    status, body = server.cdc({"request_type": "resume",
                               "request_data": {"task_id": tid}})
    assert (status, body) == (200, {"code": 200, "data": {}})
    task = server.wait_state(tid, "Running")
    assert not task.get("reason"), f"reason only when paused: {task!r}"


def test_pause_a_paused_task_is_400(server, lite_uri):
    tid = server.create(create_data(lite_uri))
    server.wait_state(tid, "Running")
    server.pause(tid)
    status, body = server.cdc({"request_type": "pause",
                               "request_data": {"task_id": tid}})
    assert_error(status, body, 400)
    assert server.task(tid)["state"] == "Paused"


def test_resume_a_running_task_is_400(server, lite_uri):
    tid = server.create(create_data(lite_uri))
    server.wait_state(tid, "Running")
    status, body = server.cdc({"request_type": "resume",
                               "request_data": {"task_id": tid}})
    assert_error(status, body, 400)
    assert server.task(tid)["state"] == "Running"


def test_pause_resume_position_unknown_task_are_404(server):
    for rtype in ("pause", "resume", "position"):
        status, body = server.cdc({"request_type": rtype,
                                   "request_data": {"task_id": UNKNOWN_ID}})
        assert_error(status, body, 404)


def test_delete_running_and_paused_tasks(server, lite_uri):
    a = server.create(create_data(lite_uri, [{"name": "c1"}]))
    b = server.create(create_data(lite_uri, [{"name": "c2"}]))
    server.wait_state(b, "Running")
    server.pause(b)
    status, body = server.cdc({"request_type": "delete", "request_data": {
        "task_id": a, "ignore_not_found": False}})
    assert (status, body) == (200, {"code": 200, "data": {}})
    server.delete(b)
    assert server.tasks() == []
    status, body = server.cdc({"request_type": "get",
                               "request_data": {"task_id": a}})
    assert_error(status, body, 404)


def test_delete_frees_the_collections(server, lite_uri):
    a = server.create(create_data(lite_uri, [{"name": "c1"}]))
    server.delete(a)
    b = server.create(create_data(lite_uri, [{"name": "c1"}]))
    assert [t["task_id"] for t in server.tasks()] == [b]


def test_delete_unknown_task_is_404(server):
    status, body = server.cdc({"request_type": "delete", "request_data": {
        "task_id": UNKNOWN_ID, "ignore_not_found": False}})
    assert_error(status, body, 404)


def test_delete_unknown_with_ignore_not_found_is_200(server):
    status, body = server.cdc({"request_type": "delete", "request_data": {
        "task_id": UNKNOWN_ID, "ignore_not_found": True}})
    assert (status, body) == (200, {"code": 200, "data": {}})


def test_position_returns_a_list(server, lite_uri):
    tid = server.create(create_data(lite_uri))
    status, body = server.cdc({"request_type": "position",
                               "request_data": {"task_id": tid}})
    assert status == 200
    assert list(body["data"]) == ["positions"]
    positions = body["data"]["positions"]
    assert isinstance(positions, list)
    for p in positions:
        assert set(p) >= {"channel_name", "time", "msg_id"}, p
        assert isinstance(p["channel_name"], str)
        assert isinstance(p["time"], int)
        base64.b64decode(p["msg_id"], validate=True)


def test_maintenance_set_log_level(server):
    status, body = server.cdc({"request_type": "maintenance", "request_data": {
        "operation": "set_log_level", "params": {"log_level": "debug"}}})
    assert (status, body) == (
        200, {"code": 200, "data": {"State": "set log level to debug"}})
    status, body = server.cdc({"request_type": "maintenance", "request_data": {
        "operation": "set_log_level", "params": {"log_level": "info"}}})
    assert body == {"code": 200,
                    "data": {"State": "set log level to info"}}


def test_maintenance_unknown_operation_is_400(server):
    status, body = server.cdc({"request_type": "maintenance", "request_data": {
        "operation": "reboot_the_world", "params": {}}})
    assert_error(status, body, 400, "operation")


def test_secrets_never_returned_nor_logged(make_server, lite_uri,
                                           closed_uri):
    server = make_server(config="log_level: trace\n")
    token = "root:Tok3n-Secr3t-7f1c"
    password = "Pa55w0rd-Secr3t-91ab"
    server.ok({"request_type": "maintenance", "request_data": {
        "operation": "set_log_level", "params": {"log_level": "trace"}}})
    a = server.create(create_data(lite_uri, [{"name": "c1"}], token=token))
    u = urlsplit(lite_uri)
    b = server.create({
        "milvus_connect_param": {"host": u.hostname, "port": u.port,
                                 "username": "root", "password": password,
                                 "connect_timeout": 10},
        "collection_infos": [{"name": "c2"}]})
    # Failing paths log too: an unreachable target and a duplicate.
    status, _ = server.cdc(create_body(closed_uri, [{"name": "c3"}],
                                       token=token, timeout=1))
    assert status == 500
    status, _ = server.cdc(create_body(lite_uri, [{"name": "c1"}],
                                       token=token))
    assert status == 400
    server.pause(a)
    server.resume(a)
    answers = [json.dumps(server.tasks()), json.dumps(server.task(a)),
               json.dumps(server.task(b))]
    server.restart()
    answers.append(json.dumps(server.tasks()))
    secrets = [token, password, "Secr3t",
               base64.b64encode(token.encode()).decode(),
               base64.b64encode(f"root:{password}".encode()).decode()]
    log = server.log()
    assert log, "no log output at log level trace"
    for s in secrets:
        for a_text in answers:
            assert s not in a_text, f"{s!r} returned: {a_text}"
        assert s not in log, f"{s!r} appears in the server log"


def test_set_log_level_changes_what_is_logged(make_server, lite_uri):
    server = make_server(config="log_level: error\n")
    quiet = server.create(create_data(lite_uri, [{"name": "c1"}]))
    assert quiet not in server.log(), "info logged at log_level error"
    server.ok({"request_type": "maintenance", "request_data": {
        "operation": "set_log_level", "params": {"log_level": "info"}}})
    loud = server.create(create_data(lite_uri, [{"name": "c2"}]))
    assert loud in server.log(), (
        "after set_log_level info a create is expected to log its task id")
