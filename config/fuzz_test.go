package config_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
)

// secretMarker stands for a secret someone wrote where a reference belongs.
const secretMarker = "hunter2-5e1f-MARKER"

// FuzzParseSecret checks references: an accepted one prints back to itself
// (what logs and `config show` write), and a refused one never repeats what was
// written, which may be the secret itself.
func FuzzParseSecret(f *testing.F) {
	for _, p := range [][2]string{
		{"${", "}"}, {"${A", "}"}, {"file:", ""}, {"file:/run/secrets/", ""}, {"credential:", ""},
		{"credential:a/", ""}, {"", ""}, {" ${", "} "}, {"${", ""}, {"$", "}"}, {"file:", "\n"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, prefix, suffix string) {
		ref := prefix + secretMarker + suffix
		s, err := config.ParseSecret(ref)
		if err != nil {
			require.NotContains(t, err.Error(), secretMarker[:8], "the refused value is echoed")
			return
		}
		again, err := config.ParseSecret(s.String())
		require.NoError(t, err, "%q prints as %q", ref, s.String())
		require.Equal(t, s, again, "%q prints as %q", ref, s.String())
		require.Equal(t, s.IsSet(), strings.TrimSpace(ref) != "")
	})
}

// secretFields are the places a configuration holds a Secret, as a document
// with %s where the (YAML-quoted) reference goes.
var secretFields = []string{
	"store: {backend: postgres, dsn: %s}\ndomains: [example.com]\nconnectors: [{name: a, type: file, config: {path: a.csv}}]\n",
	"state: {backend: redis, redis: {addrs: [\"127.0.0.1:6379\"], password: %s}}\ndomains: [example.com]\nconnectors: [{name: a, type: file, config: {path: a.csv}}]\n",
	"alerts: {webhook: {url: %s}}\ndomains: [example.com]\nconnectors: [{name: a, type: file, config: {path: a.csv}}]\n",
	"alerts: {webhook: {url: ${HOOK}, signing_secret: %s}}\ndomains: [example.com]\nconnectors: [{name: a, type: file, config: {path: a.csv}}]\n",
	"domains: [example.com]\nconnectors: [{name: a, type: ldap, config: {url: \"ldaps://dc.example.com\", base_dn: \"dc=example,dc=com\", bind_dn: \"cn=x\", bind_password: %s}}]\n",
}

// FuzzSecretInConfig puts a value holding a marker in each secret field of a
// configuration: whatever is wrong with it, no problem Parse reports repeats it.
func FuzzSecretInConfig(f *testing.F) {
	for i := range secretFields {
		f.Add(uint8(i), "", "")
		f.Add(uint8(i), "${", "}")
		f.Add(uint8(i), "file:", "")
		f.Add(uint8(i), "[", "]")
		f.Add(uint8(i), "{a: ", "}")
	}
	f.Fuzz(func(t *testing.T, field uint8, prefix, suffix string) {
		value := prefix + secretMarker + suffix
		// JSON quoting is YAML's double-quoted scalar: the value stays one
		// string wherever it sits, flow mappings included.
		quoted, err := json.Marshal(value)
		require.NoError(t, err)
		doc := strings.Replace(secretFields[int(field)%len(secretFields)], "%s", string(quoted), 1)
		_, err = config.Parse([]byte(doc), t.TempDir(), "fuzz.yaml", registry.Builtin())
		if err != nil {
			require.NotContains(t, err.Error(), secretMarker[:8], "the secret is echoed")
		}
	})
}

// FuzzParse feeds whole documents, the fixtures first. Parse returns a
// configuration or an *Error listing problems, never both, never a panic, and
// the same answer twice.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(f, err)
	for _, p := range files {
		raw, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(raw)
	}
	f.Add([]byte("connectors: [{name: a, type: file, config: &x {path: *x}}]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		dir := t.TempDir()
		cfg, err := config.Parse(raw, dir, "fuzz.yaml", registry.Builtin())
		if err != nil {
			require.Nil(t, cfg)
			var ce *config.Error
			require.True(t, errors.As(err, &ce), "%T: %v", err, err)
			require.NotEmpty(t, ce.Problems)
			for _, p := range ce.Problems {
				require.NotEmpty(t, p.Message, "problem at %q", p.Path)
			}
			_, err2 := config.Parse(raw, dir, "fuzz.yaml", registry.Builtin())
			require.EqualError(t, err2, err.Error(), "the same document, another answer")
			return
		}
		require.NotNil(t, cfg)
		require.NotEmpty(t, cfg.Connectors)
		for _, c := range cfg.Connectors {
			require.NotNil(t, c.Source, "connector %s", c.Name)
		}
	})
}
