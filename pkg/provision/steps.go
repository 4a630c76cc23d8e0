package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/slotshift/slotshift/pkg/report"
)

// provision brings one server to what the inventory says, in order: check
// the host, probe the nodes' ports, install Redis, tune the kernel, render
// the files, create the directories, write the files, open the firewall,
// enable the units, start or update each node and wait for it, then read
// the nodes' fresh logs for warnings. A failed check stops it with
// errStopped; other errors mean it could not go on.
func (sr *serverRun) provision(ctx context.Context) error {
	pf, err := sr.preflight(ctx)
	if err != nil {
		return err
	}
	if err := sr.checkHost(pf); err != nil {
		return err
	}
	sr.s = SettingsFor(sr.inv, sr.opts.System)
	sr.s.TLS, sr.s.ACLUser = sr.opts.TLSMaterial, sr.opts.Username
	if sr.s.Service == ServiceAuto {
		sr.s.Service = pf.service
	}
	state := sr.probePorts(ctx)
	if err := sr.install(ctx, pf.redis != ""); err != nil {
		return err
	}
	// A host with valkey-server (and no redis-server) runs Valkey: units
	// and daemons start the executable the host has.
	if pf.redis != "" && path.Base(pf.redis) != "redis-server" {
		sr.bin = pf.redis
		if sr.opts.System.RedisServer == "" {
			sr.s.System.RedisServer = pf.redis
		}
	}
	if err := sr.installExporter(ctx, pf.exporter != ""); err != nil {
		return err
	}
	sr.tuneKernel(ctx)
	files, err := RenderWith(sr.inv, sr.server, sr.opts.Password, sr.s)
	if err != nil {
		return err
	}
	dirs := Dirs(sr.server, sr.s)
	meta, err := sr.stat(ctx, pathsOf(dirs, files))
	if err != nil {
		return err
	}
	if err := sr.makeDirs(ctx, dirs, meta); err != nil {
		return err
	}
	w, err := sr.writeFiles(ctx, files, meta)
	if err != nil {
		return err
	}
	if pf.ufw == "active" {
		sr.openFirewall(ctx)
	}
	if err := sr.enableUnits(ctx, files, w.changed); err != nil {
		return err
	}
	up := sr.startNodes(ctx, state, w)
	sr.startExporters(ctx, files, w.changed)
	if !sr.opts.DryRun && len(up) > 0 {
		sr.logWarnings(ctx, up)
	}
	return nil
}

type preflight struct {
	os, distro, uid, service, redis, ufw string
	exporter                             string
	freeKB                               int64
}

func (sr *serverRun) preflight(ctx context.Context) (preflight, error) {
	s := SettingsFor(sr.inv, sr.opts.System)
	out, err := sr.query(ctx, preflightScript(s.Paths.Data))
	if err != nil {
		return preflight{}, fmt.Errorf("preflight: %w", err)
	}
	var p preflight
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "os":
			p.os = v
		case "distro":
			p.distro = v
		case "uid":
			p.uid = v
		case "service":
			p.service = v
		case "redis":
			p.redis = v
		case "exporter":
			p.exporter = v
		case "ufw":
			p.ufw = v
		case "free_kb":
			p.freeKB, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return p, nil
}

// Free space for data below which provision refuses (min) or warns.
const (
	minFreeKB  = 256 * 1024
	warnFreeKB = 1024 * 1024
)

// checkHost reports the preflight: Linux with root, and disk space.
func (sr *serverRun) checkHost(pf preflight) error {
	name := sr.server.Name
	if pf.os != "Linux" || pf.uid != "0" {
		sr.add("provision.preflight", report.Fail, name,
			fmt.Sprintf("need Linux with root (or sudo -n): os=%q uid=%q", pf.os, pf.uid))
		return errStopped
	}
	sr.add("provision.preflight", report.Pass, name, fmt.Sprintf("%s, root, service manager %s", pf.distro, pf.service))
	disk := sr.add("provision.disk", report.Pass, name, fmt.Sprintf("%d MiB free for data", pf.freeKB/1024))
	disk.Observed, disk.Threshold, disk.Unit = pf.freeKB/1024, minFreeKB/1024, "MiB"
	switch {
	case pf.freeKB < minFreeKB:
		disk.Status = report.Fail
		return errStopped
	case pf.freeKB < warnFreeKB:
		disk.Status = report.Warn
	}
	return nil
}

