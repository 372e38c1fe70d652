"""Command line and configuration file: what starts, what is refused."""

import json
import signal
import subprocess
import time

from conftest import (CDC_SERVER, REPO, START_TIMEOUT, STOP_TIMEOUT,
                      CdcServer, assert_error, create_body, create_data,
                      free_port, http_request, run_to_exit)

# Every key of the configuration section of architecture.md, plus the
# extra keys of this server.
FULL_CONFIG = """\
listen: 0.0.0.0:8444
data_dir: ./cdc-data
log_level: info
max_task_num: 100
source:
  kafka:
    brokers: 127.0.0.1:9092
    options: {}
  milvus:
    uri: http://127.0.0.1:19530
    token: ""
  cluster_prefix: by-dev
  dml_channel_num: 16
  replicate_channel: by-dev-replicate-msg
http:
  max_body_bytes: 1048576
limits:
  max_name_length: 255
  read_batch_bytes: 8388608
  inflight_bytes: 67108864
retry:
  attempts: 5
  backoff_ms: 200
  max_backoff_ms: 10000
  restart_delay_ms: 1000
  max_restart_delay_ms: 30000
  max_restarts: 0
"""


def refused(tmp_path, config=None, args=()):
    """Run with a config (text) and args; the process must end non-zero."""
    a = []
    if config is not None:
        path = tmp_path / "bad.yaml"
        path.write_text(config)
        a += ["--config", str(path)]
    a += ["--listen", f"127.0.0.1:{free_port()}",
          "--data-dir", str(tmp_path / "data")]
    rc, out = run_to_exit(a + list(args), cwd=tmp_path)
    assert rc != 0, f"exit code 0 for {config!r} {args}; output:\n{out}"
    assert out.strip(), "refused without any message"
    return out


def test_unknown_key_is_named(tmp_path):
    out = refused(tmp_path, "listen: 127.0.0.1:1\nbogus_key: 1\n")
    assert "bogus_key" in out, out


def test_unknown_nested_key_is_named(tmp_path):
    out = refused(tmp_path, "source:\n  kafka:\n    bogus_nested: x\n")
    assert "bogus_nested" in out, out


def test_unknown_key_under_extra_section_is_named(tmp_path):
    out = refused(tmp_path, "http:\n  max_body_bytez: 10\n")
    assert "max_body_bytez" in out, out


def test_wrong_type_is_named(tmp_path):
    out = refused(tmp_path, "max_task_num: lots\n")
    assert "max_task_num" in out, out


def test_wrong_type_of_extra_key_is_named(tmp_path):
    out = refused(tmp_path, "http:\n  max_body_bytes: big\n")
    assert "max_body_bytes" in out, out


def test_scalar_instead_of_section_is_named(tmp_path):
    out = refused(tmp_path, "source: 5\n")
    assert "source" in out, out


def test_invalid_log_level_is_named(tmp_path):
    out = refused(tmp_path, "log_level: loud\n")
    assert "log_level" in out, out


def test_invalid_retry_values_are_named(tmp_path):
    for text, key in [("retry:\n  attempts: 0\n", "retry.attempts"),
                      ("retry:\n  backoff_ms: 500\n  max_backoff_ms: 100\n",
                       "retry.max_backoff_ms"),
                      ("retry:\n  restart_delay_ms: 0\n", "retry.restart_delay_ms"),
                      ("retry:\n  max_restarts: -1\n", "retry.max_restarts"),
                      ("retry:\n  atempts: 3\n", "atempts")]:
        out = refused(tmp_path, text)
        assert key in out, (text, out)


def test_missing_config_file(tmp_path):
    path = tmp_path / "no-such.yaml"
    rc, out = run_to_exit(["--config", str(path), "--listen",
                           f"127.0.0.1:{free_port()}", "--data-dir",
                           str(tmp_path / "data")], cwd=tmp_path)
    assert rc != 0, out
    assert str(path) in out or "no-such.yaml" in out, out


def test_config_that_is_a_directory(tmp_path):
    rc, out = run_to_exit(["--config", str(tmp_path), "--listen",
                           f"127.0.0.1:{free_port()}", "--data-dir",
                           str(tmp_path / "data")], cwd=tmp_path)
    assert rc != 0, out
    assert out.strip(), "refused without any message"


def test_malformed_yaml(tmp_path):
    refused(tmp_path, "listen: [unclosed\n  - : :\n")


def test_data_dir_under_a_regular_file(tmp_path):
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a directory\n")
    bad = blocker / "data"
    rc, out = run_to_exit(["--listen", f"127.0.0.1:{free_port()}",
                           "--data-dir", str(bad)], cwd=tmp_path)
    assert rc != 0, out
    assert str(blocker) in out or "data" in out.lower(), out


