package stage

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/load"
	"github.com/slotshift/slotshift/pkg/report"
)

func TestLoadStage(t *testing.T) {
	c, inv := startCross(t)
	env := harnessEnv(t, inv, c.Password)
	base := load.Options{Duration: 1500 * time.Millisecond, Rate: 1000, Clients: 4, Keys: 500, ReadPercent: 30}

	t.Run("pass", func(t *testing.T) {
		res, err := Load(context.Background(), env, LoadInput{Options: base})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{IDLoadOps, IDLoadLost, IDLoadStale, IDLoadErrors} {
			want(t, res.Checks, id, "", report.Pass)
		}
		s := res.Load
		if s == nil || s.Ops == 0 || s.Verify.Keys == 0 || len(s.Seconds) < 1 || s.Latency.P99 <= 0 || s.Settings.Keys != 500 || s.Settings.ReadPercent != 30 {
			t.Fatalf("load section %+v", s)
		}
		if res.Outcome() != report.OutcomePass || len(res.Summary) != 1 {
			t.Errorf("outcome %s, summary %v", res.Outcome(), res.Summary)
		}
	})

	t.Run("lost keys fail", func(t *testing.T) {
		in := LoadInput{Options: base}
		in.Options.BeforeVerify = func(ctx context.Context, acked []string) error {
			return c.Client(1).FlushAll(ctx).Err() // a master: its keys are gone
		}
		res, err := Load(context.Background(), env, in)
		if err != nil {
			t.Fatal(err)
		}
		lost := want(t, res.Checks, IDLoadLost, "", report.Fail, "acknowledged keys missing")
		if n, ok := lost.Observed.(int); !ok || n == 0 || n != res.Load.Verify.Lost {
			t.Errorf("observed %v, section says %d lost", lost.Observed, res.Load.Verify.Lost)
		}
		if res.Outcome() != report.OutcomeFail || res.Outputs["lost"] != strconv.Itoa(res.Load.Verify.Lost) {
			t.Errorf("outcome %s, outputs %v", res.Outcome(), res.Outputs)
		}
	})

	t.Run("interrupted still verifies", func(t *testing.T) {
		in := LoadInput{Options: base}
		in.Options.Duration = time.Minute
		ctx, cancel := context.WithCancelCause(context.Background())
		stop := errors.New("signal")
		time.AfterFunc(500*time.Millisecond, func() { cancel(stop) })
		start := time.Now()
		res, err := Load(ctx, env, in)
		if !errors.Is(err, stop) {
			t.Fatalf("error %v, want the context's cause", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("took %s to stop", time.Since(start))
		}
		if res.Load == nil || res.Load.Verify.Keys == 0 {
			t.Fatalf("no read-back after the interrupt: %+v", res.Load)
		}
		want(t, res.Checks, IDLoadLost, "", report.Pass)
	})

	t.Run("bad settings are a usage error", func(t *testing.T) {
		in := LoadInput{Options: base}
		in.Options.Keys = 2
		_, err := Load(context.Background(), env, in)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Fatalf("error %v, want a usage error", err)
		}
	})
}

func TestLoadStatusLine(t *testing.T) {
	var b strings.Builder
	status := loadStatus(&b, 10*time.Second)
	for i := range 10 {
		status(load.Second{Second: i, Ops: 900 + int64(i), Errors: map[load.Kind]int64{load.KindTimeout: int64(i)},
			Latency: load.Latency{P99: 1234 * time.Microsecond}})
	}
	want := "load 5s/10s · 904 ops/s · p99 1.23ms · errors 4\nload 10s/10s · 909 ops/s · p99 1.23ms · errors 9\n"
	if b.String() != want {
		t.Errorf("status lines:\n%s\nwant:\n%s", b.String(), want)
	}
	if loadStatus(nil, time.Second) != nil {
		t.Error("a status printer with nowhere to print")
	}
}
