"""Smoke test: a real embedded Milvus 2.3.5 writes its WAL to a real Kafka 3.9.1.

Runs with $PY23 (pymilvus 2.3.7 + confluent-kafka) against the harness' source Milvus
(SOURCE_MILVUS_URI) and Kafka (KAFKA_BROKERS), both taken from the environment or from
$CDC_HARNESS_DIR/env. Use tests/smoke/run.sh.

It creates a collection, inserts, deletes, upserts, creates an index, loads, flushes and
creates a database, then reads the topics `by-dev-rootcoord-dml_*` and `by-dev-replicate-msg`
and checks base.msg_type of every record (parsed as common.MsgHeader from pymilvus' stubs).
"""
import os
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from pymilvus import (Collection, CollectionSchema, DataType, FieldSchema, connections, db,
                      utility)
from pymilvus.grpc_gen import common_pb2, milvus_pb2, msg_pb2, schema_pb2

MT = common_pb2.MsgType
DIM = 8
ROWS = 100
DELETED = 10
UPSERTED = 5


def harness_env():
    env = {}
    d = os.environ.get("CDC_HARNESS_DIR")
    if d and os.path.exists(os.path.join(d, "env")):
        for line in open(os.path.join(d, "env")):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    env.update({k: v for k, v in os.environ.items()
                if k in ("SOURCE_MILVUS_URI", "KAFKA_BROKERS")})
    return env


ENV = harness_env()
pytestmark = pytest.mark.skipif(
    not (ENV.get("SOURCE_MILVUS_URI") and ENV.get("KAFKA_BROKERS")),
    reason="harness source Milvus and Kafka not started (tests/smoke/run.sh starts them)")


def msg_type(value: bytes) -> int:
    return common_pb2.MsgHeader.FromString(value).base.msg_type


def read_topics(brokers, pattern_ok, timeout=60.0):
    """All records of the matching topics, from the beginning up to the high watermark
    taken now (DML topics get TimeTicks for ever, so there is no quiet end to wait for)."""
    admin = AdminClient({"bootstrap.servers": brokers})
    md = admin.list_topics(timeout=10)
    topics = sorted(t for t in md.topics if pattern_ok(t))
    c = Consumer({"bootstrap.servers": brokers, "group.id": "smoke-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "fetch.message.max.bytes": 10485760})
    records, ends = [], {}
    try:
        parts = []
        for t in topics:
            for p in md.topics[t].partitions:
                lo, hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=10)
                if hi > lo:
                    ends[(t, p)] = hi
                    parts.append(TopicPartition(t, p, lo))
        if not parts:
            return topics, records
        c.assign(parts)
        deadline = time.time() + timeout
        done = set()
        while len(done) < len(ends) and time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                raise RuntimeError(m.error())
            key = (m.topic(), m.partition())
            if m.offset() < ends[key]:
                records.append(m)
            if m.offset() >= ends[key] - 1:
                done.add(key)
        assert len(done) == len(ends), f"did not reach the end of {set(ends) - done}"
    finally:
        c.close()
    return topics, records


LAST = {}


def wait_for(pred, what, timeout=60.0):
    deadline = time.time() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {LAST.get(what)}")
        time.sleep(1)


@pytest.fixture(scope="module")
def workload():
    uri = ENV["SOURCE_MILVUS_URI"]
    connections.connect(alias="default", uri=uri)
    suffix = uuid.uuid4().hex[:8]
    coll_name = f"smoke_{suffix}"
    db_name = f"smoke_db_{suffix}"
    fields = [
        FieldSchema("pk", DataType.INT64, is_primary=True),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM),
        FieldSchema("title", DataType.VARCHAR, max_length=64),
    ]
    coll = Collection(coll_name, CollectionSchema(fields), shards_num=2)
    ids = list(range(ROWS))
    coll.insert([ids, [[float(i + j) for j in range(DIM)] for i in ids],
                 [f"row {i}" for i in ids]])
    coll.delete(f"pk in {list(range(DELETED))}")
    up = list(range(ROWS - UPSERTED, ROWS))
    coll.upsert([up, [[0.5] * DIM for _ in up], [f"upserted {i}" for i in up]])
    coll.create_index("vec", {"index_type": "IVF_FLAT", "metric_type": "L2",
                              "params": {"nlist": 8}})
    coll.load()
    coll.flush()
    db.create_database(db_name)
    info = {"collection": coll_name, "db": db_name, "server": utility.get_server_version()}
    yield info
    db.drop_database(db_name)
    utility.drop_collection(coll_name)
    connections.disconnect("default")


