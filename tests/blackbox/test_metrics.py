"""GET /metrics and /cdc/metrics: Prometheus text with tasks and requests."""

import re

import pytest

from conftest import create_body, create_data

SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?"
    r"\s+(?P<value>\S+)(?:\s+-?\d+)?$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def scrape(server, path):
    status, headers, raw = server.http("GET", path)
    assert status == 200, raw[:300]
    ctype = headers.get("content-type", "")
    assert ctype.startswith("text/plain"), ctype
    text = raw.decode()
    samples, types = {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group("labels") or ""))
        samples[(m.group("name"), labels)] = float(m.group("value"))
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


@pytest.mark.parametrize("path", ["/metrics", "/cdc/metrics"])
def test_tasks_by_state(server, lite_uri, path):
    a = server.create(create_data(lite_uri, [{"name": "c1"}]))
    b = server.create(create_data(lite_uri, [{"name": "c2"}]))
    server.create(create_data(lite_uri, [{"name": "c3"}],
                              disable_auto_start=True))
    server.wait_state(a, "Running")
    server.wait_state(b, "Running")
    server.pause(b)
    samples, types = scrape(server, path)
    assert types.get("cdc_tasks") == "gauge", types
    assert value(samples, "cdc_tasks", state="Running") == 1
    assert value(samples, "cdc_tasks", state="Paused") == 2
    assert value(samples, "cdc_tasks", state="Initial") == 0
    server.delete(a)
    samples, _ = scrape(server, path)
    assert value(samples, "cdc_tasks", state="Running") == 0
    assert value(samples, "cdc_tasks", state="Paused") == 2


@pytest.mark.parametrize("path", ["/metrics", "/cdc/metrics"])
def test_http_requests_by_type_and_code(server, lite_uri, closed_uri, path):
    server.create(create_data(lite_uri, [{"name": "c1"}]))
    server.create(create_data(lite_uri, [{"name": "c2"}]))
    assert server.cdc(create_body(lite_uri, timeout=-1))[0] == 400
    assert server.cdc(create_body(closed_uri, timeout=1))[0] == 500
    for _ in range(3):
        server.tasks()
    assert server.cdc({"request_type": "get", "request_data": {
        "task_id": "ffffffffffffffffffffffffffffffff"}})[0] == 404
    samples, types = scrape(server, path)
    name = "cdc_http_requests_total"
    assert types.get(name) == "counter", types
    assert value(samples, name, type="create", code="200") == 2
    assert value(samples, name, type="create", code="400") == 1
    assert value(samples, name, type="create", code="500") == 1
    assert value(samples, name, type="list", code="200") == 3
    assert value(samples, name, type="get", code="404") == 1
    server.tasks()
    samples, _ = scrape(server, path)
    assert value(samples, name, type="list", code="200") == 4


def test_both_paths_serve_the_same_families(server):
    _, ta = scrape(server, "/metrics")
    _, tb = scrape(server, "/cdc/metrics")
    assert {"cdc_tasks", "cdc_http_requests_total"} <= set(ta)
    assert set(ta) == set(tb)
