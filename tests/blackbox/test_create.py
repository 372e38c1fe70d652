"""create: the documented forms, the extensions, every validation failure."""

import base64
import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from conftest import HEX32, assert_error, create_body, create_data

# The create body of the documentation page, byte for byte.
DOC_CREATE = ('{"request_type":"create","request_data":'
              '{"milvus_connect_param":{"uri":"%s","token":"root:Milvus",'
              '"connect_timeout":10},'
              '"collection_infos":[{"name":"*"}]}}')

GRPC_STATUS = re.compile(
    r"\b(OK|CANCELLED|UNKNOWN|INVALID[_ ]ARGUMENT|DEADLINE[_ ]EXCEEDED|"
    r"NOT[_ ]FOUND|ALREADY[_ ]EXISTS|PERMISSION[_ ]DENIED|"
    r"RESOURCE[_ ]EXHAUSTED|FAILED[_ ]PRECONDITION|ABORTED|OUT[_ ]OF[_ ]RANGE|"
    r"UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA[_ ]LOSS|UNAUTHENTICATED)\b",
    re.IGNORECASE)


def names(task):
    return [c["name"] for c in task["collection_infos"]]


def msg_position(channel, timestamp):
    """Serialized msgpb.MsgPosition (channel_name=1, msgID=2, timestamp=4)."""
    ch = channel.encode()
    msg_id = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    ts = bytearray()
    while True:
        byte, timestamp = timestamp & 0x7F, timestamp >> 7
        ts.append(byte | (0x80 if timestamp else 0))
        if not timestamp:
            break
    raw = (b"\x0a" + bytes([len(ch)]) + ch + b"\x12" + bytes([len(msg_id)])
           + msg_id + b"\x20" + bytes(ts))
    return base64.b64encode(raw).decode()


def test_documented_create_returns_32_hex_task_id(server, lite_uri):
    status, body = server.cdc(DOC_CREATE % lite_uri)
    assert status == 200, body
    assert set(body["data"]) == {"task_id"}, body
    assert HEX32.match(body["data"]["task_id"]), body
    assert [t["task_id"] for t in server.tasks()] == [body["data"]["task_id"]]


def test_created_task_has_the_documented_shape(server, lite_uri):
    tid = server.create(create_data(lite_uri))
    task = server.wait_state(tid, "Running")
    assert task["task_id"] == tid
    mcp = task["milvus_connect_param"]
    assert mcp["uri"] == lite_uri
    assert mcp["connect_timeout"] == 10
    assert "token" not in mcp and "password" not in mcp, mcp
    assert names(task) == ["*"]
    assert not task.get("reason"), f"reason only when paused: {task!r}"
    assert "Milvus" not in json.dumps(task), f"token leaked: {task!r}"


def test_two_task_ids_differ(server, lite_uri):
    a = server.create(create_data(lite_uri, [{"name": "c1"}]))
    b = server.create(create_data(lite_uri, [{"name": "c2"}]))
    assert a != b
    assert sorted(t["task_id"] for t in server.tasks()) == sorted([a, b])


def test_connect_timeout_defaults_to_5(server, lite_uri):
    data = create_data(lite_uri)
    del data["milvus_connect_param"]["connect_timeout"]
    tid = server.create(data)
    assert server.task(tid)["milvus_connect_param"]["connect_timeout"] == 5


def test_legacy_host_port_form(server, lite_uri):
    u = urlsplit(lite_uri)
    # The body of the older documentation page, with its extra
    # rpc_channel_info key (unknown keys are ignored).
    body = {"request_type": "create", "request_data": {
        "milvus_connect_param": {
            "host": u.hostname, "port": u.port, "username": "root",
            "password": "Milvus", "enable_tls": False, "connect_timeout": 10},
        "collection_infos": [{"name": "*"}],
        "rpc_channel_info": {"name": "by-dev-replicate-msg"}}}
    tid = server.create(body["request_data"])
    task = server.task(tid)
    assert task["milvus_connect_param"]["uri"] == (
        f"http://{u.hostname}:{u.port}")
    mcp = task["milvus_connect_param"]
    assert "password" not in mcp and "token" not in mcp, mcp
    assert "Milvus" not in json.dumps(task), f"password leaked: {task!r}"


def test_legacy_username_without_password_is_400(server, lite_uri):
    u = urlsplit(lite_uri)
    status, body = server.cdc({"request_type": "create", "request_data": {
        "milvus_connect_param": {"host": u.hostname, "port": u.port,
                                 "username": "root", "connect_timeout": 10},
        "collection_infos": [{"name": "*"}]}})
    assert_error(status, body, 400, "password")
    assert server.tasks() == []


