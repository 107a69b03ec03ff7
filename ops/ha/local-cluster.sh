#!/usr/bin/env bash
# A PostgreSQL cluster that fails over, on one machine, without Docker (docs/operations.md,
# "High availability"): one etcd, three Patroni nodes running PostgreSQL 15 with synchronous
# replication (an acknowledged commit is on two nodes), and HAProxy routing one endpoint to
# whichever node Patroni's REST API calls the primary (GET /primary), and a second endpoint to
# streaming replicas (GET /replica). The same topology and the same Patroni configuration
# (ops/ha/patroni.yml) as docker-compose.yml's `ha` profile.
# Debian packages: etcd-server, haproxy, postgresql-15; Patroni 4.0.7, pinned, from
# ops/ha/install-patroni.sh (Debian 12's 3.0.2 loses acknowledged writes to a paused leader).
#
#   ops/ha/local-cluster.sh start [DIR]   start it (data and logs under DIR, default /tmp/cover-ha)
#   ops/ha/local-cluster.sh status [DIR]  Patroni's view of the members
#   ops/ha/local-cluster.sh leader [DIR]  the leader's node number (1-3)
#   ops/ha/local-cluster.sh kill N [DIR]  SIGKILL node N: Patroni, the postmaster, its backends
#   ops/ha/local-cluster.sh revive N [DIR]  start node N's Patroni again (it rejoins, pg_rewind)
#                                           and wait for two streaming replicas, one synchronous
#   ops/ha/local-cluster.sh pause N [DIR]   SIGSTOP every process of node N (a frozen machine)
#   ops/ha/local-cluster.sh resume N [DIR]  SIGCONT them
#   ops/ha/local-cluster.sh hang N [DIR]    SIGSTOP node N's Patroni alone (PostgreSQL serves on)
#   ops/ha/local-cluster.sh unhang N [DIR]  SIGCONT it
#   ops/ha/local-cluster.sh etcd-stop [DIR] / etcd-start [DIR]  stop etcd (SIGKILL) and start it again
#   ops/ha/local-cluster.sh role N [DIR]    node N's role by its REST API (primary, replica or down)
#   ops/ha/local-cluster.sh backup full|diff [DIR]  a pgBackRest backup, taken from the leader
#   ops/ha/local-cluster.sh destroy [DIR]   every node and etcd stopped and their data deleted
#                                           (the backup repository, HA_BACKUP_DIR, kept)
#   ops/ha/local-cluster.sh restore latest|NAME [DIR]  a new cluster bootstrapped from the
#                                           backups: to the last WAL archived, or to the restore
#                                           point NAME (pg_create_restore_point)
#   ops/ha/local-cluster.sh stop [DIR]    stop everything and leave the data
#
# Backups (docs/operations.md, "Backups"): every node archives its WAL with pgBackRest into one
# encrypted repository, HA_BACKUP_DIR (default DIR/backups), whose passphrase is
# HA_BACKUP_CIPHER_PASS or, when unset, one generated into HA_BACKUP_DIR.pass on the first start.
#
# Ports (environment): HA_PORT (5000, the primary), HA_REPLICA_PORT (5001), HA_PG_PORT (5441:
# nodes on 5441-5443), HA_REST_PORT (8441: Patroni on 8441-8443), HA_ETCD_PORT (23790 and
# +10 for peers). Trust authentication on 127.0.0.1 only: a local cluster for tests and
# trials; a production one sets passwords (docs/operations.md).
set -euo pipefail

