package password

import (
	"context"
	"errors"
	"runtime"
	"time"
)

// ErrBusy is returned by a Limiter when no argon2 slot came free in time:
// the caller should answer "try again later", never queue without bound.
var ErrBusy = errors.New("too many password checks at once; try again in a moment")

// Limiter bounds the memory argon2 can take. Each hash or verification holds
// Params.Memory (64 MiB by default) for its whole run, so without a bound a
// few hundred sign-in attempts at once exhaust any machine. At most slots run
// at once, at most waiters wait for a slot, and none waits longer than wait.
// A nil *Limiter runs everything at once (tests and tools).
type Limiter struct {
	slots   chan struct{}
	waiters chan struct{}
	wait    time.Duration
}

// DefaultSlots is one argon2 run per CPU (each uses Params.Threads lanes, so
// more would only queue inside the scheduler), and at most what a budget of
// 256 MiB of argon2 memory allows: 4 at the default 64 MiB.
func DefaultSlots(p Params) int {
	if p.Memory == 0 {
		p = Default
	}
	byMemory := int((256 * 1024) / p.Memory)
	return max(1, min(runtime.NumCPU(), byMemory))
}

// NewLimiter returns a Limiter running slots argon2 computations at once,
// with up to waiters callers waiting up to wait for one.
func NewLimiter(slots, waiters int, wait time.Duration) *Limiter {
	return &Limiter{slots: make(chan struct{}, max(1, slots)), waiters: make(chan struct{}, max(0, waiters)), wait: wait}
}

// Do runs fn in a slot: ErrBusy when none came free within the wait or too
// many callers already wait, ctx's error when the caller gave up first.
func (l *Limiter) Do(ctx context.Context, fn func()) error {
	if l == nil {
		fn()
		return nil
	}
	select {
	case l.slots <- struct{}{}:
	default:
		if err := l.queue(ctx); err != nil {
			return err
		}
	}
	defer func() { <-l.slots }()
	fn()
	return nil
}

// queue waits for a slot as one of the bounded waiters.
func (l *Limiter) queue(ctx context.Context) error {
	select {
	case l.waiters <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-l.waiters }()
	timer := time.NewTimer(l.wait)
	defer timer.Stop()
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait runs fn in a slot, waiting as long as ctx allows and outside the
// waiters' bound: for administrators' requests, which are authenticated and
// few, and must not fail because the public sign-in path is busy.
func (l *Limiter) Wait(ctx context.Context, fn func() (string, error)) (string, error) {
	if l == nil {
		return fn()
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-l.slots }()
	return fn()
}

// Hash is Hash under the limiter.
func (l *Limiter) Hash(ctx context.Context, secret string, p Params) (string, error) {
	var h string
	var err error
	if lerr := l.Do(ctx, func() { h, err = Hash(secret, p) }); lerr != nil {
		return "", lerr
	}
	return h, err
}

// Verify is Verify under the limiter.
func (l *Limiter) Verify(ctx context.Context, secret, encoded string) error {
	var err error
	if lerr := l.Do(ctx, func() { err = Verify(secret, encoded) }); lerr != nil {
		return lerr
	}
	return err
}
