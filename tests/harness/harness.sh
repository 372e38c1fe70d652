#!/usr/bin/env bash
# Test harness: installs, starts and stops REAL servers for tests and benchmarks.
#
#   harness.sh install COMPONENT...   outside the network namespace (needs the registries)
#   harness.sh start   COMPONENT...   inside a loopback-only namespace; needs $CDC_HARNESS_DIR
#   harness.sh stop   [COMPONENT...]  stops by recorded PID (all when none named); idempotent
#   harness.sh kill   COMPONENT...    SIGKILL by recorded PID (a crash, for fault tests); a
#                                     later 'start' brings it back on its ports and data
#   harness.sh env                    prints $CDC_HARNESS_DIR/env
#   harness.sh status                 lists started components with PID, ports and RSS
#
# install components: kafka etcd milvus lite all
# start components:   kafka etcd source standby target lite
# See tests/harness/README.md.
set -euo pipefail

HARNESS_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${CDC_CACHE_DIR:-$HOME/.cache/milvus-cdc-cpp}"

KAFKA_VERSION=3.9.1
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
VENV23="$CACHE/venv-milvus-2.3.5"
VENV3="$CACHE/venv-milvus-lite-3.2.2"
PY23="$VENV23/bin/python"
PY3="$VENV3/bin/python"
MILVUS_BIN="$CACHE/milvus-2.3.5-bin"
# pip specs; the stamp file of each venv holds them, a change reinstalls.
PIP23=(milvus==2.3.5 pymilvus==2.3.7 'setuptools<70' 'marshmallow<4' 'environs<10'
       confluent-kafka==2.16.1 pytest)
PIP3=(milvus-lite==3.2.2 pymilvus==3.0.2 pytest)

# Deadlines (seconds) for readiness.
READY_TIMEOUT="${CDC_HARNESS_READY_TIMEOUT:-120}"
STOP_TIMEOUT="${CDC_HARNESS_STOP_TIMEOUT:-30}"
MILVUS_STOP_TIMEOUT="${CDC_HARNESS_MILVUS_STOP_TIMEOUT:-5}"

