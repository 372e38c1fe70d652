"""Milvus helpers of the end-to-end suite: connections, data, dumps, comparison, waiting.

Everything talks to real servers with pymilvus 2.3.7 (the $PY23 venv): the source Milvus
2.3.5, the target Milvus 2.3.5, and milvus-lite 3.2.2 (pymilvus 2.3.7 speaks its protocol
for everything used here: databases, collections, partitions, indexes, load, insert,
upsert, delete, query, count(*)).
"""
import time
import uuid

import numpy as np
from pymilvus import (Collection, CollectionSchema, DataType, FieldSchema, connections, db,
                      utility)

DIM = 128
PAGE = 4000          # rows per query page (4000 x 128 floats = 2 MB)
STRONG = "Strong"
# Deadline of one query. A Strong query waits until the server's time passed the request's:
# on a standby whose TimeTicks stopped it would wait forever; callers retry or fail instead.
QUERY_TIMEOUT = 60


# --------------------------------------------------------------------------- connections

class Endpoint:
    """One Milvus server, with one pymilvus alias per database (created on first use)."""

    def __init__(self, role, uri):
        self.role = role
        self.uri = uri.rstrip("/")
        self._aliases = {}
        self._tag = uuid.uuid4().hex[:6]

    def alias(self, db_name="default"):
        a = self._aliases.get(db_name)
        if a is None:
            a = f"{self.role}-{self._tag}-{db_name}"
            connections.connect(alias=a, uri=self.uri, db_name=db_name, timeout=30)
            self._aliases[db_name] = a
        return a

    def collection(self, name, db_name="default"):
        return Collection(name, using=self.alias(db_name))

    def databases(self):
        return sorted(db.list_database(using=self.alias()))

    def collections(self, db_name="default"):
        return sorted(utility.list_collections(using=self.alias(db_name)))

    def close(self):
        for a in self._aliases.values():
            try:
                connections.disconnect(a)
            except Exception:
                pass
        self._aliases.clear()


# --------------------------------------------------------------------------- data

def vectors(rng, n, dim=DIM):
    """n float32 vectors; a few carry -0.0, subnormals and large values, so that a copy
    that is not bit-exact shows."""
    v = rng.random((n, dim), dtype=np.float32) * 2 - 1
    if n:
        v[0, 0] = -0.0
        v[n // 2, 1] = np.float32(1e-40)  # subnormal
        v[-1, 2] = np.float32(3.4e38)
    return v


def int_schema(dim=DIM, dynamic=False, auto_id=False, array=True):
    """int64 primary key and one field of every scalar type 2.3.5 has."""
    fields = [
        FieldSchema("pk", DataType.INT64, is_primary=True, auto_id=auto_id),
        FieldSchema("b", DataType.BOOL),
        FieldSchema("i8", DataType.INT8),
        FieldSchema("i16", DataType.INT16),
        FieldSchema("i32", DataType.INT32),
        FieldSchema("f", DataType.FLOAT),
        FieldSchema("d", DataType.DOUBLE),
        FieldSchema("s", DataType.VARCHAR, max_length=64),
        FieldSchema("j", DataType.JSON),
    ]
    if array:
        fields.append(FieldSchema("arr", DataType.ARRAY, element_type=DataType.INT64,
                                  max_capacity=4))
    fields.append(FieldSchema("vec", DataType.FLOAT_VECTOR, dim=dim))
    return CollectionSchema(fields, enable_dynamic_field=dynamic, description="e2e int64 pk")


def str_schema(dim=DIM, dynamic=True):
    fields = [
        FieldSchema("pk", DataType.VARCHAR, is_primary=True, max_length=48),
        FieldSchema("n", DataType.INT64),
        FieldSchema("f", DataType.FLOAT),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=dim),
    ]
    return CollectionSchema(fields, enable_dynamic_field=dynamic, description="e2e varchar pk")


def partition_key_schema(dim=DIM):
    fields = [
        FieldSchema("pk", DataType.INT64, is_primary=True),
        FieldSchema("tenant", DataType.VARCHAR, max_length=16, is_partition_key=True),
        FieldSchema("n", DataType.INT32),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=dim),
    ]
    return CollectionSchema(fields, description="e2e partition key")


