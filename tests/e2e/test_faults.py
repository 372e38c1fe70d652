"""The fault matrix, end to end, in both target modes: each server of the chain killed with
SIGKILL and started again while a task replicates (the standby or the target, Kafka,
cdc-server itself), and all of them together with a pause and a resume. Every test ends
with the row-by-row comparison of conftest.Replication, after upserts across partitions
that run once the faulty server is back (issue 11: a standby that restarted lost exactly
those).

A killed server stays down for DOWNTIME seconds (a deliberate outage, not a wait for a
condition) while the source goes on writing; Kafka is the exception: the source Milvus
cannot write while its WAL is down, so the source writes once it is back.
Longer and harsher combinations: tests/e2e/faults_long.sh.
"""
import os
import random
import threading
import time
import uuid

import pytest

import faults as fx
import workload as wl
from conftest import CdcServer, Replication, artifacts_dir, report, start_task

DOWNTIME = float(os.environ.get("CDC_E2E_FAULT_DOWNTIME", "10"))
ROUND = int(os.environ.get("CDC_E2E_FAULT_ROUND", "1000"))
# pause, resume and delete answer within this, whatever the pipeline is doing
CONTROL_DEADLINE = 1.0

TARGETS = {"replicate": ("standby", "standby"), "api": ("target", "target")}


def run_with_fault(env, cdc, target_ep, task_id, names, fault, label):
    """Two rounds of inserts/deletes/upserts, the fault (a callable that takes servers down,
    has one round written meanwhile or right after, and brings them back), the steps after
    the fault, and the row-by-row check."""
    w = wl.Workload(env.source, names, seed=sum(map(ord, label)) % 1000)
    c = fx.upsert_collection(w, f"{names}_up")
    cdc.wait_collections(target_ep, task_id, [c.name])
    fx.dml_round(w, c, 0, ROUND, 0)
    fx.dml_round(w, c, ROUND, ROUND, 10)
    fx.wait_rows(target_ep, c.name, ROUND)
    t0 = time.monotonic()
    outage = fault(lambda: fx.dml_round(w, c, 2 * ROUND, ROUND, 20))
    fx.after_fault_steps(w, c, 3 * ROUND, ROUND, 30)
    waited, rows = Replication(env, target_ep, cdc, task_id, {"default": names}).check()
    report(f"[fault {label}] {outage}; {w.inserted} rows inserted, upserts across partitions "
           f"after it; equal {waited:.1f}s after the workload ({time.monotonic() - t0:.0f}s "
           f"since the fault), {rows} rows compared row by row")
    cdc.require_running(task_id)


def server_killed(name):
    """kill -9 of a harness server, DOWNTIME seconds down, started again."""
    def fault(during):
        fx.kill(name)
        if name != "kafka":
            during()
        time.sleep(DOWNTIME)
        up = fx.start(name)
        if name == "kafka":
            during()
        return f"{name} killed, down {DOWNTIME:.0f}s + {up:.0f}s to start"
    return fault


def cdc_killed(cdc):
    """kill -9 of cdc-server while the source writes; started again on its data."""
    def fault(during):
        cdc.kill9()
        during()
        cdc.start()
        return "cdc-server killed while the source wrote"
    return fault


def timed(what, call):
    t0 = time.monotonic()
    call()
    took = time.monotonic() - t0
    assert took < CONTROL_DEADLINE, f"{what} answered after {took:.2f}s (limit {CONTROL_DEADLINE}s)"
    return took


def everything(cdc, task_id, server):
    """The issue's combination: the target (standby) killed; while it is down cdc-server is
    killed and started, the task paused and resumed (each answering within a second), and
    Kafka killed and started; then the target comes back and cdc-server is killed once more."""
    def fault(during):
        fx.kill(server)
        cdc.kill9()
        cdc.start()
        took = [timed("pause", lambda: cdc.pause(task_id))]
        cdc.wait_state(task_id, "Paused")
        took.append(timed("resume", lambda: cdc.resume(task_id)))
        cdc.wait_state(task_id, "Running")
        fx.kill("kafka")
        time.sleep(DOWNTIME / 2)
        fx.start("kafka")
        during()
        time.sleep(DOWNTIME / 2)
        up = fx.start(server)
        cdc.kill9()
        cdc.start()
        return (f"{server} killed; meanwhile cdc-server killed, pause/resume answered in "
                f"{took[0]:.2f}/{took[1]:.2f}s, Kafka killed and started; {server} back after "
                f"{up:.0f}s to start; cdc-server killed again")
    return fault