def test_data_dir_in_use_by_another_server(make_server, tmp_path):
    first = make_server()
    rc, out = run_to_exit(["--listen", f"127.0.0.1:{free_port()}",
                           "--data-dir", str(first.data_dir)],
                          cwd=tmp_path)
    assert rc != 0, out
    assert out.strip()
    assert first.healthy()


def test_unknown_command_line_flag(tmp_path):
    refused(tmp_path, None, ["--no-such-flag"])


def test_bad_listen_address(tmp_path):
    rc, out = run_to_exit(["--listen", "not-an-address",
                           "--data-dir", str(tmp_path / "data")],
                          cwd=tmp_path)
    assert rc != 0, out
    assert "listen" in out.lower() or "not-an-address" in out, out


def wait_healthz(proc, port):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited with {proc.returncode}"
        try:
            status, headers, raw = http_request(port, "GET", "/healthz",
                                                timeout=2.0)
            if status == 200:
                return headers, raw
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"/healthz on port {port} not 200 in time")


def sigterm(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("no exit after SIGTERM")


def test_no_arguments_starts_on_8444_with_cdc_data(tmp_path):
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([str(CDC_SERVER)], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        wait_healthz(proc, 8444)
        assert (tmp_path / "cdc-data").is_dir()
        status, _, raw = http_request(8444, "POST", "/cdc",
                                      '{"request_type":"list"}')
        assert status == 200
        assert json.loads(raw) == {"code": 200, "data": {"tasks": []}}
    finally:
        rc = sigterm(proc)
        log.close()
    assert rc == 0


def test_listen_and_data_dir_from_config(tmp_path):
    port = free_port()
    data = tmp_path / "configured-data"
    cfg = tmp_path / "cdc.yaml"
    cfg.write_text(f"listen: 127.0.0.1:{port}\ndata_dir: {data}\n")
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([str(CDC_SERVER), "--config", str(cfg)],
                            cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)
    try:
        wait_healthz(proc, port)
        assert data.is_dir()
        assert not (tmp_path / "cdc-data").exists()
    finally:
        rc = sigterm(proc)
        log.close()
    assert rc == 0


def test_command_line_overrides_config(make_server, tmp_path):
    config_port = free_port()
    server = make_server(config=f"listen: 127.0.0.1:{config_port}\n"
                         f"data_dir: {tmp_path / 'config-data'}\n")
    assert server.port != config_port
    assert server.healthy()
    assert server.data_dir.is_dir()
    assert not (tmp_path / "config-data").exists()
    try:
        http_request(config_port, "GET", "/healthz", timeout=1.0)
        raise AssertionError("the config's listen address also serves")
    except OSError:
        pass


def test_every_documented_key_is_accepted(make_server):
    server = make_server(config=FULL_CONFIG)
    assert server.tasks() == []


def test_deploy_example_config_is_accepted(make_server):
    example = REPO / "deploy" / "cdc.yaml"
    assert example.is_file(), "deploy/cdc.yaml (the documented example)"
    server = make_server(config=example.read_text())
    assert server.tasks() == []


def test_max_name_length_from_config(make_server, lite_uri):
    server = make_server(config="limits:\n  max_name_length: 10\n")
    status, body = server.cdc(create_body(lite_uri, [{"name": "n" * 11}]))
    assert_error(status, body, 400, "name")
    assert server.tasks() == []
    server.create(create_data(lite_uri, [{"name": "n" * 10}]))


def test_healthz_is_json(server):
    status, headers, raw = server.http("GET", "/healthz")
    assert status == 200
    assert headers.get("content-type", "").startswith("application/json")
    assert isinstance(json.loads(raw), dict)


def test_sigterm_with_tasks_exits_0_without_errors(tmp_path, lite_uri):
    server = CdcServer(tmp_path / "s").start()
    try:
        server.create(create_data(lite_uri, [{"name": "c1"}]))
        paused = server.create(create_data(lite_uri, [{"name": "c2"}]))
        server.wait_state(paused, "Running")
        server.pause(paused)
    finally:
        server.stop()  # asserts exit code 0 within STOP_TIMEOUT
    # A clean shutdown logs no error; the level is the second field of a
    # log line ("<time> <level> <message>").
    errors = [line for line in server.log().splitlines()
              if len(line.split()) > 1
              and line.split()[1].lower() in ("error", "critical", "fatal")]
    assert not errors, "errors logged during a clean shutdown:\n" + (
        "\n".join(errors))