def int_columns(rng, pks, dim=DIM, with_pk=True, array=True, tag=0):
    """Column-wise data for int_schema (pk column left out for autoID collections)."""
    pks = np.asarray(pks, dtype=np.int64)
    n = len(pks)
    cols = []
    if with_pk:
        cols.append(pks.tolist())
    cols += [
        (pks % 2 == 0).tolist() if n else [],
        rng.integers(-128, 128, n).tolist(),
        rng.integers(-32768, 32768, n).tolist(),
        rng.integers(-2**31, 2**31, n).tolist(),
        rng.random(n, dtype=np.float32).tolist(),
        (rng.random(n) * 1e6 - 5e5).tolist(),
        [f"s{int(p)}-{tag}" for p in pks] if with_pk else [f"auto-{tag}-{i}" for i in range(n)],
        [{"k": int(p), "tag": tag, "nested": {"l": [1, 2, int(p) % 7]}} for p in pks]
        if with_pk else [{"tag": tag, "i": i} for i in range(n)],
    ]
    if array:
        cols.append([[int(p), tag, -1][: 1 + int(p) % 3] for p in pks]
                    if with_pk else [[i % 5, tag] for i in range(n)])
    cols.append(vectors(rng, n, dim).tolist())
    return cols


def auto_columns(rng, n, dim=DIM, tag=0, array=False):
    return int_columns(rng, np.arange(n), dim=dim, with_pk=False, array=array, tag=tag)


COLORS = ("red", "green", "blue")


def str_rows(rng, keys, dim=DIM, tag=0, dynamic=True):
    """Row-wise data for str_schema with dynamic fields (color, rank; every third row also
    a nested dynamic object)."""
    vec = vectors(rng, len(keys), dim).tolist()
    ns = rng.integers(0, 1000, len(keys)).tolist()
    fs = rng.random(len(keys), dtype=np.float32).tolist()
    rows = []
    for i, k in enumerate(keys):
        r = {"pk": k, "n": ns[i], "f": fs[i], "vec": vec[i]}
        if dynamic:
            r["color"] = COLORS[ns[i] % 3]
            r["rank"] = tag
        if dynamic and i % 3 == 0:
            r["extra"] = {"tag": tag, "list": [k, i]}
        rows.append(r)
    return rows


def str_keys(lo, hi, prefix="k"):
    return [f"{prefix}{i:07d}" for i in range(lo, hi)]


def pkey_columns(rng, pks, dim=DIM, tag=0):
    pks = np.asarray(pks, dtype=np.int64)
    return [pks.tolist(), [f"t{int(p) % 11}" for p in pks],
            rng.integers(-1000, 1000, len(pks)).tolist(), vectors(rng, len(pks), dim).tolist()]


def insert_batched(coll, data, batch, partition_name=None):
    """Inserts column-wise or row-wise data in batches; returns the primary keys."""
    rows = isinstance(data, list) and data and isinstance(data[0], dict)
    n = len(data) if rows else len(data[0])
    keys = []
    for lo in range(0, n, batch):
        part = data[lo:lo + batch] if rows else [c[lo:lo + batch] for c in data]
        res = coll.insert(part, partition_name=partition_name)
        keys += list(res.primary_keys)
    return keys


FLAT = {"index_type": "FLAT", "metric_type": "L2", "params": {}}
IVF = {"index_type": "IVF_FLAT", "metric_type": "IP", "params": {"nlist": 32}}


# --------------------------------------------------------------------------- state

def _field_info(f):
    p = dict(f.params or {})
    return {"name": f.name, "type": int(f.dtype), "primary": bool(f.is_primary),
            "partition_key": bool(getattr(f, "is_partition_key", False)),
            "dynamic": bool(getattr(f, "is_dynamic", False)),
            "element_type": int(getattr(f, "element_type", 0) or 0),
            "params": {k: str(v) for k, v in sorted(p.items())}}


def _index_params(params):
    """Index parameters as sorted (key, text) pairs; an empty "params" left out (Milvus
    2.3.5 reports params '{}' for FLAT, milvus-lite omits it)."""
    return tuple(sorted((k, str(v)) for k, v in (params or {}).items()
                        if not (k == "params" and v in ({}, "{}", ""))))


def collection_meta(ep, db_name, name, counts=True, partition_key_partitions=True):
    """Schema (autoID reported apart: the target may drop it by design), partitions,
    indexes, load state and count(*) of one collection.

    partition_key_partitions=False: the partitions of a collection with a partition key
    are not listed (milvus-lite names them its own way: _default and _pk_0.._pk_15 for
    any num_partitions)."""
    c = ep.collection(name, db_name)
    s = c.schema
    partitions = sorted(p.name for p in c.partitions)
    if not partition_key_partitions and any(getattr(f, "is_partition_key", False)
                                            for f in s.fields):
        partitions = "<partition key: not compared>"
    meta = {
        "fields": [_field_info(f) for f in s.fields],
        "dynamic": bool(s.enable_dynamic_field),
        "partitions": partitions,
        "indexes": sorted((i.field_name, i.index_name, _index_params(i.params))
                          for i in c.indexes),
        "load": str(utility.load_state(name, using=ep.alias(db_name))),
    }
    auto = {f.name: bool(f.auto_id) for f in s.fields if f.is_primary}
    if counts and meta["load"].endswith("Loaded"):
        meta["count"] = c.query("", output_fields=["count(*)"], consistency_level=STRONG,
                                timeout=QUERY_TIMEOUT)[0]["count(*)"]
    return meta, auto