# mode -> (the fixture of its target, the harness server behind it)
MODES = {"replicate": ("standby", "standby"), "api": ("target", "target")}


@pytest.fixture(params=sorted(MODES))
def mode(request):
    """Both target modes: (mode, target endpoint, the harness server that is the target)."""
    fixture, server = MODES[request.param]
    return request.param, request.getfixturevalue(fixture), server


def start_mode_task(server, env, mode, **extra):
    name, ep, _ = mode
    return start_task(server, env, ep.uri, target_mode=name, **extra)


def test_target_killed(env, cdc, names, mode):
    task_id = start_mode_task(cdc, env, mode)
    run_with_fault(env, cdc, mode[1], task_id, names, server_killed(mode[2]),
                   f"{mode[0]}, {mode[2]} kill -9")


def test_kafka_killed(env, cdc, names, mode):
    task_id = start_mode_task(cdc, env, mode)
    run_with_fault(env, cdc, mode[1], task_id, names, server_killed("kafka"),
                   f"{mode[0]}, Kafka kill -9")


def test_cdc_killed(env, cdc, names, mode):
    task_id = start_mode_task(cdc, env, mode)
    run_with_fault(env, cdc, mode[1], task_id, names, cdc_killed(cdc),
                   f"{mode[0]}, cdc-server kill -9")


def test_everything(env, cdc, names, mode):
    task_id = start_mode_task(cdc, env, mode)
    run_with_fault(env, cdc, mode[1], task_id, names, everything(cdc, task_id, mode[2]),
                   f"{mode[0]}, combination")


# Few and short retries: a target down for OUTAGE seconds uses them up several times.
IMPATIENT = ("retry:\n  attempts: 2\n  backoff_ms: 100\n  max_backoff_ms: 200\n"
             "  restart_delay_ms: 500\n  max_restart_delay_ms: 2000\n")
OUTAGE = 2 * DOWNTIME


@pytest.fixture
def impatient(env, request):
    """A cdc-server whose retries of one call are used up within seconds."""
    workdir = artifacts_dir() / f"{request.node.name}-{uuid.uuid4().hex[:4]}"
    server = CdcServer(workdir, env.kafka, env.source_uri, extra_config=IMPATIENT).start()
    yield server
    server.stop()


def down_past_the_retries(cdc, task_id, name):
    """The target down longer than the retries of a call: the task stays Running and its
    pipeline starts again from the checkpoints until the target is back."""
    def fault(during):
        fx.kill(name)
        during()
        time.sleep(OUTAGE)
        cdc.require_running(task_id)
        up = fx.start(name)
        restarts = len(cdc.log_lines("starts again from the checkpoints"))
        assert restarts >= 1, "the retries were not used up: the test proves nothing"
        return (f"{name} killed, down {OUTAGE:.0f}s + {up:.0f}s to start, {restarts} restarts "
                f"of the pipeline meanwhile, the task Running throughout")
    return fault


def test_target_down_past_the_retries(env, impatient, names, mode):
    task_id = start_mode_task(impatient, env, mode,
                              milvus_connect_param={"uri": mode[1].uri, "connect_timeout": 2})
    run_with_fault(env, impatient, mode[1], task_id, names,
                   down_past_the_retries(impatient, task_id, mode[2]),
                   f"{mode[0]}, {mode[2]} down past the retries")


# SIGTERM while the writer retries against a dead target: the server exits within this
STOP_DEADLINE = 5.0


