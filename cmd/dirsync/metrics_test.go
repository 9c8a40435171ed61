package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// scrape reads /metrics as Prometheus would; nil when the daemon does not answer.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// sample is the value of name{labels} (a histogram's sample count) and whether
// the series exists; labels are name, value pairs and must all match.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	for _, s := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range s.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; match && i+1 < len(labels); i += 2 {
			match = got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case s.Counter != nil:
			return s.GetCounter().GetValue(), true
		case s.Gauge != nil:
			return s.GetGauge().GetValue(), true
		case s.Histogram != nil:
			return float64(s.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// policyAsk sends one Postfix policy request and returns the answer.
func policyAsk(t *testing.T, addr, sender string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(c, "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=%s\nrecipient=x@example.org\n\n", sender)
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSpace(line)
}

func TestServeMetrics(t *testing.T) {
	dir, cfg := quickstart(t)
	valid, invalid := sampleCounts(t, filepath.Join(dir, "sample-directory.ldif"))
	addr, policyAddr := freePort(t), freePort(t)
	raw, err := os.ReadFile(cfg)
	require.NoError(t, err)
	raw = bytes.Replace(raw, []byte("127.0.0.1:8080"), []byte(addr), 1)
	raw = append(raw, fmt.Sprintf("outbound:\n  policy: {listen: %q}\n", policyAddr)...)
	require.NoError(t, os.WriteFile(cfg, raw, 0o644))
	res := dirsync(t, "tokens", "create", "--config", cfg, "--name", "metrics", "--scope", "admin")
	require.Equal(t, 0, res.code, res.stderr)
	token := regexp.MustCompile(`dst_[A-Za-z0-9_-]+`).FindString(res.stdout)
	require.NotEmpty(t, token)

	started := time.Now()
	cmd := exec.Command(binary, "serve", "--config", cfg)
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := "http://" + addr

	// The start-up run is counted once it has finished.
	var fams map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		fams = scrape(t, base)
		n, _ := sample(fams, "dirsync_runs_total", "connector", "sample", "status", "ok")
		return n >= 1
	}, 30*time.Second, 100*time.Millisecond, "no finished run on /metrics; logs:\n%s", logs)
	for _, result := range []string{"created", "exists", "ignored", "rate_limited", "dropped", "failed"} {
		n, ok := sample(fams, "dirsync_outbound_senders_total", "result", result)
		require.True(t, ok, "outbound senders %s", result)
		require.Zero(t, n, "outbound senders %s", result)
	}

	call := func(method, path, tok, body string) int {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, call("GET", "/v1/users", token, ""))
	require.Equal(t, http.StatusUnauthorized, call("GET", "/v1/users", "", ""))
	require.Equal(t, http.StatusOK, call("POST", "/v1/syncs", token, `{"connectors":["sample"],"wait":true}`))
	require.Equal(t, http.StatusOK, call("POST", "/v1/syncs", token, `{"connectors":["sample"],"dry_run":true,"wait":true}`))
	require.Equal(t, "action=DUNNO", policyAsk(t, policyAddr, "nobody@external.org"))

	require.Eventually(t, func() bool {
		fams = scrape(t, base)
		n, _ := sample(fams, "dirsync_outbound_offered_total")
		return n == 1
	}, 10*time.Second, 50*time.Millisecond, "the policy service's sender reaches the rule set")
	for _, tc := range []struct {
		name   string
		labels []string
		min    float64
		max    float64
	}{
		// The start-up run and the triggered one; the dry run is not counted.
		{"dirsync_runs_total", []string{"connector", "sample", "status", "ok"}, 2, 2},
		{"dirsync_run_duration_seconds", []string{"connector", "sample"}, 2, 2},
		// Every valid object created once, at start; the triggered run has nothing to do.
		{"dirsync_operations_total", []string{"connector", "sample", "action", "create"}, float64(valid), float64(valid)},
		{"dirsync_held_operations", []string{"connector", "sample"}, 0, 0},
		{"dirsync_quarantined_records", []string{"connector", "sample"}, float64(invalid), float64(invalid)},
		{"dirsync_records_read_total", []string{"connector", "sample"}, float64(2 * (valid + invalid)), 1e6},
		{"dirsync_last_success_timestamp_seconds", []string{"connector", "sample"},
			float64(started.Unix() - 1), float64(time.Now().Unix() + 1)},
		{"dirsync_source_errors_total", []string{"connector", "sample", "kind", "timeout"}, 0, 0},
		{"dirsync_source_errors_total", []string{"connector", "sample", "kind", "other"}, 0, 0},
		{"dirsync_api_requests_total", []string{"route", "GET /v1/users", "status", "200"}, 1, 1},
		{"dirsync_api_requests_total", []string{"route", "GET /v1/users", "status", "401"}, 1, 1},
		{"dirsync_api_requests_total", []string{"route", "POST /v1/syncs", "status", "200"}, 2, 2},
		{"dirsync_api_request_duration_seconds", []string{"route", "GET /v1/users"}, 2, 2},
		{"dirsync_outbound_senders_total", []string{"result", "ignored"}, 0, 1},
		{"dirsync_outbound_senders_total", []string{"result", "created"}, 0, 0},
		{"dirsync_policy_requests_total", nil, 1, 1},
		{"dirsync_policy_malformed_total", nil, 0, 0},
		{"dirsync_policy_connections", nil, 0, 1},
		{"go_goroutines", nil, 1, 1e6},
		{"process_start_time_seconds", nil, float64(started.Unix() - 1), float64(time.Now().Unix() + 1)},
	} {
		got, ok := sample(fams, tc.name, tc.labels...)
		require.True(t, ok, "%s%v missing", tc.name, tc.labels)
		require.GreaterOrEqual(t, got, tc.min, "%s%v", tc.name, tc.labels)
		require.LessOrEqual(t, got, tc.max, "%s%v", tc.name, tc.labels)
	}
	require.Nil(t, fams["dirsync_leader"], "one process: no leader lease")
	require.Nil(t, fams["dirsync_stream_entries_total"], "no sender stream configured")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, "clean exit on SIGTERM; logs:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM; logs:\n%s", logs.String())
	}
}