def test_dml_topics(workload):
    brokers = ENV["KAFKA_BROKERS"]
    coll = workload["collection"]

    def ours():
        topics, recs = read_topics(brokers, lambda t: t.startswith("by-dev-rootcoord-dml_"))
        types = {}
        rows = {MT.Insert: 0, MT.Delete: 0}
        coll_ids = set()
        creates = []
        for r in recs:
            t = msg_type(r.value())
            if t == MT.Insert:
                m = msg_pb2.InsertRequest.FromString(r.value())
                if m.collection_name == coll:
                    rows[t] += m.num_rows
                    coll_ids.add(m.collectionID)
                    types.setdefault(t, []).append(r)
            elif t == MT.Delete:
                m = msg_pb2.DeleteRequest.FromString(r.value())
                if m.collection_name == coll:
                    rows[t] += m.num_rows
                    types.setdefault(t, []).append(r)
            elif t == MT.CreateCollection:
                # 2.3.5 leaves collectionName empty here: match by ID (and schema name)
                creates.append((msg_pb2.CreateCollectionRequest.FromString(r.value()), r))
            else:
                types.setdefault(t, []).append(r)
        for m, r in creates:
            if m.collectionID in coll_ids:
                assert schema_pb2.CollectionSchema.FromString(m.schema).name == coll
                types.setdefault(MT.CreateCollection, []).append(r)
        LAST["Insert/Delete records of the workload"] = (
            topics, {MT.Name(t): len(v) for t, v in types.items()}, rows)
        # wait until all our rows are visible in the WAL
        if rows[MT.Insert] >= ROWS + UPSERTED and rows[MT.Delete] >= DELETED + UPSERTED:
            return topics, types, rows
        return None

    topics, types, rows = wait_for(ours, "Insert/Delete records of the workload")
    assert topics, "no by-dev-rootcoord-dml_* topic"
    names = {t: MT.Name(t) for t in types}
    print("dml topics:", topics, "types:", {names[t]: len(v) for t, v in types.items()})
    assert len(types.get(MT.CreateCollection, [])) == 2  # one per shard (shards_num=2)
    assert MT.Insert in types and MT.Delete in types
    assert MT.TimeTick in types
    # upsert = Insert + Delete of the same keys
    assert rows[MT.Insert] == ROWS + UPSERTED
    assert rows[MT.Delete] == DELETED + UPSERTED
    for r in types[MT.Insert]:
        hdrs = dict(r.headers() or [])
        assert r.topic().startswith("by-dev-rootcoord-dml_")
        print("insert record headers:", sorted(hdrs))
    # every payload on a DML topic is one of the DML/DDL message types
    allowed = {MT.CreateCollection, MT.DropCollection, MT.CreatePartition, MT.DropPartition,
               MT.Insert, MT.Delete, MT.TimeTick}
    assert set(types) <= allowed, f"unexpected types on DML topics: {set(types) - allowed}"


def test_replicate_topic(workload):
    brokers = ENV["KAFKA_BROKERS"]
    coll, dbn = workload["collection"], workload["db"]

    def ours():
        topics, recs = read_topics(brokers, lambda t: t == "by-dev-replicate-msg")
        seen = {}
        for r in recs:
            t = msg_type(r.value())
            match = False
            if t == MT.CreateDatabase:
                match = milvus_pb2.CreateDatabaseRequest.FromString(r.value()).db_name == dbn
            elif t == MT.CreateIndex:
                match = milvus_pb2.CreateIndexRequest.FromString(r.value()).collection_name == coll
            elif t == MT.LoadCollection:
                match = milvus_pb2.LoadCollectionRequest.FromString(r.value()).collection_name == coll
            elif t == MT.Flush:
                match = coll in milvus_pb2.FlushRequest.FromString(r.value()).collection_names
            if match:
                seen.setdefault(t, []).append(r)
        LAST["replicate-msg records of the workload"] = (
            topics, {MT.Name(t): len(v) for t, v in seen.items()},
            sorted({MT.Name(msg_type(r.value())) for r in recs}))
        want = {MT.CreateDatabase, MT.CreateIndex, MT.LoadCollection, MT.Flush}
        return (topics, seen) if want <= set(seen) else None

    topics, seen = wait_for(ours, "replicate-msg records of the workload")
    print("replicate-msg types:", {MT.Name(t): len(v) for t, v in seen.items()})
    assert topics == ["by-dev-replicate-msg"]
