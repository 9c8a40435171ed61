package main_test

// End-to-end tests of the dirsync binary: the quickstart as a user runs it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlite"
)

var binary string

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithDirsync(m, &binary))
}

// quickstart copies the shipped quickstart config and sample directory into a
// fresh folder, so the relative data/ paths land there.
func quickstart(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"quickstart.yaml", "sample-directory.ldif"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), raw, 0o644))
	}
	return dir, filepath.Join(dir, "quickstart.yaml")
}

type result struct {
	code   int
	stdout string
	stderr string
}

func dirsync(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

type jsonReport struct {
	Runs []struct {
		RunID     string         `json:"run_id"`
		Connector string         `json:"connector"`
		Status    string         `json:"status"`
		Counts    map[string]int `json:"counts"`
		Ops       []struct {
			Action  string `json:"action"`
			Address string `json:"address"`
			Reason  string `json:"reason"`
		} `json:"operations"`
		Quarantined []struct {
			Record, Field, Reason string
		} `json:"quarantined"`
		Warnings []struct {
			Record, Field, Reason string
		} `json:"warnings"`
		Full       bool     `json:"full"`
		Errors     []string `json:"errors"`
		HoldReason string   `json:"hold_reason"`
	} `json:"runs"`
}

func syncJSON(t *testing.T, cfg string, extra ...string) (jsonReport, result) {
	t.Helper()
	res := dirsync(t, append([]string{"sync", "--config", cfg, "--output", "json"}, extra...)...)
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep), "stdout: %s\nstderr: %s", res.stdout, res.stderr)
	require.Len(t, rep.Runs, 1)
	return rep, res
}

// sampleCounts reads the sample directory independently of dirsync: objects whose
// mail is a plain address in an internal domain are valid, other mail values are not.
func sampleCounts(t *testing.T, ldif string) (valid, invalid int) {
	t.Helper()
	f, err := os.Open(ldif)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	good := regexp.MustCompile(`^mail: [a-z0-9.]+@example\.(com|net)$`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "mail: ") {
			continue
		}
		if good.MatchString(sc.Text()) {
			valid++
		} else {
			invalid++
		}
	}
	return valid, invalid
}

func openStore(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "data", "dirsync.db"), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func storeCount(t *testing.T, st store.Store) (all, enabled int) {
	t.Helper()
	us, _, err := st.Users(context.Background(), store.ListQuery{Limit: 1000})
	require.NoError(t, err)
	for _, u := range us {
		if u.Enabled {
			enabled++
		}
	}
	return len(us), enabled
}

func TestQuickstartDryRunApplyAndIdempotence(t *testing.T) {
	dir, cfg := quickstart(t)
	valid, invalid := sampleCounts(t, filepath.Join(dir, "sample-directory.ldif"))
	require.GreaterOrEqual(t, valid, 52, "the sample has at least 50 users and 2 groups")
	require.Equal(t, 2, invalid)

	rep, res := syncJSON(t, cfg, "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	run := rep.Runs[0]
	require.Equal(t, "sample", run.Connector)
	require.Equal(t, "dry-run", run.Status)
	require.Equal(t, valid, run.Counts["create"], "one create per valid sample object")
	require.Len(t, run.Ops, valid)
	require.Zero(t, run.Counts["update"]+run.Counts["disable"]+run.Counts["delete"])
	require.Len(t, run.Quarantined, invalid)
	for _, q := range run.Quarantined {
		require.Equal(t, "mail", q.Field)
		require.NotEmpty(t, q.Record)
		require.NotEmpty(t, q.Reason)
	}
	_, err := os.Stat(filepath.Join(dir, "data"))
	require.ErrorIs(t, err, os.ErrNotExist, "a dry run on an empty store creates no file")

	rep, res = syncJSON(t, cfg)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "ok", rep.Runs[0].Status)
	require.Equal(t, valid, rep.Runs[0].Counts["create"])
	all, enabled := storeCount(t, openStore(t, dir))
	require.Equal(t, valid, all)
	require.Less(t, enabled, all, "the sample's disabled users are created disabled")
	require.Equal(t, valid, strings.Count(res.stderr, `"msg":"change applied"`), "one log line per applied change")

	stateBefore, err := os.ReadFile(filepath.Join(dir, "data", "state.db"))
	require.NoError(t, err)
	rep, res = syncJSON(t, cfg, "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, valid, rep.Runs[0].Counts["unchanged"])
	stateAfter, err := os.ReadFile(filepath.Join(dir, "data", "state.db"))
	require.NoError(t, err)
	require.Equal(t, stateBefore, stateAfter, "a dry run on existing backends opens them read-only")

	rep, res = syncJSON(t, cfg)
	require.Equal(t, 0, res.code, res.stderr)
	c := rep.Runs[0].Counts
	require.Zero(t, c["create"]+c["update"]+c["disable"], "a second run has nothing to do")
	require.Equal(t, valid, c["unchanged"])
}

func TestEmptySourceDisablesNobody(t *testing.T) {
	dir, cfg := quickstart(t)
	_, res := syncJSON(t, cfg)
	require.Equal(t, 0, res.code, res.stderr)
	_, enabledBefore := storeCount(t, openStore(t, dir))

	only := "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sample-directory.ldif"), []byte(only), 0o644))
	for range 3 {
		rep, res := syncJSON(t, cfg)
		require.Equal(t, 3, res.code, "held exits 3")
		require.Equal(t, "held", rep.Runs[0].Status)
		require.Contains(t, rep.Runs[0].HoldReason, "refusing to disable anyone")
	}
	_, enabledAfter := storeCount(t, openStore(t, dir))
	require.Equal(t, enabledBefore, enabledAfter)
}

