// Command slotshift-lab brings up a lab of real systemd hosts for a person
// to try slotshift on (make lab), lists the labs (status) and tears them
// down (make lab-down). It needs root.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/slotshift/slotshift/pkg/lab"
)

const usage = `usage: slotshift-lab up [-hosts N] | down | status

  up      boot N systemd hosts (default 5) that stay up until "down",
          and write an inventory and an env file for slotshift
  down    tear down the labs "up" made, and any left by a test that died:
          containers, links, bridges, overlays
  status  list the labs on this machine
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "slotshift-lab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command\n%s", usage)
	}
	stateDir := os.Getenv("SLOTSHIFT_LAB_STATE")
	if stateDir == "" {
		stateDir = lab.DefaultStateDir
	}
	switch args[0] {
	case "up":
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		hosts := fs.Int("hosts", 5, "number of hosts (server1…serverN)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return up(ctx, *hosts, out)
	case "down":
		swept, err := lab.Sweep(stateDir, true)
		for _, d := range swept {
			fmt.Fprintln(out, "removed", d)
		}
		if err == nil && len(swept) == 0 {
			fmt.Fprintln(out, "no lab to remove")
		}
		return err
	case "status":
		dirs, _ := filepath.Glob(filepath.Join(stateDir, "lab[0-9]*"))
		if len(dirs) == 0 {
			fmt.Fprintln(out, "no lab")
		}
		for _, d := range dirs {
			b, _ := os.ReadFile(filepath.Join(d, "lab.json"))
			fmt.Fprintf(out, "%s\n%s\n", d, b)
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

// up boots a kept lab and writes what slotshift needs next to it.
func up(ctx context.Context, hosts int, out io.Writer) error {
	l, err := lab.Start(ctx, lab.Config{Hosts: hosts, Keep: true, Log: os.Stderr})
	if err != nil {
		return err
	}
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		_ = l.Close()
		return err
	}
	files := map[string]string{
		"inventory.yml": l.Inventory(lab.InventoryOptions{Servers: min(3, hosts), Extra: lab.SharedMachineGates}),
		"env": fmt.Sprintf("# source me: the secrets slotshift reads, for lab %d\n"+
			"export SLOTSHIFT_PASSWORD=%s\n"+
			"export SLOTSHIFT_SSH_KEY=\"$(cat %s)\"\n"+
			"export SLOTSHIFT_SSH_KNOWN_HOSTS=\"$(cat %s)\"\n"+
			"export SLOTSHIFT_INVENTORY_FILE=%s\n",
			l.ID, hex.EncodeToString(pw), filepath.Join(l.Dir, "id_ed25519"), filepath.Join(l.Dir, "known_hosts"),
			filepath.Join(l.Dir, "inventory.yml")),
	}
	if hosts > 3 {
		files["inventory-all.yml"] = l.Inventory(lab.InventoryOptions{Extra: lab.SharedMachineGates})
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(l.Dir, name), []byte(content), 0o600); err != nil {
			_ = l.Close()
			return err
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nlab %d is up: %d systemd hosts on bridge %s (%s/24), state in %s\n\n", l.ID, len(l.Hosts), l.Bridge, l.Gateway, l.Dir)
	for _, h := range l.Hosts {
		fmt.Fprintf(&b, "  %-8s %-13s ssh -i %s -o UserKnownHostsFile=%s root@%s\n",
			h.Name, h.Addr, filepath.Join(l.Dir, "id_ed25519"), filepath.Join(l.Dir, "known_hosts"), h.Addr)
	}
	fmt.Fprintf(&b, `
Try the life-cycle on server1-3 (inventory.yml):

  . %[1]s/env
  bin/slotshift validate --offline
  bin/slotshift provision && bin/slotshift join && bin/slotshift verify
  bin/slotshift load --duration 10s --keep-keys
`, l.Dir)
	if hosts > 3 {
		fmt.Fprintf(&b, `
then scale out to every host (inventory-all.yml):

  export SLOTSHIFT_INVENTORY_FILE=%[1]s/inventory-all.yml
  bin/slotshift validate --offline --base %[1]s/inventory.yml
  bin/slotshift provision && bin/slotshift join
  bin/slotshift rebalance && bin/slotshift verify
`, l.Dir)
	}
	b.WriteString("\nThe hosts stay up until: make lab-down\n")
	_, err = io.WriteString(out, b.String())
	return err
}
