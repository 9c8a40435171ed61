package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

func TestRetryPolicy(t *testing.T) {
	const connector = `
connectors:
  - name: hr
    type: file
    config: {path: people.csv}
`
	tests := []struct {
		name    string
		yaml    string
		want    config.RetryPolicy
		problem string
	}{
		{"defaults", "domains: [example.com]" + connector,
			config.RetryPolicy{RetryMaxAttempts: 10, RetryBackoff: 5 * time.Minute, RetryBackoffMax: 6 * time.Hour, MaxDestructiveWindow: 168 * time.Hour}, ""},
		{"top level and override", "domains: [example.com]\nsync: {retry_backoff: 1m, retry_max_attempts: 3}" + connector +
			"    sync: {max_destructive_window: 0s, retry_backoff_max: 10m}\n",
			config.RetryPolicy{RetryMaxAttempts: 3, RetryBackoff: time.Minute, RetryBackoffMax: 10 * time.Minute}, ""},
		{"zero attempts", "domains: [example.com]\nsync: {retry_max_attempts: 0}" + connector, config.RetryPolicy{}, "sync.retry_max_attempts"},
		{"negative window", "domains: [example.com]\nsync: {max_destructive_window: -1h}" + connector, config.RetryPolicy{}, "sync.max_destructive_window"},
		{"cap below backoff", "domains: [example.com]\nsync: {retry_backoff: 1h, retry_backoff_max: 1m}" + connector, config.RetryPolicy{}, "sync.retry_backoff_max"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tc.yaml), t.TempDir(), "dirsync.yaml", registry.Builtin())
			if tc.problem != "" {
				require.ErrorContains(t, err, tc.problem)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, cfg.Connector("hr").Policy.Retry)
		})
	}
}
