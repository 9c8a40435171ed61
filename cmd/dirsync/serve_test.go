package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServeRefusesPlaintextOffLoopback: plaintext on an address other hosts
// reach is a configuration problem, so serve does not start and config check
// reports it, each naming both ways out.
func TestServeRefusesPlaintextOffLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		t.Run(listen, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir)
			raw, err := os.ReadFile(cfg)
			require.NoError(t, err)
			raw = []byte(strings.ReplaceAll(string(raw), `"127.0.0.1:0"`, `"`+listen+`"`))
			require.NoError(t, os.WriteFile(cfg, raw, 0o600))

			for _, args := range [][]string{{"serve", "--config", cfg}, {"config", "check", "--offline", "--config", cfg}} {
				// Bounded: a serve that wrongly starts is stopped, and fails below.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				var stdout, stderr bytes.Buffer
				code := exitCode(run(ctx, args, &stdout, &stderr), &stderr)
				cancel()
				require.Equal(t, exitUsage, code, "dirsync %v: stdout %s stderr %s", args, stdout.String(), stderr.String())
				out := stdout.String() + stderr.String()
				require.Contains(t, out, fmt.Sprintf(`server.listen: %q listens on every interface`, listen))
				require.Contains(t, out, "set server.tls.cert_file and server.tls.key_file")
				require.Contains(t, out, "set server.tls_terminated_by_proxy: true")
			}
			_, err = os.Stat(filepath.Join(dir, "state.db"))
			require.True(t, os.IsNotExist(err), "serve stopped before opening anything")
		})
	}
}
