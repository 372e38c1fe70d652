"""Bad input gets a clear 4xx, the server keeps serving, nothing is left."""

import http.client
import json
import select
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import (REQUEST_TYPES, assert_error, check_envelope,
                      create_body, create_data)

UNKNOWN_ID = "ffffffffffffffffffffffffffffffff"
TEN_MB = 10 * 1024 * 1024


def padded_list_body(size):
    """A valid list request of exactly `size` bytes."""
    head, tail = b'{"request_type":"list","request_data":{"pad":"', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def read_http_response(sock):
    """Read one HTTP/1.1 response: (status, headers, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise AssertionError(f"connection closed mid-answer: {buf!r}")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
        return status, headers, rest[:n]
    assert headers.get("transfer-encoding", "").lower() != "chunked", (
        "chunked answers are not handled by this test helper")
    while True:
        data = sock.recv(65536)
        if not data:
            return status, headers, rest
        rest += data


def send_big_body(port, size, chunked=False):
    """POST /cdc with a body of `size` bytes, sent in 64 KiB pieces.

    Stops sending as soon as the server answers (it may refuse before the
    body is complete) and returns the parsed answer.
    """
    body = padded_list_body(size)
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        head = ("POST /cdc HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nConnection: close\r\n")
        head += ("Transfer-Encoding: chunked\r\n" if chunked
                 else f"Content-Length: {len(body)}\r\n")
        sock.sendall((head + "\r\n").encode())
        step = 65536
        try:
            for off in range(0, len(body), step):
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                piece = body[off:off + step]
                if chunked:
                    piece = b"%x\r\n%s\r\n" % (len(piece), piece)
                sock.sendall(piece)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading; its answer should be there
        try:
            return read_http_response(sock)
        except ConnectionResetError:
            raise AssertionError("connection reset without an HTTP answer")
    finally:
        sock.close()


def assert_serving(server):
    assert server.alive()
    assert server.healthy()
    assert isinstance(server.tasks(), list)


@pytest.mark.parametrize("raw", [
    '{"request_type": "list"',
    '{request_type: list}',
    'not json',
    '',
    '{"request_type":"list"} trailing',
    '{"request_type":"list",}',
], ids=["unclosed", "unquoted", "text", "empty", "trailing", "comma"])
def test_malformed_json_is_400(server, raw):
    status, body = server.cdc(raw)
    assert_error(status, body, 400)
    assert_serving(server)


@pytest.mark.parametrize("raw", [
    '[]', '[{"request_type":"list"}]', '"list"', '42', 'null', 'true',
], ids=["array", "array-of-request", "string", "number", "null", "bool"])
def test_json_that_is_not_an_object_is_400(server, raw):
    status, body = server.cdc(raw)
    assert_error(status, body, 400)
    assert_serving(server)


WRONG_TYPES = {
    "connect_timeout-string": lambda u: create_body(u, timeout="ten"),
    "collection_infos-object": lambda u: {
        "request_type": "create", "request_data": dict(
            create_data(u), collection_infos={"name": "*"})},
    "name-number": lambda u: create_body(u, [{"name": 5}]),
    "uri-number": lambda u: create_body(5),
    "milvus_connect_param-list": lambda u: {
        "request_type": "create", "request_data": dict(
            create_data(u), milvus_connect_param=[u])},
    "db_collections-list": lambda u: {
        "request_type": "create", "request_data": {
            "milvus_connect_param": create_data(u)["milvus_connect_param"],
            "db_collections": [{"name": "*"}]}},
    "disable_auto_start-string": lambda u: create_body(
        u, disable_auto_start="yes"),
    "name_mapping-object": lambda u: create_body(
        u, name_mapping={"source_db": "a"}),
    "task_id-number": lambda u: create_body(u, task_id=12345),
    "request_type-number": lambda u: {"request_type": 5},
    "request_data-string": lambda u: {"request_type": "create",
                                      "request_data": "everything"},
    "get-task_id-number": lambda u: {"request_type": "get",
                                     "request_data": {"task_id": 7}},
    "delete-ignore_not_found-string": lambda u: {
        "request_type": "delete", "request_data": {
            "task_id": UNKNOWN_ID, "ignore_not_found": "yes"}},
    "maintenance-params-string": lambda u: {
        "request_type": "maintenance", "request_data": {
            "operation": "set_log_level", "params": "debug"}},
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_wrong_value_types_are_400(server, lite_uri, case):
    status, body = server.cdc(WRONG_TYPES[case](lite_uri))
    assert_error(status, body, 400)
    field = case.split("-")[-2]
    assert field in body["message"], (
        f"message does not name {field!r}: {body['message']!r}")
    assert server.tasks() == []


def test_legacy_port_as_string_is_400(server, lite_uri):
    status, body = server.cdc({"request_type": "create", "request_data": {
        "milvus_connect_param": {"host": "127.0.0.1", "port": "nineteen",
                                 "connect_timeout": 10},
        "collection_infos": [{"name": "*"}]}})
    assert_error(status, body, 400, "port")
    assert server.tasks() == []


def test_invalid_utf8_is_400(server, lite_uri):
    raw = json.dumps(create_body(lite_uri, [{"name": "cX"}])).encode()
    raw = raw.replace(b"cX", b"c\xff\xfe")
    status, body = server.cdc(raw)
    assert_error(status, body, 400)
    assert server.tasks() == []


def test_unknown_request_type_lists_the_valid_ones(server):
    status, body = server.cdc({"request_type": "frobnicate"})
    assert_error(status, body, 400, *REQUEST_TYPES)


def test_missing_request_type_is_400(server):
    status, body = server.cdc({"request_data": {}})
    assert_error(status, body, 400, "request_type")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_on_cdc_are_405(server, method):
    status, body = server.cdc(None, method=method)
    assert_error(status, body, 405)
    assert_serving(server)


@pytest.mark.parametrize("chunked", [False, True],
                         ids=["content-length", "chunked"])
def test_ten_megabyte_body_is_400(server, chunked):
    status, headers, raw = send_big_body(server.port, TEN_MB, chunked)
    body = check_envelope(status, headers, raw)
    assert_error(status, body, 400)
    assert_serving(server)


def test_max_body_bytes_is_configurable(make_server):
    server = make_server(config="http:\n  max_body_bytes: 2048\n")
    status, body = server.cdc(padded_list_body(2000))
    assert status == 200, body
    status, body = server.cdc(padded_list_body(4000))
    assert_error(status, body, 400)
    assert_serving(server)


def test_body_just_under_one_mebibyte_is_served(server):
    status, body = server.cdc(padded_list_body(1024 * 1024 - 64))
    assert status == 200, body


def test_body_over_one_mebibyte_is_400(server):
    status, headers, raw = send_big_body(server.port, 1024 * 1024 + 64)
    assert_error(status, check_envelope(status, headers, raw), 400)
    assert_serving(server)


NESTED = {
    "arrays": "[" * 100000 + "]" * 100000,
    "objects": '{"a":' * 100000 + "1" + "}" * 100000,
    "inside-request_data": ('{"request_type":"list","request_data":{"x":'
                            + "[" * 100000 + "]" * 100000 + "}}"),
    "inside-create": ('{"request_type":"create","request_data":'
                      '{"collection_infos":' + "[" * 100000
                      + "]" * 100000 + "}}"),
}


@pytest.mark.parametrize("case", sorted(NESTED))
def test_deeply_nested_json_is_400(server, case):
    status, body = server.cdc(NESTED[case])
    assert_error(status, body, 400)
    assert_serving(server)
    assert server.tasks() == []


def test_100_concurrent_requests(server, lite_uri):
    tid = server.create(create_data(lite_uri, [{"name": "c1"}]))
    bad_create = create_body(lite_uri, [{"name": "c2"}], timeout=-1)
    cases = []
    for i in range(20):
        cases += [
            ({"request_type": "list"}, 200),
            ({"request_type": "get", "request_data": {"task_id": tid}}, 200),
            ({"request_type": "get",
              "request_data": {"task_id": UNKNOWN_ID}}, 404),
            (bad_create, 400),
            ('{"request_type": "create", "request_data": {', 400),
        ]

    def run(case):
        body, expected = case
        status, resp = server.cdc(body)
        return body, expected, status, resp

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(run, cases))
    assert len(results) == 100
    for body, expected, status, resp in results:
        assert status == expected, (body, resp)
        if isinstance(body, dict) and body["request_type"] == "list":
            assert [t["task_id"] for t in resp["data"]["tasks"]] == [tid]
        if status == 200 and body["request_type"] == "get":
            assert resp["data"]["Task"]["task_id"] == tid
    assert_serving(server)
    assert [t["task_id"] for t in server.tasks()] == [tid]


def test_concurrent_idempotent_creates_make_one_task(server, lite_uri):
    tid = "0123456789abcdef0123456789abcdef"
    body = create_body(lite_uri, task_id=tid)
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: server.cdc(body), range(10)))
    for status, resp in results:
        assert status == 200, resp
        assert resp["data"]["task_id"] == tid
    assert [t["task_id"] for t in server.tasks()] == [tid]


def test_concurrent_creates_of_one_collection_make_one_task(server,
                                                            lite_uri):
    body = create_body(lite_uri, [{"name": "c1"}])
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: server.cdc(body), range(10)))
    codes = sorted(status for status, _ in results)
    assert codes == [200] + [400] * 9, results
    winner = [r["data"]["task_id"] for s, r in results if s == 200]
    assert [t["task_id"] for t in server.tasks()] == winner


def test_two_requests_on_one_keep_alive_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(2):
            conn.request("POST", "/cdc", body=b'{"request_type":"list"}',
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["data"] == {"tasks": []}
    finally:
        conn.close()


@pytest.mark.parametrize("ctype", [None, "application/x-www-form-urlencoded",
                                   "text/plain"],
                         ids=["none", "form (curl -d default)", "text"])
def test_content_type_is_not_required(server, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    status, hdrs, raw = server.http("POST", "/cdc", '{"request_type":"list"}',
                                    headers)
    body = check_envelope(status, hdrs, raw)
    assert body == {"code": 200, "data": {"tasks": []}}


def test_expect_100_continue(server, lite_uri):
    # curl sends "Expect: 100-continue" for bodies over 1 KiB.
    body = json.dumps(create_body(lite_uri, [{"name": "c1"}],
                                  comment="x" * 1200))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall((f"POST /cdc HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Content-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n"
                      f"Expect: 100-continue\r\nConnection: close\r\n\r\n"
                      ).encode())
        # Like curl: wait up to 1 s for "100 Continue", then send anyway.
        readable, _, _ = select.select([sock], [], [], 1.0)
        if readable:
            interim = b""
            while not interim.endswith(b"\r\n\r\n"):
                byte = sock.recv(1)
                assert byte, f"closed before the body was sent: {interim!r}"
                interim += byte
            assert interim.startswith(b"HTTP/1.1 100"), (
                f"final answer before the body was sent: {interim!r}")
        sock.sendall(body.encode())
        status, headers, raw = read_http_response(sock)
    finally:
        sock.close()
    assert status == 200, raw
    assert check_envelope(status, headers, raw)["data"]["task_id"]
