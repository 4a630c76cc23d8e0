#!/usr/bin/env bash
# Installs what slotshift's tests and demo need on a Debian/Ubuntu machine:
# redis-server and redis-tools (real Redis processes), openssh-server (a real
# sshd for provision tests) and libxml2-utils (xmllint, to validate JUnit
# reports against the Jenkins schema), the Prometheus tools and the lab's
# tools below. Does nothing when all are present.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
# prometheus (with promtool) and one redis_exporter per node: the monitoring
# command's generated files are checked against both.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/bin/prometheus-redis-exporter ] || need+=(prometheus-redis-exporter)
# A real Pushgateway receives rebalance --pushgateway's metrics in tests.
[ -x /usr/bin/prometheus-pushgateway ] || need+=(prometheus-pushgateway)
# The lab of systemd hosts (make lab, make test-e2e): systemd-nspawn boots
# them, debootstrap builds their root file system once, iproute2 (ip, tc)
# wires and shapes their links.
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
{ command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1; } || need+=(iproute2)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages start their default services; slotshift runs its own
# processes on free ports and needs neither.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
  $sudo systemctl disable --now prometheus prometheus-redis-exporter prometheus-pushgateway >/dev/null 2>&1 || true
fi