def test_legacy_password_without_username_is_400(server, lite_uri):
    u = urlsplit(lite_uri)
    status, body = server.cdc({"request_type": "create", "request_data": {
        "milvus_connect_param": {"host": u.hostname, "port": u.port,
                                 "password": "Milvus", "connect_timeout": 10},
        "collection_infos": [{"name": "*"}]}})
    assert_error(status, body, 400, "username")
    assert server.tasks() == []


def test_db_collections_form_is_echoed(server, lite_uri):
    dbc = {"db1": [{"name": "c1"}, {"name": "c2"}]}
    data = create_data(lite_uri)
    del data["collection_infos"]
    data["db_collections"] = dbc
    task = server.task(server.create(data))
    got = {db: [c["name"] for c in cols]
           for db, cols in task["db_collections"].items()}
    assert got == {"db1": ["c1", "c2"]}, task


def test_whole_cluster_db_collections(server, lite_uri):
    data = create_data(lite_uri)
    del data["collection_infos"]
    data["db_collections"] = {"*": [{"name": "*"}]}
    task = server.task(server.create(data))
    assert list(task["db_collections"]) == ["*"], task


def test_both_selections_is_400(server, lite_uri):
    data = create_data(lite_uri, db_collections={"db1": [{"name": "*"}]})
    status, body = server.cdc({"request_type": "create",
                               "request_data": data})
    assert_error(status, body, 400)
    assert ("collection_infos" in body["message"]
            or "db_collections" in body["message"]), body
    assert server.tasks() == []


def test_no_selection_is_400(server, lite_uri):
    data = create_data(lite_uri)
    del data["collection_infos"]
    status, body = server.cdc({"request_type": "create",
                               "request_data": data})
    assert_error(status, body, 400)
    assert ("collection_infos" in body["message"]
            or "db_collections" in body["message"]), body
    assert server.tasks() == []


def test_empty_collection_infos_is_400(server, lite_uri):
    status, body = server.cdc(create_body(lite_uri, []))
    assert_error(status, body, 400, "collection_infos")
    assert server.tasks() == []


def test_more_than_one_db_key_is_400(server, lite_uri):
    data = create_data(lite_uri)
    del data["collection_infos"]
    data["db_collections"] = {"db1": [{"name": "*"}], "db2": [{"name": "*"}]}
    status, body = server.cdc({"request_type": "create",
                               "request_data": data})
    assert_error(status, body, 400, "db_collections")
    assert server.tasks() == []


def test_positions_with_star_is_400(server, lite_uri):
    vch = "by-dev-rootcoord-dml_0_449000000000000001v0"
    status, body = server.cdc(create_body(lite_uri, [
        {"name": "*", "positions": {vch: msg_position(vch, 1 << 60)}}]))
    assert_error(status, body, 400, "position")
    assert server.tasks() == []


def test_use_start_position_with_star_is_400(server, lite_uri):
    status, body = server.cdc(create_body(
        lite_uri, [{"name": "*", "use_start_position": True}]))
    assert_error(status, body, 400)
    assert server.tasks() == []


def test_position_key_that_is_not_a_vchannel_is_400(server, lite_uri):
    for key in ("not-a-channel", "by-dev-rootcoord-dml_0"):
        status, body = server.cdc(create_body(lite_uri, [
            {"name": "c1", "positions": {key: msg_position(key, 1 << 60)}}]))
        assert_error(status, body, 400, "position")
    assert server.tasks() == []


def test_position_for_a_vchannel_is_accepted(server, lite_uri):
    vch = "by-dev-rootcoord-dml_0_449000000000000001v0"
    tid = server.create(create_data(lite_uri, [
        {"name": "c1", "positions": {vch: msg_position(vch, 1 << 60)}}]))
    assert names(server.task(tid)) == ["c1"]


def test_name_mapping_is_echoed(server, lite_uri):
    mapping = [{"source_db": "a", "target_db": "b",
                "collection_mapping": {"c1": "c2"}}]
    data = create_data(lite_uri, name_mapping=mapping)
    del data["collection_infos"]
    data["db_collections"] = {"a": [{"name": "c1"}]}
    task = server.task(server.create(data))
    assert task["name_mapping"] == mapping, task


def test_client_chosen_task_id_and_idempotent_create(server, lite_uri):
    tid = "0123456789abcdef0123456789abcdef"
    data = create_data(lite_uri, task_id=tid)
    assert server.create(data) == tid
    assert server.create(data) == tid
    assert [t["task_id"] for t in server.tasks()] == [tid]


