package password_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/accounts/password"
)

// TestLimiterBounds: never more than slots run at once, never more than
// waiters wait, and a waiter gives up with ErrBusy after the wait.
func TestLimiterBounds(t *testing.T) {
	const slots, waiters, callers = 2, 3, 40
	l := password.NewLimiter(slots, waiters, 200*time.Millisecond)
	release := make(chan struct{})
	var running, peak atomic.Int64
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			errs[i] = l.Do(t.Context(), func() {
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				<-release
				running.Add(-1)
			})
		})
	}
	// Everyone beyond the slots and the waiters is refused at once.
	require.Eventually(t, func() bool { return running.Load() == slots }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	ok, busy := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		default:
			require.ErrorIs(t, err, password.ErrBusy)
			busy++
		}
	}
	require.LessOrEqual(t, peak.Load(), int64(slots))
	require.Equal(t, callers, ok+busy)
	require.LessOrEqual(t, ok, slots+waiters, "only the slots and the waiters ran")
	require.GreaterOrEqual(t, ok, slots)
}

func TestLimiterWaitAndCancel(t *testing.T) {
	l := password.NewLimiter(1, 1, 50*time.Millisecond)
	hold := make(chan struct{})
	go func() { _ = l.Do(context.Background(), func() { <-hold }) }()
	require.Eventually(t, func() bool {
		return l.Do(t.Context(), func() {}) != nil
	}, time.Second, time.Millisecond, "the slot is held")

	start := time.Now()
	require.ErrorIs(t, l.Do(t.Context(), func() { t.Error("ran without a slot") }), password.ErrBusy)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "it waited first")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, l.Do(ctx, func() { t.Error("ran after cancel") }), context.Canceled)

	close(hold)
	require.Eventually(t, func() bool { return l.Do(t.Context(), func() {}) == nil }, time.Second, time.Millisecond)
	require.GreaterOrEqual(t, password.DefaultSlots(password.Default), 1)
	require.LessOrEqual(t, password.DefaultSlots(password.Default), 4, "256 MiB of 64 MiB runs")
}
