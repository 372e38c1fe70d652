"""Workloads driven with pymilvus on the source Milvus 2.3.5."""
import time

import numpy as np
from pymilvus import Collection, db

import milvus_util as mu


class Workload:
    """Collections created in `prefix`'s names; counts what it did."""

    def __init__(self, src, prefix, seed, log=print):
        self.src = src
        self.p = prefix
        self.rng = np.random.default_rng(seed)
        self.log = log
        self.inserted = 0
        self.ops = []

    def note(self, what):
        self.ops.append(what)

    def insert(self, coll, data, batch, partition_name=None):
        keys = mu.insert_batched(coll, data, batch, partition_name)
        self.inserted += len(keys)
        return keys


def full_workload(w, scale=1.0, partition_key=True, other_db=True, user_partitions=True):
    """A database besides default; collections with int64 and VarChar primary keys, one
    autoID, one with a dynamic field, one with partitions, one with a partition key; inserts
    in several batches, deletes by key and by expression, upserts, create index, load,
    release, flush, drop partition, drop collection, drop database.

    other_db=False keeps everything in default (no database created or dropped);
    user_partitions=False creates no partition (inserts go to _default, nothing dropped).
    Returns the scope to compare: {db: prefix or None}."""
    src, p, rng = w.src, w.p, w.rng

    def n(x):
        return max(10, int(x * scale))

    if other_db:
        dbx, tmpdb = f"{p}_db", f"{p}_tmpdb"
        db.create_database(dbx, using=src.alias())
        db.create_database(tmpdb, using=src.alias())
        w.note("create database x2")
    else:
        dbx = tmpdb = "default"

    c_int = Collection(f"{p}_int", mu.int_schema(), using=src.alias(), shards_num=2)
    if user_partitions:
        c_int.create_partition("p_extra")
        c_int.create_partition("p_gone")
    c_str = Collection(f"{p}_str", mu.str_schema(dynamic=True), using=src.alias(dbx))
    c_auto = Collection(f"{p}_auto", mu.int_schema(auto_id=True, array=False),
                        using=src.alias(dbx))
    c_pkey = None
    if partition_key:
        c_pkey = Collection(f"{p}_pkey", mu.partition_key_schema(), using=src.alias(dbx),
                            num_partitions=8)
    c_drop = Collection(f"{p}_dropme", mu.str_schema(dynamic=False), using=src.alias(dbx))
    c_tmp = Collection(f"{p}_tmp", mu.int_schema(array=False), using=src.alias(tmpdb))
    w.note("create collections")

    # inserts in several batches, interleaved between collections
    batch = n(2500)
    int_batches = 6
    auto_ids = []
    for i in range(int_batches):
        part = "_default" if i % 2 == 0 or not user_partitions else "p_extra"
        pks = np.arange(i * batch, (i + 1) * batch)
        w.insert(c_int, mu.int_columns(rng, pks, tag=i), batch, part)
        if i < 4:
            w.insert(c_str, mu.str_rows(rng, mu.str_keys(i * batch, (i + 1) * batch), tag=i),
                     batch)
            auto_ids += w.insert(c_auto, mu.auto_columns(rng, n(2000), tag=i), batch)
            if c_pkey is not None:
                w.insert(c_pkey, mu.pkey_columns(rng, np.arange(i * n(2000), (i + 1) * n(2000)),
                                                 tag=i), batch)
    if user_partitions:
        w.insert(c_int, mu.int_columns(rng, np.arange(10**6, 10**6 + n(1000)), tag=9), batch,
                 "p_gone")
    w.insert(c_drop, mu.str_rows(rng, mu.str_keys(0, n(1000)), dynamic=False), batch)
    w.insert(c_tmp, mu.int_columns(rng, np.arange(n(500)), array=False), batch)
    w.note("inserts")

    c_int.create_index("vec", mu.IVF)
    for c in (c_str, c_auto, c_pkey, c_drop, c_tmp):
        if c is not None:
            c.create_index("vec", mu.FLAT)
    live = [c for c in (c_int, c_str, c_auto, c_pkey) if c is not None]
    for c in live:
        c.load()
    w.note("create index, load")

    # deletes by key
    c_int.delete(f"pk in {list(range(0, int_batches * batch, 37))}")
    keys = mu.str_keys(0, 4 * batch)[::41]
    c_str.delete("pk in [" + ",".join(f'"{k}"' for k in keys) + "]")
    c_auto.delete(f"pk in {auto_ids[::50]}")
    if c_pkey is not None:
        c_pkey.delete(f"pk in {list(range(0, 4 * n(2000), 29))}")
    # deletes by expression (the source resolves them to keys in the WAL)
    c_int.delete("i16 < -30000")
    c_str.delete('color == "red" and n < 300')
    c_auto.delete("f < 0.02")
    if c_pkey is not None:
        c_pkey.delete('tenant == "t3"')
    w.note("deletes by key and by expression")

    # upserts: existing keys (some deleted before) and new ones, into the partition the
    # keys live in
    up = np.arange(100, 100 + n(1000) // 2)
    c_int.upsert(mu.int_columns(rng, up, tag=20), partition_name="_default")
    up = np.arange(batch + 50, batch + 50 + n(1000) // 2)
    c_int.upsert(mu.int_columns(rng, up, tag=21),
                 partition_name="p_extra" if user_partitions else "_default")
    up = np.arange(int_batches * batch, int_batches * batch + n(200))
    c_int.upsert(mu.int_columns(rng, up, tag=22), partition_name="_default")
    c_str.upsert(mu.str_rows(rng, mu.str_keys(batch, batch + n(500)) +
                             mu.str_keys(10**6, 10**6 + n(100)), tag=23))
    if c_pkey is not None:
        c_pkey.upsert(mu.pkey_columns(rng, np.arange(0, n(300)), tag=24))
    w.upserted = True
    w.note("upserts")

    # release, drop partition, load again
    c_int.release()
    if user_partitions:
        c_int.drop_partition("p_gone")
    c_int.load()
    if c_pkey is not None:
        c_pkey.release()
        c_pkey.load()
    for c in live:
        c.flush()
    w.note("release, " + ("drop partition, " if user_partitions else "") + "load, flush")

    # inserts after load and flush
    w.insert(c_int, mu.int_columns(rng, np.arange(2 * 10**6, 2 * 10**6 + n(2000)), tag=30),
             batch)
    w.insert(c_str, mu.str_rows(rng, mu.str_keys(2 * 10**6, 2 * 10**6 + n(1000)), tag=31),
             batch)

    # drop collection, drop database
    c_drop.drop()
    c_tmp.drop()
    if other_db:
        db.drop_database(tmpdb, using=src.alias())
        w.note("drop collection x2, drop database")
        return {"default": p, dbx: None, tmpdb: None}
    w.note("drop collection x2")
    return {"default": p}


def simple_collections(w, db_name="default", dim=mu.DIM, created=None):
    """An int64-key collection and a VarChar-key one with dynamic fields, indexed and loaded
    (so that data is queryable on both sides from the start). No user partition: the pause
    and kill tests check delivery, partitions are covered by full_workload.
    created(names), when given, is called between the creation and the index (to wait for
    the collections on the target)."""
    src, p = w.src, w.p
    if db_name != "default":
        db.create_database(db_name, using=src.alias())
    c_int = Collection(f"{p}_int", mu.int_schema(dim=dim), using=src.alias(db_name),
                       shards_num=2)
    c_str = Collection(f"{p}_str", mu.str_schema(dim=dim), using=src.alias(db_name))
    if created is not None:
        created([c_int.name, c_str.name])
    for c in (c_int, c_str):
        c.create_index("vec", mu.FLAT)
        c.load()
    return c_int, c_str


def batch_step(w, c_int, c_str, i, batch):
    """Batch i of the stream used by the pause and kill tests: inserts into both
    collections, and every third batch a delete by key, a delete by expression and an
    upsert of earlier keys."""
    w.insert(c_int, mu.int_columns(w.rng, np.arange(i * batch, (i + 1) * batch), tag=i), batch)
    w.insert(c_str, mu.str_rows(w.rng, mu.str_keys(i * batch // 2, (i + 1) * batch // 2),
                                tag=i), batch)
    if i % 3 == 2:
        lo = (i - 2) * batch
        c_int.delete(f"pk in {list(range(lo, lo + batch, 53))}")
        c_int.delete(f"pk >= {lo} and pk < {lo + batch} and i8 < -120")
        c_int.upsert(mu.int_columns(w.rng, np.arange(lo + 1, lo + 400, 3), tag=100 + i))
        keys = mu.str_keys(lo // 2, lo // 2 + 300)
        c_str.delete("pk in [" + ",".join(f'"{k}"' for k in keys[::7]) + "]")
        c_str.upsert(mu.str_rows(w.rng, keys[1::5], tag=100 + i))


def wait_rows_on(target_ep, db_name, name, predicate, timeout, what):
    """Polls count(*) on a target collection (it may not exist or be loaded yet)."""
    def check():
        c = target_ep.collection(name, db_name)
        n = c.query("", output_fields=["count(*)"], consistency_level="Eventually")[0]["count(*)"]
        return predicate(n) and (n or True)
    return mu.wait_until(what, check, timeout, 0.1)


def now():
    return time.monotonic()