def sigterm_while_down(cdc, name):
    """The target killed; while the writer retries against it, SIGTERM: the server exits
    (code 0) within STOP_DEADLINE with its checkpoints written, and is started again once the
    target is back."""
    def fault(during):
        retrying = len(cdc.log_lines("failed, retrying"))
        fx.kill(name)
        during()
        deadline = time.monotonic() + 60
        while len(cdc.log_lines("failed, retrying")) <= retrying:
            assert time.monotonic() < deadline, "the writer never retried: the test proves nothing"
            time.sleep(0.2)
        t0 = time.monotonic()
        cdc.stop()
        took = time.monotonic() - t0
        assert took < STOP_DEADLINE, (
            f"cdc-server took {took:.1f}s to exit after SIGTERM (limit {STOP_DEADLINE}s)")
        up = fx.start(name)
        cdc.start()
        return (f"{name} killed; SIGTERM while the writer retried: exited in {took:.2f}s; "
                f"{name} back after {up:.0f}s to start, cdc-server started again")
    return fault


def test_sigterm_while_the_target_is_down(env, cdc, names, mode):
    task_id = start_mode_task(cdc, env, mode)
    run_with_fault(env, cdc, mode[1], task_id, names, sigterm_while_down(cdc, mode[2]),
                   f"{mode[0]}, SIGTERM with {mode[2]} down")


def test_delete_answers_while_the_target_is_down(env, standby, cdc, names):
    """delete answers within a second while the writer retries against a dead standby, and
    nothing of the task is left (its writer stops too: the next task is alone)."""
    task_id = start_task(cdc, env, standby.uri, target_mode="replicate")
    w = wl.Workload(env.source, names, seed=5)
    c = fx.upsert_collection(w, f"{names}_up")
    cdc.wait_collections(standby, task_id, [c.name])
    fx.kill("standby")
    try:
        fx.dml_round(w, c, 0, ROUND, 0)
        wl.wait_rows_on(env.source, "default", c.name, lambda n: n >= ROUND, 60, "source rows")
        took = timed("delete", lambda: cdc.cdc("delete", {"task_id": task_id}))
        assert task_id not in [t["task_id"] for t in cdc.cdc("list")["tasks"]]
    finally:
        fx.start("standby")
    report(f"[fault delete] delete answered in {took:.2f}s with the standby down")


def test_pause_resume_at_any_time(env, cdc, names, mode):
    """Pause and resume again and again while the source inserts, deletes and upserts: each
    pause cuts the batch in flight short wherever it is (between an upsert's Inserts and its
    Delete too), each answer comes within a second, and the target ends equal."""
    task_id = start_mode_task(cdc, env, mode)
    w = wl.Workload(env.source, names, seed=31)
    c_int, c_str = wl.simple_collections(
        w, created=lambda n: cdc.wait_collections(mode[1], task_id, n))
    batch, batches = 1000, 9
    errors = []

    def produce():
        try:
            for i in range(batches):
                wl.batch_step(w, c_int, c_str, i, batch)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    producer = threading.Thread(target=produce)
    producer.start()
    rng = random.Random(7)
    cycles, slowest = 0, 0.0
    try:
        while producer.is_alive() and cycles < 40:
            time.sleep(rng.uniform(0.1, 0.8))
            slowest = max(slowest, timed("pause", lambda: cdc.pause(task_id)))
            time.sleep(rng.uniform(0.0, 0.5))
            slowest = max(slowest, timed("resume", lambda: cdc.resume(task_id)))
            cycles += 1
    finally:
        producer.join()
    assert not errors, errors
    assert cycles >= 3, f"only {cycles} pause/resume cycles during the workload"
    waited, rows = Replication(env, mode[1], cdc, task_id, {"default": names}).check()
    report(f"[fault {mode[0]}, pause/resume at any time] {cycles} pause/resume cycles during "
           f"{w.inserted} rows of inserts, deletes and upserts, slowest answer {slowest:.2f}s; "
           f"equal {waited:.1f}s after the workload, {rows} rows compared row by row")