def db_meta(ep, scope, counts=True, partition_key_partitions=True):
    """scope: {db_name: name_prefix or None (every collection of that db)}. A db that does
    not exist is recorded as absent."""
    out = {"databases": {}}
    dbs = set(ep.databases())
    for db_name, prefix in sorted(scope.items()):
        if db_name not in dbs:
            out["databases"][db_name] = None
            continue
        names = [n for n in ep.collections(db_name) if prefix is None or n.startswith(prefix)]
        out["databases"][db_name] = {
            n: collection_meta(ep, db_name, n, counts, partition_key_partitions)[0]
            for n in names}
    return out


def dump_rows(ep, db_name, name):
    """Every row of a loaded collection, in pages of PAGE rows ordered by primary key
    ("pk > last"), consistency Strong, output_fields ["*"].

    Returns (rows by pk, pk occurrences that were not unique, pk field name)."""
    c = ep.collection(name, db_name)
    pk = c.schema.primary_field
    is_str = pk.dtype == DataType.VARCHAR
    expr = f'{pk.name} >= ""' if is_str else f"{pk.name} >= -9223372036854775807"  # min+1: 2.3 cannot parse the minimum
    rows, dups = {}, []
    while True:
        page = c.query(expr, output_fields=["*"], limit=PAGE, consistency_level=STRONG,
                       timeout=QUERY_TIMEOUT)
        if not page:
            break
        for r in page:
            k = r[pk.name]
            if k in rows:
                dups.append(k)
            rows[k] = normalize(r)
        last = max(r[pk.name] for r in page)
        expr = f'{pk.name} > "{last}"' if is_str else f"{pk.name} > {last}"
        if len(page) < PAGE:
            break
    return rows, dups, pk.name


def normalize(row):
    """Vectors as their float32 bytes (tolerance 0, -0.0 and NaN included); everything
    else as pymilvus returns it."""
    out = {}
    for k, v in row.items():
        if isinstance(v, (list, np.ndarray)) and len(v) >= 8 and all(
                isinstance(x, (float, np.floating)) for x in v[:8]):
            out[k] = ("f32", np.asarray(v, dtype=np.float32).tobytes())
        else:
            out[k] = v
    return out


def _short(v):
    if isinstance(v, tuple) and v and v[0] == "f32":
        a = np.frombuffer(v[1], dtype=np.float32)
        return f"vector[{len(a)}]({a[:4].tolist()}...)"
    s = repr(v)
    return s if len(s) < 200 else s[:200] + "..."


def compare_rows(src, tgt, limit=10):
    """Differences between two dumps, as readable lines (empty when equal)."""
    problems = []
    missing = [k for k in src if k not in tgt]
    extra = [k for k in tgt if k not in src]
    if missing:
        problems.append(f"{len(missing)} primary keys missing on the target, e.g. "
                        f"{sorted(missing)[:limit]}")
    if extra:
        problems.append(f"{len(extra)} primary keys on the target that the source does "
                        f"not have, e.g. {sorted(extra)[:limit]}")
    differ = 0
    for k, row in src.items():
        other = tgt.get(k)
        if other is None or other == row:
            continue
        differ += 1
        if differ <= limit:
            fields = sorted(set(row) | set(other))
            diffs = [f"{f}: source {_short(row.get(f, '<absent>'))} target "
                     f"{_short(other.get(f, '<absent>'))}"
                     for f in fields if row.get(f, "<absent>") != other.get(f, "<absent>")]
            problems.append(f"pk {k!r} differs: " + "; ".join(diffs))
    if differ:
        problems.append(f"{differ} rows differ in all")
    return problems


def diff_meta(a, b, path=""):
    """Readable differences between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}/{k}: only on the target: {_short(b[k])}")
            elif k not in b:
                out.append(f"{path}/{k}: missing on the target (source: {_short(a[k])})")
            else:
                out += diff_meta(a[k], b[k], f"{path}/{k}")
        return out
    return [] if a == b else [f"{path}: source {_short(a)} target {_short(b)}"]


def wait_until(what, fn, timeout, interval=0.2):
    """Polls fn() until it returns a truthy value; raises with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # a server that is busy or restarting
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f" (last error: {last!r})" if last else ""))
        time.sleep(interval)
