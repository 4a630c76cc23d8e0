package provision

import (
	"fmt"
	"strings"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/provision/sshrunner"
)

// The shell commands provision runs on a server, in one place. Runner.Run
// gives each to sh as root. They are built from paths, ports, unit and
// user names only, which the builders quote where an inventory chooses
// them; none ever holds a secret: the password reaches a server only
// inside files written over SFTP, so it never shows in a process list.

// preflightScript prints what provision needs to know about a host, one
// key=value per line: os, distro, uid, service (systemd or daemon), redis
// (the redis-server path, else valkey-server's, empty when neither is
// installed), exporter (likewise for
// prometheus-redis-exporter), free_kb (free KiB on the
// file system that holds, or will hold, dataDir) and ufw (active or
// inactive).
func preflightScript(dataDir string) string {
	return `echo "os=$(uname -s)"
. /etc/os-release 2>/dev/null; echo "distro=${PRETTY_NAME:-unknown}"
echo "uid=$(id -u)"
if [ -d /run/systemd/system ]; then echo service=systemd; else echo service=daemon; fi
echo "redis=$(command -v redis-server || command -v valkey-server || true)"
echo "exporter=$(command -v prometheus-redis-exporter || true)"
d=` + sshrunner.Quote(dataDir) + `; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
echo "free_kb=$(df -Pk "$d" | awk 'NR==2{print $4}')"
if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q '^Status: active'; then echo ufw=active; else echo ufw=inactive; fi`
}

// aptInstallCmd installs the distribution's redis-server package.
const aptInstallCmd = "DEBIAN_FRONTEND=noninteractive apt-get update -q && " +
	"DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server"

// disableDefaultRedisCmd stops and disables the instance the distribution's
// package starts: it listens on 6379 and is not part of the cluster.
const disableDefaultRedisCmd = "if systemctl is-enabled --quiet redis-server.service 2>/dev/null; " +
	"then systemctl disable --now redis-server.service; fi"

// kernelTuneScript applies now what the sysctl.d file and the THP unit
// make last across reboots: overcommit for fork(), a deep accept backlog,
// and transparent huge pages off. It leaves alone a setting that is
// already as wanted (a larger backlog too) and prints one line per
// setting, "name state current [error]": state is ok, set, readonly (the
// file cannot be written here, as under a container's read-only /proc/sys
// or /sys: the kernel is the host machine's), missing, or failed. It
// always exits 0: the lines are the verdict.
const kernelTuneScript = `tune() {
  p=/proc/sys/$(echo "$1" | tr . /)
  if ! cur=$(cat "$p" 2>/dev/null); then echo "$1 missing -"
  elif [ "$cur" "$3" "$2" ]; then echo "$1 ok $cur"
  elif [ ! -w "$p" ]; then echo "$1 readonly $cur"
  elif err=$(sysctl -q -w "$1=$2" 2>&1); then echo "$1 set $cur"
  else echo "$1 failed $cur $err" | tr '\n' ' '; echo; fi
}
tune vm.overcommit_memory 1 -eq
tune net.core.somaxconn 65535 -ge
t=/sys/kernel/mm/transparent_hugepage/enabled
if ! cur=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$t" 2>/dev/null) || [ -z "$cur" ]; then echo "thp missing -"
elif [ "$cur" = never ]; then echo "thp ok never"
elif [ ! -w "$t" ]; then echo "thp readonly $cur"
elif err=$( (echo never > "$t") 2>&1); then echo "thp set $cur"
else echo "thp failed $cur $err" | tr '\n' ' '; echo; fi`

// statCmd prints "mode owner group path" (mode in octal) for each of paths
// that exists, and succeeds even when none does.
func statCmd(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = sshrunner.Quote(p)
	}
	return `for p in ` + strings.Join(q, " ") + `; do [ -e "$p" ] && stat -c '%a %U %G %n' -- "$p"; done; true`
}

// mkdirCmd creates dirs, parents first, with their mode and owner (and
// sets both on those that exist): one command, because each SSH session
// costs a round trip and a fork on the server.
func mkdirCmd(dirs []Dir) string {
	cmds := make([]string, len(dirs))
	for i, d := range dirs {
		cmds[i] = fmt.Sprintf("install -d -m %04o -o %s -g %s %s",
			d.Mode, sshrunner.Quote(d.Owner), sshrunner.Quote(d.Group), sshrunner.Quote(d.Path))
	}
	return strings.Join(cmds, " && ")
}

// firewallCmd opens, in ufw, each node's client port and its cluster bus
// port.
func firewallCmd(ports []int) string {
	rules := make([]string, len(ports))
	for i, p := range ports {
		rules[i] = fmt.Sprintf("ufw allow %d/tcp >/dev/null && ufw allow %d/tcp >/dev/null", p, p+inventory.BusPortOffset)
	}
	return strings.Join(rules, " && ")
}

// daemonReloadCmd makes systemd read changed unit files.
const daemonReloadCmd = "systemctl daemon-reload"

// enableCmd enables unit at boot unless it already is.
func enableCmd(unit string) string {
	return "systemctl is-enabled --quiet " + unit + " || systemctl enable " + unit
}

// enableNowCmd enables and starts unit unless it is already enabled.
func enableNowCmd(unit string) string {
	return "systemctl is-enabled --quiet " + unit + " || systemctl enable --now " + unit
}

// startCmd starts the node of l: through its unit under systemd, otherwise
// as a daemon of user (from /, so that it holds no directory busy) with
// the server executable bin ("" = redis-server from PATH).
func startCmd(service, user, bin string, l NodeLayout) string {
	if service == ServiceSystemd {
		return "systemctl start " + l.Unit
	}
	exe := "redis-server"
	if bin != "" {
		exe = sshrunner.Quote(bin)
	}
	if user != "root" {
		return "cd / && runuser -u " + sshrunner.Quote(user) + " -- " + exe + " " + sshrunner.Quote(l.Conf) + " --daemonize yes"
	}
	return "cd / && " + exe + " " + sshrunner.Quote(l.Conf) + " --daemonize yes"
}

// restartUnitCmd restarts the node of l under systemd.
func restartUnitCmd(l NodeLayout) string { return "systemctl restart " + l.Unit }

// termCmd asks a daemon node to shut down (SIGTERM, on which Redis saves
// and exits cleanly; no SHUTDOWN command, so no password in argv).
func termCmd(l NodeLayout) string {
	return "kill -TERM \"$(cat " + sshrunner.Quote(l.PidFile) + ")\""
}

// logSep separates the log tails of several nodes in one command's output.
const logSep = "==> slotshift log "

// logTailLines is how much of each node's log provision reads after a
// start: enough to reach back to the start's banner.
const logTailLines = 200

// logTailsCmd prints the last logTailLines lines of each node's log, each
// after a line of logSep and the node's port.
func logTailsCmd(nodes []NodeLayout) string {
	parts := make([]string, len(nodes))
	for i, l := range nodes {
		parts[i] = fmt.Sprintf("echo '%s%d'; tail -n %d %s", logSep, l.Port, logTailLines, sshrunner.Quote(l.LogFile))
	}
	return strings.Join(parts, "; ")
}