// probePorts finds what answers on each node's port: nothing, this
// cluster's Redis, or something provision must not touch (a failure).
func (sr *serverRun) probePorts(ctx context.Context) map[int]nodeState {
	state := map[int]nodeState{}
	for _, n := range sr.server.Nodes {
		st, err := sr.probe(ctx, n.Port)
		state[n.Port] = st
		if st == portForeign {
			sr.add("provision.port", report.Fail, sr.nodeAddr(n.Port),
				fmt.Sprintf("port %d answers but not as this cluster's Redis (another process, or another password): %v", n.Port, err))
		}
	}
	return state
}

// install installs redis-server when it is missing and the inventory
// allows apt, and disables the distribution's default instance.
func (sr *serverRun) install(ctx context.Context, installed bool) error {
	name := sr.server.Name
	if !installed {
		if sr.s.Install != InstallApt {
			c := sr.add("provision.install", report.Fail, name, "neither redis-server nor valkey-server is installed and install is "+sr.s.Install)
			c.Hint = "install redis-server or valkey-server, or set provision.install: apt"
			return errStopped
		}
		if err := sr.mutate(ctx, aptInstallCmd); err != nil {
			sr.add("provision.install", report.Fail, name, err.Error())
			return errStopped
		}
		sr.add("provision.install", report.Pass, name, "redis-server installed")
	}
	if sr.s.Service == ServiceSystemd && sr.s.Install == InstallApt {
		if err := sr.mutate(ctx, disableDefaultRedisCmd); err != nil {
			sr.add("provision.install", report.Warn, name, "disable default redis-server.service: "+err.Error())
		}
	}
	return nil
}

func pathsOf(dirs []Dir, files []File) []string {
	paths := make([]string, 0, len(files)+len(dirs))
	for _, d := range dirs {
		paths = append(paths, d.Path)
	}
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	return paths
}

type fileMeta struct {
	mode         os.FileMode
	owner, group string
}

// stat returns mode and owner of every existing path in one round trip.
func (sr *serverRun) stat(ctx context.Context, paths []string) (map[string]fileMeta, error) {
	out, err := sr.query(ctx, statCmd(paths))
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	meta := map[string]fileMeta{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) < 4 {
			continue
		}
		mode, _ := strconv.ParseUint(f[0], 8, 32)
		meta[f[3]] = fileMeta{mode: os.FileMode(mode), owner: f[1], group: f[2]}
	}
	return meta, nil
}

// makeDirs creates the directories that are missing and fixes mode and
// owner of those provision owns.
func (sr *serverRun) makeDirs(ctx context.Context, dirs []Dir, meta map[string]fileMeta) error {
	var todo []Dir
	for _, d := range dirs {
		m, ok := meta[d.Path]
		if ok && (d.CreateOnly || m.mode == d.Mode && m.owner == d.Owner && m.group == d.Group) {
			continue
		}
		todo = append(todo, d)
	}
	if len(todo) == 0 {
		return nil
	}
	if err := sr.mutate(ctx, mkdirCmd(todo)); err != nil {
		return fmt.Errorf("directories: %w", err)
	}
	return nil
}

// written is what writeFiles leaves for the later steps.
type written struct {
	files   []File
	old     map[string][]byte // content before the run; nil for a new file
	changed map[string]bool
}

// content returns the rendered content of path.
func (w *written) content(path string) ([]byte, error) {
	for _, f := range w.files {
		if f.Path == path {
			return f.Content, nil
		}
	}
	return nil, fmt.Errorf("%s was not rendered", path)
}

// writeFiles compares each rendered file with the server's copy, reports
// it (with a diff that shows no secret) and writes it when it differs.
func (sr *serverRun) writeFiles(ctx context.Context, files []File, meta map[string]fileMeta) (*written, error) {
	w := &written{files: files, old: map[string][]byte{}, changed: map[string]bool{}}
	for _, f := range files {
		prev, err := sr.r.ReadFile(ctx, f.Path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, errors.New(sr.scrub.String(err.Error()))
		}
		w.old[f.Path] = prev
		fr, msg := sr.compare(f, prev, err == nil, meta[f.Path])
		if fr.Changed && !sr.opts.DryRun {
			if err := sr.r.WriteFile(ctx, f.Path, f.Content, f.Mode, f.Owner, f.Group); err != nil {
				sr.add("provision.file", report.Fail, sr.server.Name, f.Path+": "+err.Error())
				return nil, errStopped
			}
		}
		w.changed[f.Path] = fr.Changed
		sr.res.Files = append(sr.res.Files, fr)
		sr.add("provision.file", report.Pass, sr.server.Name, f.Path+": "+msg)
	}
	return w, nil
}