usage="local-cluster.sh start|status|leader|kill N|revive N|pause N|resume N|hang N|unhang N|etcd-stop|etcd-start|role N|backup full|diff|destroy|restore latest|NAME|stop [DIR]"
cmd=${1:?usage: $usage}
shift
node_arg=""
case "$cmd" in
kill | revive | pause | resume | hang | unhang | role) node_arg=${1:?$cmd needs a node number}; shift ;;
backup | restore) node_arg=${1:?$cmd needs full|diff or latest|NAME}; shift ;;
esac
dir=${1:-${HA_DIR:-/tmp/cover-ha}}
HA_PORT=${HA_PORT:-5000}
HA_REPLICA_PORT=${HA_REPLICA_PORT:-5001}
HA_PG_PORT=${HA_PG_PORT:-5441}
HA_REST_PORT=${HA_REST_PORT:-8441}
HA_ETCD_PORT=${HA_ETCD_PORT:-23790}
HA_BACKUP_DIR=${HA_BACKUP_DIR:-$dir/backups}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)}
here=$(cd "$(dirname "$0")" && pwd)
# The pinned Patroni (ops/ha/install-patroni.sh), unless PATRONI names another.
patroni_bin() { [ -n "${PATRONI:-}" ] || PATRONI=$("$here/install-patroni.sh"); }

# PostgreSQL refuses to run as root: as root, the cluster runs as the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
rest() { echo $((HA_REST_PORT + $1 - 1)); }
pgport() { echo $((HA_PG_PORT + $1 - 1)); }

