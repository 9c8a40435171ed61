package daemon

import (
	"context"
	"errors"
	"fmt"
)

// component is one running part of the daemon, in the shape of
// controller-runtime's Runnable but with the stop made explicit: start begins
// the work and returns, stop ends it and returns once it has ended (ctx bounds
// how long it may wait for work in flight).
type component struct {
	name  string
	start func(ctx context.Context) error
	stop  func(ctx context.Context) error
}

// lifecycle starts components in their order and stops them in reverse, so
// that each one stops while what it relies on still runs.
type lifecycle struct {
	components []component
	started    int
}

// start starts the components in order. When one fails, those already started
// are stopped again (in reverse) and the error says which failed.
func (l *lifecycle) start(ctx context.Context) error {
	for _, c := range l.components {
		if err := c.start(ctx); err != nil {
			return errors.Join(fmt.Errorf("start %s: %w", c.name, err), l.stop(ctx))
		}
		l.started++
	}
	return nil
}

// stop stops the started components in reverse order, each one after the one
// started after it has stopped.
func (l *lifecycle) stop(ctx context.Context) error {
	var errs []error
	for ; l.started > 0; l.started-- {
		c := l.components[l.started-1]
		if err := c.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}