func TestUnreadableSourceFails(t *testing.T) {
	dir, cfg := quickstart(t)
	require.NoError(t, os.Remove(filepath.Join(dir, "sample-directory.ldif")))
	rep, res := syncJSON(t, cfg)
	require.Equal(t, 1, res.code)
	require.Equal(t, "failed", rep.Runs[0].Status)
	require.Contains(t, rep.Runs[0].Errors[0], "no such file")
	_, err := os.Stat(filepath.Join(dir, "data", "state.db"))
	require.NoError(t, err)
}

func TestBadConfigListsEveryProblemAndExits2(t *testing.T) {
	res := dirsync(t, "sync", "--config", filepath.Join("..", "..", "config", "testdata", "every_problem.bad.yaml"))
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "10 configuration problem(s)")
	require.Contains(t, res.stderr, "connectors[2].type")
	require.Contains(t, res.stderr, "log.level")
}

func TestUsageErrorsExit2(t *testing.T) {
	require.Equal(t, 2, dirsync(t).code)
	require.Equal(t, 2, dirsync(t, "frobnicate").code)
	require.Equal(t, 2, dirsync(t, "sync").code, "--config is required")
	_, cfg := quickstart(t)
	res := dirsync(t, "sync", "--config", cfg, "--connector", "nope")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, `"nope"`)
	require.Equal(t, 2, dirsync(t, "sync", "--config", cfg, "--output", "yaml").code)
}

func TestVersion(t *testing.T) {
	res := dirsync(t, "version")
	require.Equal(t, 0, res.code)
	require.True(t, strings.HasPrefix(res.stdout, "dirsync "), res.stdout)
}

func TestTextOutput(t *testing.T) {
	_, cfg := quickstart(t)
	res := dirsync(t, "sync", "--config", cfg, "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "sample: dry-run")
	require.Contains(t, res.stdout, "planned   create")
	require.Contains(t, res.stdout, "quarantined uid=jordan.miles")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestServeSyncsAtStartAndStopsOnSIGTERM(t *testing.T) {
	dir, cfg := quickstart(t)
	valid, _ := sampleCounts(t, filepath.Join(dir, "sample-directory.ldif"))
	addr := freePort(t)
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg, bytes.Replace(raw, []byte("127.0.0.1:8080"), []byte(addr), 1), 0o644))

	cmd := exec.Command(binary, "serve", "--config", cfg)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get("/healthz") == http.StatusOK }, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, http.StatusOK, get("/readyz"))
	st := openStore(t, dir)
	require.Eventually(t, func() bool { all, _ := storeCount(t, st); return all == valid }, 20*time.Second, 100*time.Millisecond,
		"the daemon syncs the sample directory at start")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, "clean exit on SIGTERM; logs:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM; logs:\n%s", logs.String())
	}
	require.Contains(t, logs.String(), `"msg":"stopped"`)
	require.Contains(t, logs.String(), `"msg":"connector scheduled"`)
}

func TestLogLevelFlag(t *testing.T) {
	_, cfg := quickstart(t)
	quiet := dirsync(t, "sync", "--config", cfg, "--log-level", "warn")
	require.Equal(t, 0, quiet.code, quiet.stderr)
	require.NotContains(t, quiet.stderr, "change applied")
	require.Equal(t, 2, dirsync(t, "sync", "--config", cfg, "--log-level", "loud").code)
}
