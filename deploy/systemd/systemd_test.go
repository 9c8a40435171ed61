// Package systemd_test checks the shipped systemd unit: systemd's own
// `systemd-analyze verify` must accept it without a warning, with and without
// the credentials drop-in, and the commands it runs must be ones dirsync
// understands.
package systemd_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/stretchr/testify/require"
)

const installedBinary = "/usr/local/bin/dirsync"

// systemdAnalyze finds systemd-analyze; scripts/testenv.sh installs it (Debian's
// systemd package). Locally a missing one skips; under CI=true it fails.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err == nil {
		return p
	}
	msg := "systemd-analyze is not installed: run the tests through `make test` (scripts/testenv.sh installs Debian's systemd package)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so this is a failure", msg)
	}
	t.Skip(msg)
	return ""
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// buildDirsync builds the binary the unit runs, once for the package (with the
// same settings as cmd/dirsync's tests, so the build cache serves both).
func buildDirsync(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dirsync-systemd-test")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "dirsync")
		if out, err := exec.Command("go", "build", "-o", binary, "github.com/dirsync/dirsync/cmd/dirsync").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		_ = os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// options parses a unit file with go-systemd's deserializer into section/name -> values.
func options(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }() // only read: the parse's error is what counts
	opts, err := unit.DeserializeOptions(f)
	require.NoError(t, err)
	m := map[string][]string{}
	for _, o := range opts {
		m[o.Section+"/"+o.Name] = append(m[o.Section+"/"+o.Name], o.Value)
	}
	return m
}

// verify runs `systemd-analyze verify` on unit (with its drop-in folder, if
// any, beside it) and requires it to pass without printing anything: systemd
// reports unknown keys and bad values as warnings and still exits 0.
func verify(t *testing.T, analyze, unitPath string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(analyze, "verify", "--man=no", "--generators=no", unitPath)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, err, "systemd-analyze verify %s:\n%s%s", unitPath, stdout.String(), stderr.String())
	require.Empty(t, strings.TrimSpace(stdout.String()+stderr.String()), "systemd-analyze verify %s printed warnings", unitPath)
}

func TestUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	bin := buildDirsync(t)
	raw, err := os.ReadFile("dirsync.service")
	require.NoError(t, err)
	require.Contains(t, string(raw), installedBinary)

	// verify checks that every command exists and is executable: point the
	// unit at the binary just built instead of the installed path.
	dir := t.TempDir()
	unitPath := filepath.Join(dir, "dirsync.service")
	require.NoError(t, os.WriteFile(unitPath, bytes.ReplaceAll(raw, []byte(installedBinary), []byte(bin)), 0o644))
	verify(t, analyze, unitPath)

	// With the credentials drop-in beside it, as installed in
	// /etc/systemd/system/dirsync.service.d/.
	dropIn, err := os.ReadFile("credentials.conf")
	require.NoError(t, err)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dirsync.service.d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dirsync.service.d", "credentials.conf"), dropIn, 0o644))
	verify(t, analyze, unitPath)

	// The checker is not blind: a broken copy is refused with the problem named.
	broken := filepath.Join(t.TempDir(), "dirsync.service")
	require.NoError(t, os.WriteFile(broken, bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte(installedBinary), []byte(bin)),
		[]byte("RestartSec=5s"), []byte("RestartSec=five seconds")), 0o644))
	out, _ := exec.Command(analyze, "verify", "--man=no", "--generators=no", broken).CombinedOutput()
	require.Contains(t, string(out), "Failed to parse sec value")
}

// TestUnitIsHardenedAndReloadable checks the choices the operator's guide relies on.
func TestUnitIsHardenedAndReloadable(t *testing.T) {
	o := options(t, "dirsync.service")
	want := map[string]string{
		"Service/Type":                  "notify",
		"Service/ExecStart":             installedBinary + " serve --config /etc/dirsync/dirsync.yaml",
		"Service/ExecStartPre":          installedBinary + " config check --offline --config /etc/dirsync/dirsync.yaml",
		"Service/ExecReload":            "/bin/kill -HUP $MAINPID",
		"Service/DynamicUser":           "yes",
		"Service/StateDirectory":        "dirsync",
		"Service/ProtectSystem":         "strict",
		"Service/NoNewPrivileges":       "yes",
		"Service/CapabilityBoundingSet": "",
		"Service/Restart":               "on-failure",
		"Service/EnvironmentFile":       "-/etc/dirsync/dirsync.env",
		"Install/WantedBy":              "multi-user.target",
	}
	for key, v := range want {
		require.Contains(t, o[key], v, "%s", key)
	}
	creds := options(t, "credentials.conf")
	require.NotEmpty(t, creds["Service/LoadCredential"])
	for _, lc := range creds["Service/LoadCredential"] {
		name, path, ok := strings.Cut(lc, ":")
		require.True(t, ok && name != "" && filepath.IsAbs(path), "LoadCredential=%s: want NAME:/absolute/path", lc)
	}
}

// TestUnitCommandsAreDirsyncCommands runs the unit's ExecStartPre, as systemd
// would, on a configuration that needs no server: the command line must be one
// dirsync accepts, and pass.
func TestUnitCommandsAreDirsyncCommands(t *testing.T) {
	bin := buildDirsync(t)
	o := options(t, "dirsync.service")
	pre := strings.Fields(o["Service/ExecStartPre"][0])
	require.Equal(t, installedBinary, pre[0])
	quickstart, err := filepath.Abs("../examples/quickstart.yaml")
	require.NoError(t, err)
	args := pre[1:]
	for i, a := range args {
		if a == "/etc/dirsync/dirsync.yaml" {
			args[i] = quickstart
		}
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "all 4 checks passed")
}
