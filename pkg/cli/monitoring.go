package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/slotshift/slotshift/pkg/stage"
)

func (r *runner) monitoringCommand() *cli.Command {
	return &cli.Command{
		Name:  "monitoring",
		Usage: "write Prometheus targets (one redis_exporter per node), alert rules, a Grafana dashboard and prometheus.yml",
		Flags: []cli.Flag{
			stringFlag("output", "directory for targets.json, alerts.yml, dashboard.json and prometheus.yml (required)", ""),
			&cli.DurationFlag{Name: "scrape-interval", Usage: "Prometheus scrape and rule evaluation interval", Value: 0, EnvVars: []string{envName("scrape-interval")}, DefaultText: "15s"},
		},
		Action: func(c *cli.Context) error {
			return r.runStage(c, "monitoring", func(ctx context.Context, c *cli.Context, env stage.Env) (stage.Result, error) {
				return stage.Monitoring(ctx, env, stage.MonitoringInput{
					Output:         c.String("output"),
					ScrapeInterval: c.Duration("scrape-interval"),
				})
			})
		},
	}
}
