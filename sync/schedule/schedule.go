// Package schedule runs each connector on its cron schedules (robfig/cron): regular
// runs and full reconciles, never two calls of the RunFunc for one connector at
// once in this process (the daemon's RunFunc only asks sync/runner for a run,
// which queues it, so a tick is skipped only while that call is being made),
// panics recovered and logged. A connector's schedules can be replaced or
// removed while the cron runs (a configuration reload).
package schedule

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// RunFunc performs one run of a connector.
type RunFunc func(ctx context.Context, connector string, full bool)

// Scheduler owns the cron and the per-connector "running" guards.
type Scheduler struct {
	cron    *cron.Cron
	log     *zap.Logger
	run     RunFunc
	ctx     context.Context
	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup

	// emu guards entries, the cron entries of each connector; it is not mu,
	// so a tick's Trigger never waits for a Set talking to the cron.
	emu     sync.Mutex
	entries map[string][]cron.EntryID
}

// New returns a Scheduler whose runs get ctx (cancel it to abort runs in flight).
func New(ctx context.Context, run RunFunc, log *zap.Logger) *Scheduler {
	log = log.Named("schedule")
	return &Scheduler{
		cron:    cron.New(cron.WithChain(cron.Recover(cronLogger{log.Sugar()}))),
		log:     log,
		run:     run,
		ctx:     ctx,
		running: map[string]bool{},
		entries: map[string][]cron.EntryID{},
	}
}

// Set schedules a connector, replacing its schedules if it had some: spec for
// regular runs, fullSpec (if not empty) for full reconciles. Specs are
// standard five-field cron lines or descriptors such as "@every 15m". A spec
// that does not parse is an error and leaves the connector's schedules as
// they were. A run in flight is not affected.
func (s *Scheduler) Set(connector, spec, fullSpec string) error {
	regular, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("schedule %s %q: %w", connector, spec, err)
	}
	var full cron.Schedule
	if fullSpec != "" {
		if full, err = cron.ParseStandard(fullSpec); err != nil {
			return fmt.Errorf("full schedule %s %q: %w", connector, fullSpec, err)
		}
	}
	s.emu.Lock()
	defer s.emu.Unlock()
	s.removeLocked(connector)
	ids := []cron.EntryID{s.cron.Schedule(regular, cron.FuncJob(func() { s.Trigger(connector, false) }))}
	if full != nil {
		ids = append(ids, s.cron.Schedule(full, cron.FuncJob(func() { s.Trigger(connector, true) })))
	}
	s.entries[connector] = ids
	return nil
}

// Add is Set.
func (s *Scheduler) Add(connector, spec, fullSpec string) error {
	return s.Set(connector, spec, fullSpec)
}

// Remove drops a connector's schedules (a no-op for one without). A run in
// flight is not affected.
func (s *Scheduler) Remove(connector string) {
	s.emu.Lock()
	defer s.emu.Unlock()
	s.removeLocked(connector)
}

func (s *Scheduler) removeLocked(connector string) {
	for _, id := range s.entries[connector] {
		s.cron.Remove(id)
	}
	delete(s.entries, connector)
}

// Next says when the connector's schedules fire next: its regular runs and
// its full reconciles (zero for a schedule it does not have, and both zero for
// a connector not scheduled). Before Start it is when they would fire if the
// cron started now.
func (s *Scheduler) Next(connector string) (next, nextFull time.Time) {
	s.emu.Lock()
	ids := s.entries[connector]
	s.emu.Unlock()
	now := time.Now()
	at := make([]time.Time, 2)
	for i, id := range ids {
		if i >= len(at) {
			break
		}
		e := s.cron.Entry(id)
		switch {
		case !e.Next.IsZero():
			at[i] = e.Next
		case e.Schedule != nil:
			at[i] = e.Schedule.Next(now)
		}
	}
	return at[0], at[1]
}

// Trigger starts a run now, in the background, unless one of the same connector is
// still running (then it is skipped and false returned).
func (s *Scheduler) Trigger(connector string, full bool) bool {
	s.mu.Lock()
	if s.running[connector] {
		s.mu.Unlock()
		s.log.Info("run skipped: the previous run is still going", zap.String("connector", connector), zap.Bool("full", full))
		return false
	}
	s.running[connector] = true
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("run panicked", zap.String("connector", connector), zap.Any("panic", p), zap.Stack("stack"))
			}
			s.mu.Lock()
			delete(s.running, connector)
			s.mu.Unlock()
			s.wg.Done()
		}()
		s.run(s.ctx, connector, full)
	}()
	return true
}

// Start starts the cron.
func (s *Scheduler) Start() { s.cron.Start() }

// Stop stops scheduling and waits for runs in flight, until ctx is done.
func (s *Scheduler) Stop(ctx context.Context) error {
	<-s.cron.Stop().Done()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("runs still in flight: %w", ctx.Err())
	}
}

// cronLogger adapts zap to cron's logger.
type cronLogger struct{ s *zap.SugaredLogger }

func (l cronLogger) Info(msg string, kv ...any) { l.s.Debugw(msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.s.Errorw(msg, append(kv, "error", err)...)
}
