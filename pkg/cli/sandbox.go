package cli

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/sandbox"
	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) sandboxCommand() *cli.Command {
	dir := func() cli.Flag {
		return stringFlag("dir", "state directory of the sandbox's processes", ".sandbox")
	}
	return &cli.Command{
		Name:  "sandbox",
		Usage: "run the inventory's loopback nodes as local redis-server processes",
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "start every node of the inventory (addresses must be loopback); does not form the cluster (that is join)",
				Flags: []cli.Flag{dir(), boolFlag("persistence", "keep RDB/AOF persistence on (off by default)"),
					stringFlag("server-bin", "the server executable: a path or a name in PATH (redis-server, valkey-server)", sandbox.DefaultBin)},
				Action: func(c *cli.Context) error {
					inv, secrets, err := r.inventoryAndSecrets(c)
					if err != nil {
						return err
					}
					if secrets.Password == "" {
						return stage.Usagef("the password variable %s is empty: export it before 'sandbox up'", inventory.PasswordEnv(inv))
					}
					st, err := sandbox.Up(c.Context, inv, sandbox.Options{Dir: c.String("dir"), Password: secrets.Password, Persistence: c.Bool("persistence"),
						TLS: secrets.TLSMaterial, TLSClient: secrets.TLS, Bin: c.String("server-bin")})
					if err != nil {
						return err
					}
					fmt.Fprintf(r.io.Stdout, "sandbox up: %d %s processes in %s\n", len(st.Nodes), filepath.Base(c.String("server-bin")), c.String("dir"))
					return nil
				},
			},
			{
				Name:  "down",
				Usage: "stop exactly the processes 'sandbox up' started and remove their state",
				Flags: []cli.Flag{dir()},
				Action: func(c *cli.Context) error {
					if err := sandbox.Down(c.Context, c.String("dir")); err != nil {
						return err
					}
					fmt.Fprintln(r.io.Stdout, "sandbox down")
					return nil
				},
			},
			{
				Name:  "load",
				Usage: "write demo keys through a cluster client (for trying rebalance)",
				Flags: []cli.Flag{intFlag("keys", "how many keys", 10000), intFlag("value-size", "bytes per value", 64)},
				Action: func(c *cli.Context) error {
					inv, secrets, err := r.inventoryAndSecrets(c)
					if err != nil {
						return err
					}
					var seeds []string
					for _, n := range inv.Nodes() {
						seeds = append(seeds, n.Addr())
					}
					n, err := sandbox.Load(c.Context, sandbox.LoadOptions{Seeds: seeds, Username: secrets.Username, Password: secrets.Password, TLS: secrets.TLS, Keys: c.Int("keys"), ValueSize: c.Int("value-size")})
					if err != nil {
						return err
					}
					fmt.Fprintf(r.io.Stdout, "loaded %d keys\n", n)
					return nil
				},
			},
			{
				Name:  "status",
				Usage: "list the sandbox's processes with their roles as Redis reports them",
				Flags: []cli.Flag{dir()},
				Action: func(c *cli.Context) error {
					inv, _ := inventory.FromEnv(r.io.Getenv, c.String(flagInventory))
					secrets, err := loadSecrets(c, r.io.Getenv, inv)
					if err != nil {
						return err
					}
					nodes, err := sandbox.StatusWith(c.Context, c.String("dir"), admin.Options{Username: secrets.Username, Password: secrets.Password, TLS: secrets.TLS})
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(r.io.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "SERVER\tADDR\tPID\tALIVE\tROLE\tCLUSTER_STATE\tKNOWN_NODES\tSLOTS")
					for _, n := range nodes {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s\t%s\t%d\t%d\n", n.Server, n.Addr, n.Pid, n.Alive, n.Role, n.ClusterState, n.KnownNodes, n.Slots)
					}
					return tw.Flush()
				},
			},
		},
	}
}

// inventoryAndSecrets loads the inventory and the secrets it names, for the
// sandbox commands (stages get them from runStage).
func (r *runner) inventoryAndSecrets(c *cli.Context) (*inventory.Inventory, stage.Secrets, error) {
	inv, err := inventory.FromEnv(r.io.Getenv, c.String(flagInventory))
	if err != nil {
		return nil, stage.Secrets{}, &stage.UsageError{Err: err}
	}
	secrets, err := loadSecrets(c, r.io.Getenv, inv)
	return inv, secrets, err
}
