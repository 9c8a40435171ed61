package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
)

// The configuration check of the running configuration (GET /v1/config/check
// and the console's page): `dirsync config check` over the configuration the
// daemon runs now.

const (
	// checkTimeout bounds each connection check.
	checkTimeout = 10 * time.Second
	// checkCacheFor is how long a result is answered again: reloading the
	// page does not connect to every server again.
	checkCacheFor = 30 * time.Second
)

// configChecker is the daemon's api.ConfigChecker. It runs one check at a
// time: a caller that arrives while a check runs waits for it and gets its
// result.
type configChecker struct {
	cfg   func() *config.Config // the running configuration
	file  string
	log   *zap.Logger
	now   func() time.Time
	check func(ctx context.Context, cfg *config.Config, log *zap.Logger, o CheckOptions) []CheckResult

	turn chan struct{} // holds one token: whoever has it checks
	last api.ConfigCheck
	// finished is when last was made (zero: no result yet).
	finished time.Time
}

func newConfigChecker(cfg func() *config.Config, file string, log *zap.Logger) *configChecker {
	c := &configChecker{cfg: cfg, file: file, log: log.Named("configcheck"), now: time.Now, check: Check,
		turn: make(chan struct{}, 1)}
	c.turn <- struct{}{}
	return c
}

// Check answers a result less than checkCacheFor old, or one that finished
// while this caller waited; otherwise (or, with fresh, unless one finished
// while it waited) it checks the running configuration.
func (c *configChecker) Check(ctx context.Context, fresh bool) (api.ConfigCheck, error) {
	asked := c.now()
	select {
	case <-c.turn:
	case <-ctx.Done():
		return api.ConfigCheck{}, ctx.Err()
	}
	defer func() { c.turn <- struct{}{} }()
	if !c.finished.IsZero() && (c.finished.After(asked) || !fresh && c.now().Sub(c.finished) < checkCacheFor) {
		return c.last, nil
	}
	// The check goes on when the caller leaves: the next one gets its result
	// instead of a line per server saying "context canceled".
	cfg := c.cfg()
	start := c.now()
	lines := c.check(context.WithoutCancel(ctx), cfg, c.log, CheckOptions{Timeout: checkTimeout})
	out := api.ConfigCheck{Generated: start.UTC(), File: c.file, Checks: make([]api.CheckLine, 0, len(lines))}
	failed := 0
	for _, l := range lines {
		out.Checks = append(out.Checks, api.CheckLine{Check: l.Check, Name: l.Name, Status: l.Status, Detail: l.Detail,
			TookSeconds: float64(l.Millis) / 1000})
		if l.Status == CheckFailed {
			failed++
		}
	}
	c.log.Info("configuration checked", zap.Int("checks", len(lines)), zap.Int("failed", failed),
		zap.Duration("took", c.now().Sub(start)))
	c.last, c.finished = out, c.now()
	return out, nil
}

// runningConfig is the configuration the daemon runs now (a reload changes it).
func (d *Daemon) runningConfig() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.core.cfg
}