log() { printf '[harness] %s\n' "$*" >&2; }
die() { printf '[harness] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------- install

venv_install() { # dir spec...
  local dir="$1"; shift
  local want; want="$(printf '%s\n' "$@")"
  if [[ -x "$dir/bin/python" && -f "$dir/.harness-installed" ]] &&
     [[ "$(cat "$dir/.harness-installed")" == "$want" ]]; then
    log "$(basename "$dir"): already installed"
    return 0
  fi
  log "$(basename "$dir"): creating venv with: $*"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check "$@"
  printf '%s\n' "$want" >"$dir/.harness-installed"
}

install_lite() {
  venv_install "$VENV3" "${PIP3[@]}"
  "$PY3" -c 'import pymilvus, milvus_lite' || die "lite venv broken: import failed"
}

install_milvus() {
  venv_install "$VENV23" "${PIP23[@]}"
  "$PY23" -c 'import pymilvus, milvus, confluent_kafka' || die "milvus venv broken: import failed"
  # decompress the Milvus binaries once (seconds the first time)
  if [[ -x "$MILVUS_BIN/bin/milvus" && -f "$MILVUS_BIN/.harness-installed" ]] &&
     cmp -s "$MILVUS_BIN/.harness-installed" "$VENV23/.harness-installed"; then
    log "milvus 2.3.5 binaries: already in $MILVUS_BIN"
    return 0
  fi
  log "milvus 2.3.5 binaries: decompressing into $MILVUS_BIN"
  rm -f "$MILVUS_BIN/.harness-installed"
  "$PY23" "$HARNESS_SRC/milvus_exec.py" --prepare-only --base-dir "$MILVUS_BIN" \
      --bin-dir "$MILVUS_BIN" --metrics-port 0
  [[ -x "$MILVUS_BIN/bin/milvus" ]] || die "milvus binary missing in $MILVUS_BIN/bin"
  cp "$VENV23/.harness-installed" "$MILVUS_BIN/.harness-installed"
}

install_kafka() {
  local stamp="$KAFKA_HOME/.harness-installed"
  local want="kafka_2.13:$KAFKA_VERSION slf4j-reload4j:1.7.36"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && ls "$KAFKA_HOME"/libs/kafka_2.13-*.jar >/dev/null 2>&1; then
    log "kafka $KAFKA_VERSION: already installed"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  command -v java >/dev/null || die "java not found (apt-get install openjdk-17-jre-headless)"
  rm -rf "$KAFKA_HOME/libs"
  mkdir -p "$KAFKA_HOME"
  log "kafka $KAFKA_VERSION: copying jars from Maven Central"
  mvn -q -B -Dstyle.color=never -f "$HARNESS_SRC/kafka/pom.xml" \
      -Dmaven.repo.local="$CACHE/m2" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs"
  ls "$KAFKA_HOME"/libs/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka jars missing after mvn"
  printf '%s\n' "$want" >"$stamp"
  log "kafka: $(ls "$KAFKA_HOME/libs" | wc -l) jars in $KAFKA_HOME/libs"
}

install_etcd() {
  if command -v etcd >/dev/null; then
    log "etcd: already installed ($(etcd --version 2>/dev/null | head -1))"
    return 0
  fi
  log "etcd: apt-get install etcd-server"
  # The package's systemd unit is never started here (no systemd); we start etcd ourselves.
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >/dev/null
  command -v etcd >/dev/null || die "etcd still missing after apt-get install etcd-server"
}

cmd_install() {
  [[ $# -gt 0 ]] || die "usage: harness.sh install kafka|etcd|milvus|lite|all ..."
  local t0; t0=$(now)
  mkdir -p "$CACHE"
  local c
  for c in "$@"; do
    case "$c" in
      all) install_lite; install_milvus; install_kafka; install_etcd ;;
      lite) install_lite ;;
      milvus|source|standby|target) install_milvus ;;
      kafka) install_kafka ;;
      etcd) install_etcd ;;
      *) die "unknown install component: $c" ;;
    esac
  done
  log "install $* done in $(elapsed "$t0") s"
}

# ---------------------------------------------------------------- state

state_init() {
  [[ -n "${CDC_HARNESS_DIR:-}" ]] || die "CDC_HARNESS_DIR is not set"
  mkdir -p "$CDC_HARNESS_DIR"
  CDC_HARNESS_DIR="$(cd "$CDC_HARNESS_DIR" && pwd)"
  ENV_FILE="$CDC_HARNESS_DIR/env"
  touch "$ENV_FILE"
}

# Serialise harness commands that change state in one CDC_HARNESS_DIR.
take_lock() {
  exec 9>"$CDC_HARNESS_DIR/.lock"
  flock -w 600 9 || die "could not lock $CDC_HARNESS_DIR/.lock"
}

env_set() { # KEY VALUE: replace the KEY line (or append it)
  local key="$1" val="$2" tmp
  tmp="$(mktemp "$ENV_FILE.XXXX")"
  grep -v "^$key=" "$ENV_FILE" >"$tmp" || true
  printf '%s=%s\n' "$key" "$val" >>"$tmp"
  mv "$tmp" "$ENV_FILE"
}

env_unset() { # KEY...
  local tmp key
  for key in "$@"; do
    tmp="$(mktemp "$ENV_FILE.XXXX")"
    grep -v "^$key=" "$ENV_FILE" >"$tmp" || true
    mv "$tmp" "$ENV_FILE"
  done
}

env_get() { grep "^$1=" "$ENV_FILE" 2>/dev/null | tail -1 | cut -d= -f2- ; }

# A PID file holds "PID STARTTIME" so that a reused PID is never taken for ours.
proc_starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }

pid_alive() { # pidfile
  local f="$1" pid st
  [[ -f "$f" ]] || return 1
  read -r pid st <"$f" || return 1
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  [[ "$(proc_starttime "$pid")" == "$st" ]] || return 1
  # a zombie is not alive
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]]
}

