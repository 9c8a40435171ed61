package clitext_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/clitext"
)

func TestTextReportListsTheRetrySet(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 5, 0, 0, time.UTC)
	rep := &api.RunReport{Connector: "ad", Status: api.RunPartial, Retries: []api.Retry{
		{Anchor: "a1", Address: "ann@example.com", Attempts: 2, LastError: "the store refused it", NextAttempt: at},
		{Anchor: "b2", Address: "bob@example.com", Attempts: 10, LastError: "still refused", GivenUp: true},
		{Anchor: "c3", Address: "cy@example.com", Attempts: 1, LastError: "once"},
	}}
	var out bytes.Buffer
	clitext.Report(&out, rep)
	require.Contains(t, out.String(), "  retries (3):\n"+
		"    ann@example.com (a1) attempts 2, next attempt 2025-03-01T09:05:00Z; last error: the store refused it\n"+
		"    bob@example.com (b2) attempts 10, given up: fix the error, then run a full sync; last error: still refused\n"+
		"    cy@example.com (c3) attempts 1, next run; last error: once\n")

	out.Reset()
	clitext.Report(&out, &api.RunReport{Connector: "ad", Status: api.RunOK})
	require.NotContains(t, out.String(), "retries")
}
