package metrics_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/metrics/metricstest"
	"github.com/slotshift/slotshift/pkg/sandbox"
)

// TestPushToPushgateway pushes a finished run to a real Pushgateway and
// reads it back from the gateway's /metrics: every value under the job and
// cluster grouping. A second push replaces the first (PUT, not POST).
func TestPushToPushgateway(t *testing.T) {
	base := metricstest.StartPushgateway(t)
	ctx := context.Background()
	r := sampleRun()
	if err := r.Push(ctx, base, 5*time.Second); err != nil {
		t.Fatalf("push: %v", err)
	}
	got := metricstest.Scrape(t, base+"/metrics")
	// The cluster name has a quote and a backslash, path-escaped in the URL.
	for _, re := range []string{
		`slotshift_rebalance_slots_moved_total\{cluster="prod \\"eu\\"\\\\1",instance="",job="slotshift"\} 300\n`,
		`slotshift_rebalance_keys_moved_total\{cluster="prod \\"eu\\"\\\\1",instance="",job="slotshift"\} 4000\n`,
		`slotshift_rebalance_gate_holds_total\{cluster="prod \\"eu\\"\\\\1",gate="latency_p99_ms",instance="",job="slotshift"\} 2\n`,
		`slotshift_rebalance_batch_duration_seconds_count\{cluster="prod \\"eu\\"\\\\1",instance="",job="slotshift"\} 3\n`,
		`push_time_seconds\{cluster="prod \\"eu\\"\\\\1",instance="",job="slotshift"\} [0-9.e+]+\n`,
	} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("pushgateway /metrics lacks %s:\n%s", re, got)
		}
	}

	// A new run's push replaces the group: values and families go away.
	fresh := newCollector("prod \"eu\"\\1")
	if err := fresh.Push(ctx, base, 0); err != nil {
		t.Fatalf("second push: %v", err)
	}
	got = metricstest.Scrape(t, base+"/metrics")
	if regexp.MustCompile(`slotshift_rebalance_bytes_moved_total`).MatchString(got) {
		t.Errorf("a PUT left the previous push's families behind:\n%s", got)
	}
	if !regexp.MustCompile(`slotshift_rebalance_slots_moved_total\{[^}]*\} 0\n`).MatchString(got) {
		t.Errorf("second push's values not there:\n%s", got)
	}

	// A name with a slash goes in the gateway's base64 form.
	if err := newCollector("eu/1").Push(ctx, base, 0); err != nil {
		t.Fatalf("push eu/1: %v", err)
	}
	if got := metricstest.Scrape(t, base+"/metrics"); !regexp.MustCompile(`slotshift_rebalance_done\{cluster="eu/1",instance="",job="slotshift"\} 0\n`).MatchString(got) {
		t.Errorf("cluster eu/1 not grouped under its name:\n%s", got)
	}
}

// TestPushFailsFast: nothing listening is an error within the timeout,
// not a hang.
func TestPushFailsFast(t *testing.T) {
	port, err := sandbox.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = sampleRun().Push(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err == nil {
		t.Fatal("push to a closed port succeeded")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("push took %v with a 1s timeout", time.Since(start))
	}
}