record_pid() { # pidfile pid
  printf '%s %s\n' "$2" "$(proc_starttime "$2")" >"$1"
}

rss_mb() { # pid -> RSS in MB (process only)
  awk '/^VmRSS:/{printf "%d", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"
}

# ---------------------------------------------------------------- network guard

require_loopback_only() {
  local bad
  # any interface but lo that is up, or any address on an interface other than lo
  bad="$( { ip -o link show up 2>/dev/null | awk -F': ' '$2 != "lo" {print "link " $2 " up"}'
            ip -o addr show 2>/dev/null | awk '$2 != "lo" {print "addr " $2 " " $4}'; } | paste -sd';' - || true)"
  if [[ -n "$bad" ]]; then
    die "refusing to start servers: non-loopback network present ($bad).
  Run inside a loopback-only namespace:
    unshare -n bash -c 'ip link set lo up; $0 start ...'"
  fi
  ip -o link show lo | grep -q 'UP' || die "lo is down: run 'ip link set lo up' first"
}

# ---------------------------------------------------------------- ports

# Ports are picked from 20000-32000 (below the kernel's ephemeral range 32768-60999,
# away from Kafka-forbidden 9091-9100 and from embedded Milvus' fixed defaults, which the
# harness never uses: it sets every Milvus port explicitly). Picked ports are recorded in
# $CDC_HARNESS_DIR/ports so two components never get the same one.
pick_ports() { # N -> prints N free ports
  python3 - "$1" "$CDC_HARNESS_DIR/ports" <<'EOF'
import random, socket, sys, os
n, used_file = int(sys.argv[1]), sys.argv[2]
used = set()
if os.path.exists(used_file):
    used = {int(x) for x in open(used_file).read().split()}
avoid = set(range(9091, 9101)) | {19529, 19530, 19531, 53100, 13333, 22930, 2379, 2380} | set(range(21121, 21125))
got = []
rnd = random.Random()
tries = 0
while len(got) < n:
    tries += 1
    if tries > 5000:
        sys.exit("no free ports")
    p = rnd.randrange(20000, 32000)
    if p in used or p in avoid or p in got:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    got.append(p)
with open(used_file, "a") as f:
    f.write("".join(f"{p}\n" for p in got))
print(" ".join(map(str, got)))
EOF
}

