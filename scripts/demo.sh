#!/usr/bin/env bash
# The whole life-cycle on a local sandbox: ten redis-server processes on
# 127.0.0.1 standing for five servers (a master and a replica each). Creates
# a 3-server cluster, loads keys, then grows it by a pair of servers the way
# a deploy pipeline would: validate → join → snapshot → plan → rebalance
# (one batch, then the rest) → verify. Reports go to slotshift-reports/.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=bin/slotshift
inv3=testdata/inventories/sandbox-3x2.yaml
inv5=testdata/inventories/sandbox-5x2.yaml
export SLOTSHIFT_PASSWORD="${SLOTSHIFT_PASSWORD:-demo-password-0123456789}"
export SLOTSHIFT_REPORT_DIR="${SLOTSHIFT_REPORT_DIR:-slotshift-reports}"
export SLOTSHIFT_SANDBOX_DIR="${SLOTSHIFT_SANDBOX_DIR:-.sandbox}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
cleanup() { "$bin" sandbox down >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

step "sandbox up: 10 redis-server processes for 5 servers"
"$bin" sandbox up --inventory "$inv5"

step "validate --offline: the 3-server inventory, as a pull request would"
"$bin" validate --offline --inventory "$inv3"

step "join: create the 3-server cluster (3 masters + 3 cross-replicated replicas)"
"$bin" join --inventory "$inv3"

step "load 50,000 keys"
"$bin" sandbox load --inventory "$inv3" --keys 50000

step "verify the 3-server cluster"
"$bin" verify --inventory "$inv3"

step "validate (online) the 5-server inventory; server4 and server5 are new"
"$bin" validate --inventory "$inv5" --base "$inv3"

step "join: add server4 + server5 (masters, wait for convergence, then replicas)"
"$bin" join --inventory "$inv5"

step "snapshot: save the layout for rollback"
"$bin" snapshot --inventory "$inv5" --output "$SLOTSHIFT_REPORT_DIR/layout-before.json"

step "plan"
"$bin" plan --inventory "$inv5"

step "rebalance: one batch, as one pipeline step"
"$bin" rebalance --inventory "$inv5" --max-batches 1

step "rebalance: the remaining batches"
"$bin" rebalance --inventory "$inv5"

step "verify the 5-server cluster"
"$bin" verify --inventory "$inv5"

step "sandbox status"
"$bin" sandbox status

printf '\nReports: %s/\n' "$SLOTSHIFT_REPORT_DIR"
ls -1 "$SLOTSHIFT_REPORT_DIR"
