package api

import (
	"context"
	"net/http"
	"time"
)

// The configuration check (GET /v1/config/check): what `dirsync config check`
// prints, for the configuration the daemon runs.

// Outcomes of one check (CheckLine.Status).
const (
	CheckOK      = "ok"
	CheckFailed  = "failed"
	CheckSkipped = "skipped"
)

// ConfigCheck is GET /v1/config/check.
type ConfigCheck struct {
	Generated time.Time `json:"generated"`
	// File is the configuration file the daemon read ("" when unknown).
	File   string      `json:"file,omitempty"`
	Checks []CheckLine `json:"checks"`
}

// CheckLine is one line of the check. Detail says what was found and, for a
// failure, how to fix it (the check's own words).
type CheckLine struct {
	Check       string  `json:"check"` // configuration, secret, state, store, mail, connector
	Name        string  `json:"name,omitempty"`
	Status      string  `json:"status"` // CheckOK, CheckFailed or CheckSkipped
	Detail      string  `json:"detail"`
	TookSeconds float64 `json:"took_seconds,omitempty"`
}

// Passed counts the lines with status ok.
func (c ConfigCheck) Passed() int { return c.count(CheckOK) }

// Failed counts the lines with status failed.
func (c ConfigCheck) Failed() int { return c.count(CheckFailed) }

// Skipped counts the lines with status skipped.
func (c ConfigCheck) Skipped() int { return c.count(CheckSkipped) }

func (c ConfigCheck) count(status string) int {
	n := 0
	for _, l := range c.Checks {
		if l.Status == status {
			n++
		}
	}
	return n
}

// ConfigChecker checks the running configuration: the daemon's.
type ConfigChecker interface {
	// Check runs the check, or answers a recent result; fresh runs it anew.
	Check(ctx context.Context, fresh bool) (ConfigCheck, error)
}

// ConfigCheck checks the running configuration as `dirsync config check`
// does: every secret resolves, the backends, the mail server and every
// enabled connector answer. A recent result may be answered (fresh: never).
// 503 for a process that runs no configuration.
func (s *Service) ConfigCheck(ctx context.Context, fresh bool) (ConfigCheck, error) {
	if s.checker == nil {
		return ConfigCheck{}, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "this process runs no configuration to check: ask the dirsync daemon (dirsync serve), or run `dirsync config check`"}
	}
	c, err := s.checker.Check(ctx, fresh)
	if err != nil {
		return ConfigCheck{}, err
	}
	if c.Generated.IsZero() {
		c.Generated = s.now().UTC()
	}
	if c.Checks == nil {
		c.Checks = []CheckLine{}
	}
	return c, nil
}

func (s *server) getConfigCheck(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "fresh")
	if err != nil {
		return err
	}
	fresh, err := boolParam(q, "fresh", false)
	if err != nil {
		return err
	}
	c, err := s.ConfigCheck(r.Context(), fresh)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