# ports_for NAME N: the ports NAME had before (a restart keeps its addresses, so clients and
# the other servers find it again), when they are all still free; else N new ones.
ports_for() {
  local f="$CDC_HARNESS_DIR/$1/ports.all" n="$2" old
  if [[ -f "$f" ]]; then
    old="$(cat "$f")"
    if [[ $(wc -w <<<"$old") -eq $n ]] && python3 - $old <<'EOF'
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket()
    # as the servers do (Java, Go): a port whose old connections are in TIME_WAIT is free
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
    then echo "$old"; return 0; fi
  fi
  pick_ports "$n" | tee "$f"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- start helpers

# launch NAME LOGFILE CMD... : starts CMD in its own session, stdout+stderr to LOGFILE
launch() {
  local name="$1" logf="$2"; shift 2
  local dir="$CDC_HARNESS_DIR/$name"
  # keep the previous run's log beside the new one, so a failure tail shows this run only
  [[ -f "$logf" ]] && mv -f "$logf" "$logf.prev"
  # fd 9 is the harness lock: the server must not inherit it
  setsid "$@" >>"$logf" 2>&1 </dev/null 9>&- &
  local pid=$!
  record_pid "$dir/pid" "$pid"
  STARTED_PID=$pid
}

# last lines of a log, each cut to 400 characters (Milvus writes stack traces on one line)
tail_log() { tail -n "${CDC_HARNESS_LOG_TAIL:-40}" "$1" 2>/dev/null | cut -c1-400 >&2 || true; }

# wait_ready NAME T0 LOGFILE CHECK...: polls CHECK until it succeeds, the process dies or
# the deadline passes; on failure prints the log tail, stops the component and returns 1.
wait_ready() {
  local name="$1" t0="$2" logf="$3"; shift 3
  local dir="$CDC_HARNESS_DIR/$name"
  local deadline; deadline=$(( $(date +%s) + READY_TIMEOUT ))
  while :; do
    if ! pid_alive "$dir/pid"; then
      log "$name: process exited before it was ready; last lines of $logf:"
      tail_log "$logf"
      stop_one "$name" quiet
      return 1
    fi
    if "$@" >/dev/null 2>&1; then break; fi
    if (( $(date +%s) >= deadline )); then
      log "$name: not ready after ${READY_TIMEOUT} s; last lines of $logf:"
      tail_log "$logf"
      stop_one "$name" quiet
      return 1
    fi
    sleep 0.2
  done
  local pid; read -r pid _ <"$dir/pid"
  local secs; secs=$(elapsed "$t0")
  echo "$secs" >"$dir/start-seconds"
  echo "$name: ready in ${secs} s (pid $pid, rss $(rss_mb "$pid") MB)"
}

# ---------------------------------------------------------------- lite

start_lite() {
  [[ -x "$PY3" ]] || die "lite is not installed: run 'harness.sh install lite' outside the namespace"
  local dir="$CDC_HARNESS_DIR/lite"
  if pid_alive "$dir/pid"; then echo "lite: already running"; return 0; fi
  mkdir -p "$dir/data"
  local port; port=$(ports_for lite 1)
  local logf="$dir/lite.log"
  local t0; t0=$(now)
  launch lite "$logf" "$VENV3/bin/milvus-lite" server --data-dir "$dir/data" --host 127.0.0.1 --port "$port"
  echo "$port" >"$dir/port"
  wait_ready lite "$t0" "$logf" lite_ready "$port" || return 1
  env_set LITE_URI "http://127.0.0.1:$port"
}

lite_ready() {
  port_open "$1" || return 1
  timeout 20 "$PY3" - "$1" <<'EOF'
import sys
from pymilvus import MilvusClient
c = MilvusClient(f"http://127.0.0.1:{sys.argv[1]}", timeout=5)
c.list_collections()
c.close()
EOF
}

# ---------------------------------------------------------------- kafka

start_kafka() {
  [[ -f "$KAFKA_HOME/.harness-installed" ]] || die "kafka is not installed: run 'harness.sh install kafka' outside the namespace"
  local dir="$CDC_HARNESS_DIR/kafka"
  if pid_alive "$dir/pid"; then echo "kafka: already running"; return 0; fi
  # a restart keeps the data and the ports
  mkdir -p "$dir/data"
  local ports port cport
  ports=$(ports_for kafka 2); read -r port cport <<<"$ports"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
auto.create.topics.enable=true
message.max.bytes=10485760
replica.fetch.max.bytes=10485760
group.initial.rebalance.delay.ms=0
EOF
  cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
  local logf="$dir/kafka.log"
  local t0; t0=$(now)
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    java -cp "$KAFKA_HOME/libs/*" kafka.tools.StorageTool format \
         -t "$(java -cp "$KAFKA_HOME/libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)" \
         -c "$dir/server.properties" >"$dir/format.log" 2>&1 || { tail_log "$dir/format.log"; die "kafka: storage format failed"; }
  fi
  launch kafka "$logf" java -Xms256m -Xmx1g -XX:+UseG1GC \
      -Dlog4j.configuration="file:$dir/log4j.properties" \
      -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$dir/server.properties"
  echo "$port $cport" >"$dir/port"
  wait_ready kafka "$t0" "$logf" kafka_ready "$port" "$logf" || return 1
  env_set KAFKA_BROKERS "127.0.0.1:$port"
}

kafka_ready() { port_open "$1" && grep -q 'Kafka Server started' "$2"; }

# ---------------------------------------------------------------- etcd