wait_for() { # what, seconds, command...
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq 1 $((seconds * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  echo "local-cluster: timed out waiting for $what (logs in $dir)" >&2
  return 1
}

haproxy_config() {
  cat <<EOF
global
  maxconn 2000
defaults
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 1s
# The primary: the one node whose Patroni answers 200 on /primary. Sessions to a node marked
# down are cut, so clients reconnect to the new primary instead of writing to a demoted one.
listen primary
  bind 127.0.0.1:$HA_PORT
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 200ms downinter 100ms fall 2 rise 1 on-marked-down shutdown-sessions
EOF
  for n in 1 2 3; do echo "  server pg$n 127.0.0.1:$(pgport $n) maxconn 500 check port $(rest $n)"; done
  cat <<EOF
# Streaming replicas at most 1 MB behind: reads that may be a little stale.
listen replicas
  bind 127.0.0.1:$HA_REPLICA_PORT
  balance roundrobin
  option httpchk GET /replica?lag=1MB
  http-check expect status 200
  default-server inter 200ms downinter 100ms fall 2 rise 1 on-marked-down shutdown-sessions
EOF
  for n in 1 2 3; do echo "  server pg$n 127.0.0.1:$(pgport $n) maxconn 500 check port $(rest $n)"; done
}

# pgBackRest's settings for node n, as its environment (Patroni passes it on to PostgreSQL, whose
# archive_command, ops/ha/patroni.yml, runs pgbackrest): one repository, each node its own data.
pgbackrest_env() { # n
  local n=$1
  echo PGBACKREST_STANZA=cover PGBACKREST_REPO1_PATH="$HA_BACKUP_DIR" PGBACKREST_REPO1_CIPHER_TYPE=aes-256-cbc \
    PGBACKREST_REPO1_CIPHER_PASS="${HA_BACKUP_CIPHER_PASS:-$(cat "$HA_BACKUP_DIR.pass")}" PGBACKREST_REPO1_RETENTION_FULL=2 \
    PGBACKREST_PG1_PATH="$dir/pg$n" PGBACKREST_PG1_PORT="$(pgport "$n")" PGBACKREST_PG1_SOCKET_PATH=/tmp \
    PGBACKREST_LOG_PATH="$dir/pgbackrest-log" PGBACKREST_LOCK_PATH="$dir/pgbackrest-lock$n" PGBACKREST_START_FAST=y \
    PGBACKREST_LOG_LEVEL_CONSOLE=warn PGBACKREST_LOG_LEVEL_FILE=info
}

backup_repository() {
  mkdir -p "$HA_BACKUP_DIR"
  chown postgres "$HA_BACKUP_DIR" 2>/dev/null || true
  chmod 700 "$HA_BACKUP_DIR"
  if [ -z "${HA_BACKUP_CIPHER_PASS:-}" ] && [ ! -s "$HA_BACKUP_DIR.pass" ]; then
    (umask 077 && head -c 36 /dev/urandom | base64 -w0 >"$HA_BACKUP_DIR.pass")
    chown postgres "$HA_BACKUP_DIR.pass" 2>/dev/null || true
  fi
}

pgbackrest_on() { # n, pgbackrest arguments...
  local n=$1
  shift
  # shellcheck disable=SC2046
  as_pg env $(pgbackrest_env "$n") pgbackrest "$@"
}

# Each node runs ops/ha/patroni.yml (the configuration compose's `ha` profile runs too), copied
# to its own path so that its process can be told apart, with its own settings from the
# environment.
start_node() { # n [bootstrap command]
  local n=$1
  cp "$here/patroni.yml" "$dir/pg$n.yml"
  if [ -n "${2:-}" ]; then
    # Bootstrap from the backups (restore): Patroni's custom bootstrap runs the command.
    /usr/bin/python3 - "$dir/pg$n.yml" "$2" <<'PY'
import sys, yaml
path, command = sys.argv[1], sys.argv[2]
config = yaml.safe_load(open(path))
config['bootstrap']['method'] = 'pgbackrest'
config['bootstrap']['pgbackrest'] = {'command': command, 'keep_existing_recovery_conf': True, 'no_params': True}
yaml.safe_dump(config, open(path, 'w'))
PY
  fi
  chown postgres "$dir/pg$n.yml" 2>/dev/null || true
  # shellcheck disable=SC2046
  as_pg env $(pgbackrest_env "$n") PATRONI_NAME="pg$n" \
    PATRONI_RESTAPI_LISTEN="127.0.0.1:$(rest "$n")" PATRONI_RESTAPI_CONNECT_ADDRESS="127.0.0.1:$(rest "$n")" \
    PATRONI_ETCD3_HOSTS="127.0.0.1:$HA_ETCD_PORT" \
    PATRONI_POSTGRESQL_LISTEN="127.0.0.1:$(pgport "$n")" PATRONI_POSTGRESQL_CONNECT_ADDRESS="127.0.0.1:$(pgport "$n")" \
    PATRONI_POSTGRESQL_DATA_DIR="$dir/pg$n" PATRONI_POSTGRESQL_BIN_DIR="$PG_BIN" PATRONI_POSTGRESQL_PGPASS="$dir/pgpass$n" \
    PATRONI_SUPERUSER_USERNAME=postgres PATRONI_SUPERUSER_PASSWORD=postgres \
    PATRONI_REPLICATION_USERNAME=replicator PATRONI_REPLICATION_PASSWORD=replicator \
    "$PATRONI" "$dir/pg$n.yml" >>"$dir/pg$n.log" 2>&1 </dev/null &
  echo $! >"$dir/patroni$n.pid"
}

cluster_view() { # from whichever node answers
  curl -sf "http://127.0.0.1:$(rest 1)/cluster" || curl -sf "http://127.0.0.1:$(rest 2)/cluster" || curl -sf "http://127.0.0.1:$(rest 3)/cluster"
}

member_count_streaming() {
  cluster_view | python3 -c '
import json, sys
members = json.load(sys.stdin)["members"]
ok = [m for m in members if m["role"] in ("replica", "sync_standby") and m.get("state") in ("running", "streaming")]
sync = [m for m in members if m["role"] == "sync_standby"]
sys.exit(0 if len(ok) >= 2 and sync else 1)'
}

# Every process of node n: its Patroni and its postmaster with the postmaster's children.
node_pids() { # n
  local n=$1 postmaster=""
  pgrep -f "patroni $dir/pg$n.yml" || true
  [ -f "$dir/pg$n/postmaster.pid" ] && postmaster=$(head -n1 "$dir/pg$n/postmaster.pid")
  if [ -n "$postmaster" ] && kill -0 "$postmaster" 2>/dev/null; then
    echo "$postmaster"
    pgrep -P "$postmaster" || true
  fi
}

start_etcd() {
  etcd --name cover-ha --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$HA_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$HA_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((HA_ETCD_PORT + 10))" --initial-advertise-peer-urls "http://127.0.0.1:$((HA_ETCD_PORT + 10))" \
    --initial-cluster "cover-ha=http://127.0.0.1:$((HA_ETCD_PORT + 10))" >>"$dir/etcd.log" 2>&1 </dev/null &
  echo $! >"$dir/etcd.pid"
  wait_for etcd 20 curl -sf "http://127.0.0.1:$HA_ETCD_PORT/health"
}

start_replicas_and_proxy() {
  start_node 2
  start_node 3
  wait_for "two streaming replicas, one synchronous" 120 member_count_streaming
  haproxy_config >"$dir/haproxy.cfg"
  haproxy -f "$dir/haproxy.cfg" -db >>"$dir/haproxy.log" 2>&1 </dev/null &
  echo $! >"$dir/haproxy.pid"
  wait_for "HAProxy to route to the primary" 20 "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$HA_PORT"
  echo "local-cluster: up; primary postgres://postgres@127.0.0.1:$HA_PORT/postgres, replicas :$HA_REPLICA_PORT, leader pg$(leader)"
}

stop_all() {
  for n in 1 2 3; do node_pids "$n" | xargs -r kill -CONT 2>/dev/null || true; done
  for f in haproxy patroni1 patroni2 patroni3; do [ -f "$dir/$f.pid" ] && kill "$(cat "$dir/$f.pid")" 2>/dev/null || true; done
  for n in 1 2 3; do
    pkill -f "patroni $dir/pg$n.yml" 2>/dev/null || true
    [ -f "$dir/pg$n/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/pg$n" stop -m immediate >/dev/null 2>&1 || true
  done
  [ -f "$dir/etcd.pid" ] && kill "$(cat "$dir/etcd.pid")" 2>/dev/null || true
  # Wait for them to be gone, so that a restart finds its ports and folders free.
  for _ in $(seq 1 40); do
    pgrep -f "patroni $dir/pg[123].yml" >/dev/null || pgrep -f "etcd --name cover-ha --data-dir $dir/etcd" >/dev/null || break
    sleep 0.25
  done
}

whole_cluster() {
  member_count_streaming || return 1
  for n in 1 2 3; do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(pgport "$n")" || return 1; done
}

leader() {
  for n in 1 2 3; do
    if curl -sf -o /dev/null "http://127.0.0.1:$(rest "$n")/primary"; then
      echo "$n"
      return 0
    fi
  done
  return 1
}

case "$cmd" in
start)
  for bin in etcd haproxy curl python3 pgbackrest; do
    command -v "$bin" >/dev/null || { echo "local-cluster: $bin is not installed (apt-get install etcd-server haproxy curl pgbackrest)" >&2; exit 1; }
  done
  patroni_bin
  mkdir -p "$dir"
  chown postgres "$dir" 2>/dev/null || true
  chmod 700 "$dir"
  backup_repository
  start_etcd
  start_node 1
  wait_for "the first node to lead" 60 curl -sf "http://127.0.0.1:$(rest 1)/primary"
  # The stanza, once the first primary runs (archive_command fails, and retries, until then).
  pgbackrest_on 1 stanza-create >/dev/null
  start_replicas_and_proxy
  ;;
status)
  cluster_view
  echo
  ;;
leader)
  leader
  ;;