// compare returns the report of f against the server's copy (prev, when
// exists, with meta m) and the check's message.
func (sr *serverRun) compare(f File, prev []byte, exists bool, m fileMeta) (report.FileResult, string) {
	contentSame := exists && bytes.Equal(prev, f.Content)
	metaSame := m.mode == f.Mode && m.owner == f.Owner && m.group == f.Group
	fr := report.FileResult{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode), Changed: !contentSame || !metaSame}
	if !contentSame {
		a, b := prev, f.Content
		switch {
		case f.Kind == KindTLSKey:
			a, b = redactAll(a), redactAll(b)
		case f.Secret:
			a, b = redactConf(a), redactConf(b)
		}
		fr.Diff = sr.scrub.String(UnifiedDiff(f.Path, a, b))
		if fr.Diff == "" {
			fr.Diff = "(only a secret value changed)"
		}
	}
	msg := "unchanged"
	switch {
	case fr.Changed && sr.opts.DryRun:
		msg = "would change"
	case fr.Changed:
		msg = "changed"
	}
	if !contentSame && metaSame {
		msg += " (content)"
	} else if contentSame && !metaSame {
		msg += fmt.Sprintf(" (mode/owner %04o %s:%s)", m.mode, m.owner, m.group)
	}
	return fr, msg
}

// openFirewall opens the nodes' ports and bus ports in an active ufw.
func (sr *serverRun) openFirewall(ctx context.Context) {
	ports := make([]int, len(sr.server.Nodes))
	for i, n := range sr.server.Nodes {
		ports[i] = n.Port
	}
	if err := sr.mutate(ctx, firewallCmd(ports)); err != nil {
		sr.add("provision.firewall", report.Fail, sr.server.Name, err.Error())
	}
}

// enableUnits reloads systemd when a unit file changed and enables the
// nodes' units and the THP unit; nothing without systemd.
func (sr *serverRun) enableUnits(ctx context.Context, files []File, changed map[string]bool) error {
	if sr.s.Service != ServiceSystemd {
		return nil
	}
	reload := false
	var units []string
	thp := false
	for _, f := range files {
		switch f.Kind {
		case KindUnit:
			units = append(units, LayoutOf(sr.s, f.Port).Unit)
		case KindTHPUnit:
			thp = true
		case KindExporterUnit: // started by startExporters
		default:
			continue
		}
		reload = reload || changed[f.Path]
	}
	if reload {
		if err := sr.mutate(ctx, daemonReloadCmd); err != nil {
			return err
		}
	}
	if thp {
		if err := sr.mutate(ctx, enableNowCmd(THPUnitName)); err != nil {
			sr.add("provision.kernel", report.Warn, sr.server.Name, err.Error())
		}
	}
	for _, u := range units {
		if err := sr.mutate(ctx, enableCmd(u)); err != nil {
			return err
		}
	}
	return nil
}

// startNodes starts or updates every node whose port is not foreign and
// returns the ports of those that are up.
func (sr *serverRun) startNodes(ctx context.Context, state map[int]nodeState, w *written) []int {
	var up []int
	for _, n := range sr.server.Nodes {
		if state[n.Port] == portForeign {
			continue
		}
		if sr.node(ctx, n.Port, state[n.Port] == nodeServing, w) {
			up = append(up, n.Port)
		}
	}
	return up
}

// logWarnings reads the last lines of each node's log (one command for all
// nodes) and reports each warning of the node's latest start once.
func (sr *serverRun) logWarnings(ctx context.Context, ports []int) {
	nodes := make([]NodeLayout, len(ports))
	for i, p := range ports {
		nodes[i] = LayoutOf(sr.s, p)
	}
	out, err := sr.query(ctx, logTailsCmd(nodes))
	if err != nil {
		sr.add("provision.log_warning", report.Warn, sr.server.Name, "cannot read the logs: "+err.Error())
		return
	}
	for _, chunk := range strings.Split(out, logSep)[1:] {
		portStr, tail, _ := strings.Cut(chunk, "\n")
		port, _ := strconv.Atoi(portStr)
		for _, w := range LogWarnings([]byte(tail)) {
			sr.add("provision.log_warning", report.Warn, sr.nodeAddr(port), w)
		}
	}
}