start_etcd() {
  command -v etcd >/dev/null || die "etcd is not installed: run 'harness.sh install etcd' outside the namespace"
  local dir="$CDC_HARNESS_DIR/etcd"
  if pid_alive "$dir/pid"; then echo "etcd: already running"; return 0; fi
  mkdir -p "$dir"
  local ports c p
  ports=$(ports_for etcd 2); read -r c p <<<"$ports"
  local logf="$dir/etcd.log"
  local t0; t0=$(now)
  launch etcd "$logf" etcd --name n --data-dir "$dir/data" \
      --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
      --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
      --initial-cluster "n=http://127.0.0.1:$p" --listen-metrics-urls "" \
      --quota-backend-bytes 4294967296 --auto-compaction-mode revision --auto-compaction-retention 1000
  echo "$c $p" >"$dir/port"
  wait_ready etcd "$t0" "$logf" etcd_ready "$c" || return 1
  env_set ETCD_ENDPOINTS "127.0.0.1:$c"
}

etcd_ready() { curl -sf --max-time 2 "http://127.0.0.1:$1/health" | grep -q '"health":"true"'; }

# ---------------------------------------------------------------- embedded Milvus 2.3.5

# start_milvus NAME ENVKEY: source (Kafka WAL), standby (ttMsgEnabled=false), target.
start_milvus() {
  local name="$1" key="$2"
  [[ -x "$PY23" && -x "$MILVUS_BIN/bin/milvus" ]] || die "milvus is not installed: run 'harness.sh install milvus' outside the namespace"
  local dir="$CDC_HARNESS_DIR/$name"
  if pid_alive "$dir/pid"; then echo "$name: already running"; return 0; fi
  # All instances share the harness etcd; source also needs Kafka.
  pid_alive "$CDC_HARNESS_DIR/etcd/pid" || start_etcd || return 1
  if [[ "$name" == source ]]; then
    pid_alive "$CDC_HARNESS_DIR/kafka/pid" || start_kafka || return 1
  fi
  mkdir -p "$dir"
  # 10 ports: proxy, proxy internal, root coord, query coord, query node, index coord,
  # index node, data coord, data node, metrics/health (the wrapper's etcd_port is unused
  # with external etcd but still bound once by it: give it one too).
  local ports; ports=$(ports_for "$name" 11)
  local -a P; read -r -a P <<<"$ports"
  local rootpath="cdc-harness-$name"
  local -a envs=(
    "ETCD_USE_EMBED=false"
    "ETCD_ENDPOINTS=$(env_get ETCD_ENDPOINTS)"
    "ETCD_ROOTPATH=$rootpath"
  )
  case "$name" in
    source)
      envs+=("MQ_TYPE=kafka" "KAFKA_BROKERLIST=$(env_get KAFKA_BROKERS)") ;;
    standby)
      envs+=("COMMON_TTMSGENABLED=false" "MSGCHANNEL_CHANNAMEPREFIX_CLUSTER=standby") ;;
    target)
      envs+=("MSGCHANNEL_CHANNAMEPREFIX_CLUSTER=target") ;;
  esac
  local logf="$dir/milvus.log"
  local t0; t0=$(now)
  launch "$name" "$logf" env "${envs[@]}" "$PY23" "$HARNESS_SRC/milvus_exec.py" \
      --base-dir "$dir" --bin-dir "$MILVUS_BIN" --proxy-port "${P[0]}" --proxy-internal-port "${P[1]}" \
      --root-coord-port "${P[2]}" --query-coord-port "${P[3]}" --query-node-port "${P[4]}" \
      --index-coord-port "${P[5]}" --index-node-port "${P[6]}" --data-coord-port "${P[7]}" \
      --data-node-port "${P[8]}" --metrics-port "${P[9]}" --etcd-port "${P[10]}"
  echo "${P[0]} ${P[9]}" >"$dir/port"
  printf '%s\n' "${envs[@]}" >"$dir/milvus.env"
  echo "$rootpath" >"$dir/rootpath"
  wait_ready "$name" "$t0" "$logf" milvus_ready "${P[0]}" "${P[9]}" || return 1
  env_set "$key" "http://127.0.0.1:${P[0]}"
}