kill)
  n=$node_arg
  [ -f "$dir/pg$n/postmaster.pid" ] && postmaster=$(head -n1 "$dir/pg$n/postmaster.pid") || postmaster=""
  [ -f "$dir/patroni$n.pid" ] && kill -9 "$(cat "$dir/patroni$n.pid")" 2>/dev/null || true
  pkill -9 -f "patroni $dir/pg$n.yml" 2>/dev/null || true
  if [ -n "$postmaster" ]; then
    pkill -9 -P "$postmaster" 2>/dev/null || true
    kill -9 "$postmaster" 2>/dev/null || true
  fi
  echo "local-cluster: killed pg$n (Patroni, postmaster $postmaster and its backends)"
  ;;
revive)
  patroni_bin
  start_node "$node_arg"
  # Whole again: two streaming replicas, one synchronous, and every node past its recovery to a
  # consistent state (accepting connections). A replica still replaying after a pg_rewind whose
  # new leader is killed can find the next timeline before its minimum recovery point and stop
  # (PANIC "unexpected timeline ID"; seen once in CI under three kills in a row).
  if ! wait_for "pg$node_arg to rejoin: two streaming replicas, one synchronous, every node consistent" 180 whole_cluster; then
    # What CI keeps of a failure is this output, not the directory: say where the node stopped.
    { echo "local-cluster: the cluster as Patroni sees it:"; cluster_view; echo
      echo "local-cluster: the end of pg$node_arg's log:"; tail -n 40 "$dir/pg$node_arg.log"; } >&2 || true
    exit 1
  fi
  echo "local-cluster: pg$node_arg rejoined; leader pg$(leader)"
  ;;
