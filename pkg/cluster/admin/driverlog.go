package admin

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// RouteDriverLog sends go-redis' own log lines (dial failures, pool
// events) to l at debug level instead of go-redis' default of printing them
// on stderr. What they say is already in Observation.Err and the errors the
// commands return, so a pipeline's output stays clean. It changes a
// process-wide setting: call it once, from main or the CLI wiring.
func RouteDriverLog(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	redis.SetLogger(driverLog{l})
}

type driverLog struct{ l *slog.Logger }

func (d driverLog) Printf(ctx context.Context, format string, v ...any) {
	d.l.DebugContext(ctx, "go-redis", "msg", fmt.Sprintf(format, v...))
}