# After a SIGKILL the instance's sessions stay in etcd until their lease (30 s) expires, and
# a restart on the same root path waits for that. Delete them (never the server-ID counter
# 'session/id'), as an expired lease would.
milvus_forget_sessions() { # NAME
  local dir="$CDC_HARNESS_DIR/$1" ep
  [[ -f "$dir/rootpath" ]] || return 0
  pid_alive "$CDC_HARNESS_DIR/etcd/pid" || return 0
  # only from inside etcd's network namespace (a stop run outside would reach another lo)
  local epid; read -r epid _ <"$CDC_HARNESS_DIR/etcd/pid"
  [[ "$(readlink /proc/self/ns/net)" == "$(readlink "/proc/$epid/ns/net" 2>/dev/null)" ]] || return 0
  ep="$(env_get ETCD_ENDPOINTS)"; [[ -n "$ep" ]] || return 0
  python3 - "$ep" "$(cat "$dir/rootpath")/meta/session/" <<'EOF' || log "$1: could not clear its etcd sessions"
import base64, json, sys, urllib.request
ep, prefix = sys.argv[1], sys.argv[2]
b64 = lambda s: base64.b64encode(s.encode()).decode()
def call(path, body):
    req = urllib.request.Request(f"http://{ep}/v3/kv/{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)
end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
kvs = call("range", {"key": b64(prefix), "range_end": b64(end), "keys_only": True}).get("kvs", [])
for kv in kvs:
    key = base64.b64decode(kv["key"]).decode()
    if key != prefix + "id":
        call("deleterange", {"key": kv["key"]})
EOF
}

milvus_ready() { # proxy_port metrics_port
  port_open "$1" && curl -sf --max-time 2 "http://127.0.0.1:$2/healthz" | grep -q OK
}

# ---------------------------------------------------------------- stop

stop_one() { # NAME [quiet]
  local name="$1" quiet="${2:-}"
  local dir="$CDC_HARNESS_DIR/$name"
  local f="$dir/pid" pid st
  if [[ ! -f "$f" ]]; then
    [[ -n "$quiet" ]] || echo "$name: not started"
    return 0
  fi
  read -r pid st <"$f" || true
  if pid_alive "$f"; then
    # Embedded Milvus' graceful stop takes 30 s and more (its coordinators retry each
    # other while they shut down); the milvus PyPI wrapper itself kills it after 1 s.
    local grace="$STOP_TIMEOUT"
    case "$name" in source|standby|target) grace="$MILVUS_STOP_TIMEOUT" ;; esac
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(( $(date +%s) + grace ))
    while pid_alive "$f" && (( $(date +%s) < deadline )); do sleep 0.1; done
    if pid_alive "$f"; then
      log "$name: pid $pid still running ${grace} s after SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$(( $(date +%s) + 10 ))
      while pid_alive "$f" && (( $(date +%s) < deadline )); do sleep 0.1; done
      pid_alive "$f" && { log "$name: pid $pid did not die after SIGKILL"; return 1; }
      case "$name" in source|standby|target) milvus_forget_sessions "$name" ;; esac
    fi
    [[ "$quiet" == quiet ]] || echo "$name: stopped (pid $pid)"
  else
    [[ "$quiet" == quiet ]] || echo "$name: not running"
  fi
  rm -f "$f"
  case "$name" in
    kafka) env_unset KAFKA_BROKERS ;;
    etcd) env_unset ETCD_ENDPOINTS ;;
    source) env_unset SOURCE_MILVUS_URI ;;
    standby) env_unset STANDBY_MILVUS_URI ;;
    target) env_unset TARGET_MILVUS_URI ;;
    lite) env_unset LITE_URI ;;
  esac
}

ALL_STOP_ORDER=(source standby target lite kafka etcd)