pause | resume | hang | unhang)
  case "$cmd" in pause | hang) signal=STOP ;; *) signal=CONT ;; esac
  case "$cmd" in pause | resume) pids=$(node_pids "$node_arg") ;; *) pids=$(pgrep -f "patroni $dir/pg$node_arg.yml" || true) ;; esac
  [ -n "$pids" ] || { echo "local-cluster: pg$node_arg has no process to $cmd" >&2; exit 1; }
  # shellcheck disable=SC2086
  kill -"$signal" $pids
  echo "local-cluster: pg$node_arg: SIG$signal to" $pids
  ;;
etcd-stop)
  [ -f "$dir/etcd.pid" ] && kill -9 "$(cat "$dir/etcd.pid")" 2>/dev/null || true
  echo "local-cluster: etcd stopped"
  ;;
etcd-start)
  start_etcd
  echo "local-cluster: etcd started"
  ;;
role)
  curl -s -m 1 "http://127.0.0.1:$(rest "$node_arg")/patroni" | python3 -c 'import json, sys
try: print(json.load(sys.stdin).get("role", "unknown"))
except Exception: print("down")'
  ;;
backup)
  n=$(leader)
  pgbackrest_on "$n" backup --type="$node_arg"
  echo "local-cluster: $node_arg backup taken from pg$n into $HA_BACKUP_DIR"
  ;;
destroy)
  stop_all
  rm -rf "$dir/pg1" "$dir/pg2" "$dir/pg3" "$dir/etcd"
  echo "local-cluster: every node and etcd destroyed (backups left in $HA_BACKUP_DIR)"
  ;;
restore)
  # A new cluster from the backups: pg1 bootstraps by pgBackRest's restore (Patroni's custom
  # bootstrap: the recovery settings pgBackRest writes are kept, PostgreSQL replays the archive
  # to the target and is promoted), then pg2 and pg3 join it as replicas.
  patroni_bin
  [ ! -d "$dir/pg1" ] || { echo "local-cluster: pg1 has data: destroy first" >&2; exit 1; }
  case "$node_arg" in
  latest) target="" ;;
  # On the backup's timeline: after an earlier restore promoted a later one, "latest" would
  # follow that timeline's history past the point and give the replicas a false one.
  *) target="--type=name --target=$node_arg --target-action=promote --target-timeline=current" ;;
  esac
  start_etcd
  start_node 1 "pgbackrest --delta restore $target"
  wait_for "pg1 to lead, restored" 300 curl -sf "http://127.0.0.1:$(rest 1)/primary"
  start_replicas_and_proxy
  ;;
stop)
  stop_all
  echo "local-cluster: stopped (data left in $dir)"
  ;;
*)
  echo "usage: $usage" >&2
  exit 2
  ;;
esac
