package config

import (
	"fmt"
	"time"
)

// RetryPolicy is the part of the sync policy about failed operations and the
// brakes' window; its keys sit directly under `sync:` (top level or a
// connector's), like the other brakes.
//
//	sync:
//	  retry_max_attempts: 10        # then reported, not retried
//	  retry_backoff: 5m             # after the first failure, doubled after each
//	  retry_backoff_max: 6h
//	  max_destructive_window: 168h  # 0 = only each run on its own
type RetryPolicy struct {
	// RetryMaxAttempts: a failed operation is tried this many times in all,
	// then only listed in run reports (a full run that applies it clears it).
	RetryMaxAttempts int `yaml:"retry_max_attempts"`
	// RetryBackoff is the wait after the first failure, doubled after each
	// further one up to RetryBackoffMax; 0 retries on every run.
	RetryBackoff    time.Duration `yaml:"retry_backoff"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
	// MaxDestructiveWindow: the destructive operations applied this long
	// before a run count with the run's own against max_destructive,
	// max_destructive_percent and the floor; 0 turns the window off.
	MaxDestructiveWindow time.Duration `yaml:"max_destructive_window"`
}

func defaultRetryPolicy() RetryPolicy {
	return RetryPolicy{RetryMaxAttempts: 10, RetryBackoff: 5 * time.Minute, RetryBackoffMax: 6 * time.Hour,
		MaxDestructiveWindow: 7 * 24 * time.Hour}
}

func (p RetryPolicy) validate(path string) []Problem {
	var probs []Problem
	if p.RetryMaxAttempts < 1 {
		probs = append(probs, Problem{path + ".retry_max_attempts", fmt.Sprintf("%d: must be at least 1 (10 is the default)", p.RetryMaxAttempts)})
	}
	if p.RetryBackoff < 0 {
		probs = append(probs, Problem{path + ".retry_backoff", "must not be negative (0 retries on every run)"})
	}
	if p.RetryBackoffMax < p.RetryBackoff {
		probs = append(probs, Problem{path + ".retry_backoff_max", fmt.Sprintf("%s is shorter than retry_backoff (%s): make it at least as long", p.RetryBackoffMax, p.RetryBackoff)})
	}
	if p.MaxDestructiveWindow < 0 {
		probs = append(probs, Problem{path + ".max_destructive_window", "must not be negative (0 turns the window off)"})
	}
	return probs
}
