package fresh

import (
	"context"
	"log/slog"
	"time"
)

// otterClock adapts a Clock to the store's clock.
type otterClock struct{ c Clock }

func (o otterClock) NowNano() int64 { return o.c.Now().UnixNano() }

// Tick returns no ticks: with a custom clock, expired entries are removed as they are
// met rather than by a periodic sweep.
func (o otterClock) Tick(time.Duration) <-chan time.Time { return nil }

// otterLogger adapts the cache's slog.Logger to the store's logger.
type otterLogger struct{ l *slog.Logger }

func (o otterLogger) Warn(ctx context.Context, msg string, err error) {
	o.l.WarnContext(ctx, "fresh: store: "+msg, "err", err)
}

func (o otterLogger) Error(ctx context.Context, msg string, err error) {
	o.l.ErrorContext(ctx, "fresh: store: "+msg, "err", err)
}
