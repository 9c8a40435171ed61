package faultmatrix_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// infraMidApply is how many changes must be applied before a row strikes: far
// enough into the apply that it is under way, far from its end (a generation
// changes every one of infraUsers users).
const infraMidApply = 100

// infraWaitMidApply waits until p has applied infraMidApply changes beyond
// already, and fails the row if the run ended first (the fault would not be
// mid-apply).
func infraWaitMidApply(t *testing.T, p *infraProc, already int) int {
	t.Helper()
	infraEventually(t, 2*time.Minute, func() bool {
		return p.logs.count("change applied") >= already+infraMidApply || !p.alive()
	}, "the run applies %d changes", infraMidApply)
	require.True(t, p.alive(), "the run ended before the fault could strike mid-apply")
	return p.logs.count("change applied") - already
}

// infraSigkill: `dirsync sync` is SIGKILLed in the middle of applying a
// generation of changes; reruns must finish the job (every apply is
// idempotent, and the state is committed only after apply).
func infraSigkill(t *testing.T) outcome {
	// On Redis with a short run lease: the local backend's lock of a killed
	// run holds the connector for its fixed two-minute lease.
	rs := startInfraRedis(t, "")
	dir := t.TempDir()
	source := filepath.Join(dir, "source.ldif")
	cfg := infraFileConfig(t, dir, source, infraRedisState(rs.addr), infraSQLite)
	gen0, gen1 := infraDirectory(infraUsers, 0), infraDirectory(infraUsers, 1)
	ref := infraReference(t, gen0, gen1)

	require.NoError(t, os.WriteFile(source, gen0, 0o644))
	status, err := infraSync(t, cfg)
	require.Equal(t, "ok", status, err)
	st := infraOpenSQLite(t, dir)
	before := infraSnapshot(t, st)

	require.NoError(t, os.WriteFile(source, gen1, 0o644))
	p := infraStart(t, "sync", "--config", cfg, "--output", "json")
	applied := infraWaitMidApply(t, p, 0)
	require.NoError(t, p.cmd.Process.Kill())
	p.wait(t)
	after := infraSnapshot(t, st)

	o := outcome{Status: "killed", WronglyDisabled: infraWronglyDisabled(before, after, ref),
		Note: fmt.Sprintf("SIGKILL after %d of %d changes applied;", applied, infraGen1Changes(infraUsers))}
	infraConverge(t, &o, ref, func() infraState { return infraSnapshot(t, st) }, func() string {
		return infraSyncPastLock(t, cfg, &o)
	}, 3)
	return o
}
