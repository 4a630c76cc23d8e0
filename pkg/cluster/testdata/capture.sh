#!/usr/bin/env bash
# Regenerates the captured CLUSTER NODES fixtures in this directory from a real
# 3+3 cluster of redis-server processes on 127.0.0.1. Usage:
#   bash pkg/cluster/testdata/capture.sh [BASE_PORT]
# The cluster is torn down on exit. Fixtures are written next to this script.
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)"
base="${1:-31001}"
dir="$(mktemp -d)"
ports=()
for i in 0 1 2 3 4 5; do ports+=($((base + i))); done
cleanup() {
  for p in "${ports[@]}" $((base + 6)); do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
start() { # port [extra args]
  local p=$1; shift
  mkdir -p "$dir/$p"
  redis-server --port "$p" --bind 127.0.0.1 --dir "$dir/$p" --cluster-enabled yes \
    --cluster-config-file nodes.conf --cluster-node-timeout 1000 --save '' --appendonly no \
    --daemonize yes --logfile "$dir/$p/log" "$@"
  until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done
}
nodes() { redis-cli -p "$1" cluster nodes; }
wait_ok() {
  for _ in $(seq 100); do
    ok=1
    for p in "${ports[@]}"; do
      redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' || ok=0
    done
    [ $ok = 1 ] && return 0
    sleep 0.1
  done
  echo "cluster did not converge" >&2; return 1
}
for i in 0 1 2; do start "${ports[$i]}" --cluster-announce-hostname "host$i.example"; done
for i in 3 4 5; do start "${ports[$i]}"; done
addrs=(); for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
wait_ok
sleep 1
# 1. A healthy 3+3 cluster. Masters announce a hostname, so their lines use
#    the "ip:port@bus,hostname" form; replicas have an empty hostname.
nodes "${ports[0]}" > "$out/nodes_3x3.txt"
for p in "${ports[@]}"; do nodes "$p" > "$out/nodes_3x3_view_$p.txt"; done

# 2. Open slots: slot 100 migrating from the first master to the second.
id0=$(redis-cli -p "${ports[0]}" cluster myid)
id1=$(redis-cli -p "${ports[1]}" cluster myid)
redis-cli -p "${ports[1]}" cluster setslot 100 importing "$id0" >/dev/null
redis-cli -p "${ports[0]}" cluster setslot 100 migrating "$id1" >/dev/null
nodes "${ports[0]}" > "$out/nodes_migrating.txt"
nodes "${ports[1]}" > "$out/nodes_importing.txt"
redis-cli -p "${ports[1]}" cluster setslot 100 stable >/dev/null
redis-cli -p "${ports[0]}" cluster setslot 100 stable >/dev/null

# 3. Handshake: MEET a port nobody listens on; the entry stays in handshake
#    until the node timeout removes it.
redis-cli -p "${ports[0]}" cluster meet 127.0.0.1 $((base + 6)) >/dev/null
sleep 0.2
nodes "${ports[0]}" > "$out/nodes_handshake.txt"

# 4. noaddr: a replica resets itself (new id); the others see a mismatching id
#    on its address and keep the old entry without an address.
redis-cli -p "${ports[5]}" cluster reset hard >/dev/null
for _ in $(seq 50); do
  nodes "${ports[0]}" | grep -q noaddr && break
  sleep 0.1
done
nodes "${ports[0]}" > "$out/nodes_noaddr.txt"

# 5. fail? then fail: kill a replica and watch another node's view.
redis-cli -p "${ports[4]}" shutdown nosave >/dev/null 2>&1 || true
for _ in $(seq 500); do
  nodes "${ports[0]}" | grep -qF 'fail?' && break
  sleep 0.01
done
nodes "${ports[0]}" > "$out/nodes_pfail.txt"
for _ in $(seq 100); do
  nodes "${ports[0]}" | grep -q 'slave,fail ' && break
  sleep 0.1
done
nodes "${ports[0]}" > "$out/nodes_fail.txt"
