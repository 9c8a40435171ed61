package main

// The exit code run reports map to, shared by dirsync sync and dirsync
// trigger (internal/clitext renders them).

import (
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/clitext"
)

// statusError maps the worst run status to the exit code. A dry run whose
// plan the real run would hold exits as held: the code tells a script what
// applying would do.
func statusError(reports []*api.RunReport) error {
	code := exitOK
	rank := map[int]int{exitOK: 0, exitHeld: 1, exitPartial: 2, exitFailed: 3}
	for _, r := range reports {
		c := exitOK
		switch r.Status {
		case api.RunFailed:
			c = exitFailed
		case api.RunPartial:
			c = exitPartial
		case api.RunHeld:
			c = exitHeld
		case api.RunDryRun:
			if clitext.WouldHold(r) {
				c = exitHeld
			}
		}
		if rank[c] > rank[code] {
			code = c
		}
	}
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}