def test_same_task_id_different_params_is_400(server, lite_uri):
    tid = "0123456789abcdef0123456789abcdef"
    server.create(create_data(lite_uri, [{"name": "c1"}], task_id=tid))
    status, body = server.cdc(create_body(lite_uri, [{"name": "c2"}],
                                          task_id=tid))
    assert_error(status, body, 400, "task_id")
    tasks = server.tasks()
    assert [t["task_id"] for t in tasks] == [tid]
    assert names(tasks[0]) == ["c1"]


def test_collection_already_covered_for_same_target_is_400(server, lite_uri):
    server.create(create_data(lite_uri, [{"name": "c1"}]))
    status, body = server.cdc(create_body(lite_uri, [{"name": "c1"}]))
    assert_error(status, body, 400)
    assert "c1" in body["message"] or "collection" in body["message"], body
    assert len(server.tasks()) == 1


def test_star_covers_every_collection_of_default_db(server, lite_uri):
    server.create(create_data(lite_uri, [{"name": "*"}]))
    status, body = server.cdc(create_body(lite_uri, [{"name": "c9"}]))
    assert_error(status, body, 400)
    data = create_data(lite_uri)
    del data["collection_infos"]
    data["db_collections"] = {"default": [{"name": "c9"}]}
    status, body = server.cdc({"request_type": "create",
                               "request_data": data})
    assert_error(status, body, 400)
    assert len(server.tasks()) == 1


def test_whole_cluster_task_covers_everything(server, lite_uri):
    data = create_data(lite_uri)
    del data["collection_infos"]
    data["db_collections"] = {"*": [{"name": "*"}]}
    server.create(data)
    status, body = server.cdc(create_body(lite_uri, [{"name": "c1"}]))
    assert_error(status, body, 400)
    assert len(server.tasks()) == 1


def test_disjoint_collections_same_target_are_allowed(server, lite_uri):
    server.create(create_data(lite_uri, [{"name": "c1"}]))
    server.create(create_data(lite_uri, [{"name": "c2"}]))
    assert len(server.tasks()) == 2


def test_disable_auto_start_creates_the_task_paused(server, lite_uri):
    tid = server.create(create_data(lite_uri, disable_auto_start=True))
    time.sleep(0.3)  # give a wrongly started task time to show Running
    task = server.task(tid)
    assert task["state"] == "Paused", (
        f"contract: disable_auto_start creates the task paused: {task!r}")
    server.resume(tid)
    server.wait_state(tid, "Running")


def test_target_mode_replicate_is_echoed(server, lite_uri):
    tid = server.create(create_data(lite_uri, target_mode="replicate"))
    assert server.task(tid)["target_mode"] == "replicate"


def test_target_mode_api_is_accepted(server, lite_uri):
    tid = server.create(create_data(lite_uri, target_mode="api"))
    assert server.task(tid).get("target_mode", "api") == "api"


def test_bad_target_mode_is_400(server, lite_uri):
    status, body = server.cdc(create_body(lite_uri, target_mode="bogus"))
    assert_error(status, body, 400, "target_mode")
    assert server.tasks() == []


def test_extra_info_and_ignore_partition_are_accepted(server, lite_uri):
    data = create_data(lite_uri, extra_info={"enable_user_role": True})
    data["milvus_connect_param"]["ignore_partition"] = True
    data["milvus_connect_param"]["channel_num"] = 16
    server.create(data)
    assert len(server.tasks()) == 1


def test_negative_connect_timeout_is_400(server, lite_uri):
    status, body = server.cdc(create_body(lite_uri, timeout=-1))
    assert_error(status, body, 400, "connect_timeout")
    assert server.tasks() == []


def test_uri_not_http_is_400(server, lite_uri):
    hostport = urlsplit(lite_uri).netloc
    for uri in (f"tcp://{hostport}", f"ftp://{hostport}"):
        status, body = server.cdc(create_body(uri))
        assert_error(status, body, 400, "uri")
    assert server.tasks() == []


def test_no_target_address_is_400(server, lite_uri):
    status, body = server.cdc({"request_type": "create", "request_data": {
        "collection_infos": [{"name": "*"}]}})
    assert_error(status, body, 400)
    status, body = server.cdc(create_body("", token="root:Milvus"))
    assert_error(status, body, 400)
    assert server.tasks() == []


def test_empty_name_is_400(server, lite_uri):
    status, body = server.cdc(create_body(lite_uri, [{"name": ""}]))
    assert_error(status, body, 400, "name")
    assert server.tasks() == []


def test_name_length_limit_is_255(server, lite_uri):
    status, body = server.cdc(create_body(lite_uri, [{"name": "n" * 256}]))
    assert_error(status, body, 400, "name")
    assert server.tasks() == []
    tid = server.create(create_data(lite_uri, [{"name": "n" * 255}]))
    assert names(server.task(tid)) == ["n" * 255]


