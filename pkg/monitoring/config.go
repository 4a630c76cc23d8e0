package monitoring

import (
	"fmt"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// promConfig is the part of prometheus.yml that Config writes.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type scrapeConfig struct {
	JobName       string         `yaml:"job_name"`
	FileSDConfigs []fileSDConfig `yaml:"file_sd_configs"`
}

type fileSDConfig struct {
	Files           []string `yaml:"files"`
	RefreshInterval string   `yaml:"refresh_interval"`
}

// Config renders a minimal prometheus.yml: one scrape job reading the
// targets file and the rule file, both relative to the config file (which
// is how Prometheus resolves them). To use it in an existing Prometheus,
// copy the job and the rule_files entry into its own configuration.
func Config(inv *inventory.Inventory, opts Options) ([]byte, error) {
	opts = opts.withDefaults()
	var c promConfig
	c.Global.ScrapeInterval = promDuration(opts.ScrapeInterval)
	c.Global.EvaluationInterval = promDuration(opts.ScrapeInterval)
	c.RuleFiles = []string{RulesFile}
	c.ScrapeConfigs = []scrapeConfig{{
		JobName: JobName(inv),
		// file_sd also watches the file: a new targets.json is picked up
		// without a reload; the refresh is the fallback.
		FileSDConfigs: []fileSDConfig{{Files: []string{TargetsFile}, RefreshInterval: "1m"}},
	}}
	b, err := encodeYAML(inv, "Prometheus configuration", c)
	if err != nil {
		return nil, fmt.Errorf("monitoring: prometheus.yml: %w", err)
	}
	return b, nil
}
