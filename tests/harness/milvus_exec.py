"""Start one embedded Milvus 2.3.5 (PyPI `milvus`) in the foreground for harness.sh.

Run with the python of the milvus==2.3.5 venv. It uses the package's own config template
and binaries, exactly as `milvus.MilvusServer` does, with three differences that the harness
needs:
  * every listening port is given explicitly (MilvusServer picks them upwards from fixed
    defaults, so two instances can collide: see real-components.md);
  * the process exec()s the Milvus binary, so the PID that the harness recorded IS Milvus
    (no Python wrapper that kills it after 1 s on stop);
  * the server log goes to stdout (the harness' log file), not to files under logs/.

The binaries are decompressed once per cache (--bin-dir), not once per instance.
Everything else (MQ type, etcd endpoints and root path, channel prefix, ttMsgEnabled) comes
from the environment, which Milvus reads (MQ_TYPE, KAFKA_BROKERLIST, ETCD_*, ...).
"""
import argparse
import os
import sys

import milvus
from milvus import MilvusServerConfig, _initialize_data_files

PORT_KEYS = [
    "proxy_port", "proxy_internal_port", "root_coord_port", "query_coord_port",
    "query_node_port", "index_coord_port", "index_node_port", "data_coord_port",
    "data_node_port", "etcd_port",
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-dir", required=True)
    ap.add_argument("--bin-dir", default="", help="where the binaries are decompressed once")
    ap.add_argument("--metrics-port", type=int, required=True)
    ap.add_argument("--prepare-only", action="store_true",
                    help="only decompress the binaries into --bin-dir")
    for k in PORT_KEYS:
        ap.add_argument("--" + k.replace("_", "-"), type=int)
    a = ap.parse_args()

    bin_root = os.path.abspath(a.bin_dir or a.base_dir)
    # idempotent: compares md5 stamps, decompresses only what changed
    _initialize_data_files(bin_root)
    if a.prepare_only:
        return 0
    exe = os.path.join(bin_root, "bin", "milvus")

    base = os.path.abspath(a.base_dir)
    kwargs = {"data_dir": base}
    for k in PORT_KEYS:
        v = getattr(a, k)
        if v:
            kwargs[k] = v
    cfg = MilvusServerConfig(**kwargs)
    # MilvusServerConfig.resolve() would test-bind each port without SO_REUSEADDR, which
    # fails on a restart while old connections are in TIME_WAIT; Milvus itself binds with
    # SO_REUSEADDR and fails loudly (in its log) if a port is really taken.
    cfg.resolve_storage()
    for k in PORT_KEYS:
        if k in kwargs:
            cfg.configurable_items[k][1] = kwargs[k]
    cfg.set("system_log_path", "")  # log to stdout
    unresolved = [k for k, v in cfg.configurable_items.items() if v[1] is None]
    if unresolved:
        sys.exit(f"milvus_exec: unresolved config items {unresolved}")
    cfg.write_config()

    env = os.environ.copy()
    env.update({
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(a.metrics_port),
        "MILVUS_RUN_DIR": os.path.join(base, "run"),
        "MILVUSCONF": os.path.join(base, "configs") + "/",
        "LD_LIBRARY_PATH": os.path.dirname(exe) + ":" + os.environ.get("LD_LIBRARY_PATH", ""),
    })
    print(f"milvus_exec: embedded milvus {milvus.__version__}, base {base}, "
          f"proxy {cfg.get('proxy_port')}, metrics {a.metrics_port}", flush=True)
    for k in sorted(env):
        if k.startswith(("MQ_", "KAFKA_", "ETCD_", "COMMON_", "MSGCHANNEL_")):
            print(f"milvus_exec: {k}={env[k]}", flush=True)
    os.chdir(base)
    os.execve(exe, [exe, "run", "standalone"], env)
    return 1


if __name__ == "__main__":
    sys.exit(main())
