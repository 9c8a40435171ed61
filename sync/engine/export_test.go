package engine

import "time"

// SetClock replaces the clock of retry backoff and the brakes' window, so
// tests can step over them.
func (e *Engine) SetClock(now func() time.Time) { e.now = now }