def test_over_long_db_name_is_400(server, lite_uri):
    data = create_data(lite_uri)
    del data["collection_infos"]
    data["db_collections"] = {"d" * 256: [{"name": "c1"}]}
    status, body = server.cdc({"request_type": "create",
                               "request_data": data})
    assert_error(status, body, 400, "name")
    assert server.tasks() == []


def test_max_task_num_reached_is_400(make_server, lite_uri):
    server = make_server(config="max_task_num: 2\n")
    server.create(create_data(lite_uri, [{"name": "c1"}]))
    server.create(create_data(lite_uri, [{"name": "c2"}]))
    status, body = server.cdc(create_body(lite_uri, [{"name": "c3"}]))
    assert_error(status, body, 400)
    assert "max_task_num" in body["message"] or "limit" in body["message"]
    assert len(server.tasks()) == 2


def test_unreachable_target_is_500_with_grpc_status(server, closed_uri):
    t0 = time.monotonic()
    status, body = server.cdc(create_body(closed_uri, timeout=1))
    elapsed = time.monotonic() - t0
    assert_error(status, body, 500)
    assert GRPC_STATUS.search(body["message"]), (
        f"no gRPC status in the message: {body['message']!r}")
    assert elapsed < 5, f"connect_timeout 1 but the answer took {elapsed:.1f}s"
    assert server.tasks() == []


def test_request_data_keys_are_case_insensitive(server, lite_uri):
    data = create_data(lite_uri)
    body = {"request_type": "create", "request_data": {
        "Milvus_Connect_Param": data["milvus_connect_param"],
        "COLLECTION_INFOS": data["collection_infos"]}}
    tid = server.create(body["request_data"])
    assert server.ok({"request_type": "get",
                      "request_data": {"Task_ID": tid}})["Task"]["task_id"] \
        == tid


def test_nested_keys_are_case_insensitive(server, lite_uri):
    # The Go reference decodes every level case-insensitively.
    tid = server.create({
        "milvus_connect_param": {"URI": lite_uri, "Token": "root:Milvus",
                                 "Connect_Timeout": 7},
        "collection_infos": [{"NAME": "c1"}]})
    task = server.task(tid)
    assert task["milvus_connect_param"]["uri"] == lite_uri
    assert task["milvus_connect_param"]["connect_timeout"] == 7
    assert names(task) == ["c1"]


def test_dial_config_key_paths_never_returned(server, lite_uri, tmp_path):
    key = tmp_path / "client-secret-key.pem"
    key.write_text("not a key; the target is plain http\n")
    data = create_data(lite_uri)
    data["milvus_connect_param"]["dial_config"] = {
        "server_name": "target", "client_key_path": str(key)}
    tid = server.create(data)
    assert "client-secret-key" not in json.dumps(server.task(tid))
    assert "client-secret-key" not in json.dumps(server.tasks())


def test_https_uri_means_tls(server, lite_uri):
    # milvus-lite speaks plain gRPC: a TLS dial must fail, not fall back.
    tls_uri = lite_uri.replace("http://", "https://", 1)
    status, body = server.cdc(create_body(tls_uri, timeout=2))
    assert_error(status, body, 500)
    assert GRPC_STATUS.search(body["message"]), body
    u = urlsplit(lite_uri)
    status, body = server.cdc({"request_type": "create", "request_data": {
        "milvus_connect_param": {"host": u.hostname, "port": u.port,
                                 "username": "root", "password": "Milvus",
                                 "enable_tls": True, "connect_timeout": 2},
        "collection_infos": [{"name": "*"}]}})
    assert_error(status, body, 500)
    assert server.tasks() == []


@pytest.fixture
def black_hole():
    """A port that accepts TCP connections and never says a word."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_connect_timeout_bounds_the_dial(server, black_hole):
    t0 = time.monotonic()
    status, body = server.cdc(create_body(black_hole, timeout=1))
    elapsed = time.monotonic() - t0
    assert_error(status, body, 500)
    assert GRPC_STATUS.search(body["message"]), body
    assert 0.8 <= elapsed < 4, f"connect_timeout 1 but {elapsed:.1f}s"
    assert server.tasks() == []


def test_server_serves_while_a_create_dials(server, black_hole):
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(server.cdc, create_body(black_hole, timeout=3))
        time.sleep(0.2)  # let the create reach its dial
        for _ in range(5):
            t0 = time.monotonic()
            assert server.tasks() == []
            took = time.monotonic() - t0
            assert took < 1.0, f"list took {took:.2f}s during a dial"
        assert not slow.done(), "the dial should still be waiting"
        status, body = slow.result()
    assert_error(status, body, 500)