# kill_one NAME: a crash as production meets it: SIGKILL, no chance to clean up. The data
# directory and the ports stay for the next start; Milvus' sessions in etcd are cleared as
# their expired leases would be (else the restart waits 30 s for them).
kill_one() {
  local name="$1" dir="$CDC_HARNESS_DIR/$1" pid st
  [[ -f "$dir/pid" ]] && pid_alive "$dir/pid" || die "$name: not running"
  read -r pid st <"$dir/pid"
  kill -KILL "$pid" 2>/dev/null || true
  local deadline=$(( $(date +%s) + 10 ))
  while pid_alive "$dir/pid" && (( $(date +%s) < deadline )); do sleep 0.05; done
  pid_alive "$dir/pid" && die "$name: pid $pid did not die after SIGKILL"
  case "$name" in source|standby|target) milvus_forget_sessions "$name" ;; esac
  rm -f "$dir/pid"
  echo "$name: killed (pid $pid)"
}

cmd_kill() {
  [[ $# -gt 0 ]] || die "usage: harness.sh kill kafka|etcd|source|standby|target|lite ..."
  state_init
  take_lock
  local n
  for n in "$@"; do
    case "$n" in
      kafka|etcd|source|standby|target|lite) kill_one "$n" ;;
      *) die "unknown component: $n" ;;
    esac
  done
}

cmd_stop() {
  [[ -n "${CDC_HARNESS_DIR:-}" ]] || die "CDC_HARNESS_DIR is not set"
  [[ -d "$CDC_HARNESS_DIR" ]] || { echo "nothing started ($CDC_HARNESS_DIR does not exist)"; return 0; }
  state_init
  take_lock
  local -a names=("$@")
  local n m
  if [[ ${#names[@]} -eq 0 ]]; then
    # stop everything that was started, servers that depend on others first
    for m in "${ALL_STOP_ORDER[@]}"; do stop_one "$m" quiet-absent; done
    return 0
  fi
  for n in "${names[@]}"; do
    case "$n" in
      kafka|etcd|source|standby|target|lite) stop_one "$n" ;;
      all) for m in "${ALL_STOP_ORDER[@]}"; do stop_one "$m" quiet-absent; done ;;
      *) die "unknown component: $n" ;;
    esac
  done
}

# ---------------------------------------------------------------- start

cmd_start() {
  [[ $# -gt 0 ]] || die "usage: harness.sh start kafka|etcd|source|standby|target|lite ..."
  state_init
  require_loopback_only
  take_lock
  env_set PY23 "$PY23"
  env_set PY3 "$PY3"
  local c rc=0
  for c in "$@"; do
    case "$c" in
      lite) start_lite || rc=1 ;;
      kafka) start_kafka || rc=1 ;;
      etcd) start_etcd || rc=1 ;;
      source) start_milvus source SOURCE_MILVUS_URI || rc=1 ;;
      standby) start_milvus standby STANDBY_MILVUS_URI || rc=1 ;;
      target) start_milvus target TARGET_MILVUS_URI || rc=1 ;;
      all) for c in kafka etcd source standby target lite; do
             case "$c" in
               source|standby|target) start_milvus "$c" "$(echo "$c" | tr a-z A-Z)_MILVUS_URI" || rc=1 ;;
               *) "start_$c" || rc=1 ;;
             esac
           done ;;
      *) die "unknown start component: $c" ;;
    esac
    [[ $rc -eq 0 ]] || break
  done
  return $rc
}

cmd_status() {
  state_init
  local n pid
  for n in "${ALL_STOP_ORDER[@]}"; do
    if pid_alive "$CDC_HARNESS_DIR/$n/pid"; then
      read -r pid _ <"$CDC_HARNESS_DIR/$n/pid"
      echo "$n: running pid $pid ports $(cat "$CDC_HARNESS_DIR/$n/port" 2>/dev/null) rss $(rss_mb "$pid") MB" \
           "started in $(cat "$CDC_HARNESS_DIR/$n/start-seconds" 2>/dev/null || echo '?') s"
    fi
  done
}

main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    kill) cmd_kill "$@" ;;
    env) state_init; cat "$ENV_FILE" ;;
    status) cmd_status ;;
    *) awk 'NR>1 && !/^#/{exit} NR>1{sub(/^# ?/,""); print}' "$0"; [[ -z "$cmd" || "$cmd" == -h || "$cmd" == --help ]] || exit 2 ;;
  esac
}

main "$@"
