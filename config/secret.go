package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a reference to a secret, never the secret itself: `${NAME}` reads the
// environment variable NAME, `file:PATH` reads a file (relative paths are resolved
// against the config file's folder; one trailing newline is dropped), and
// `credential:NAME` reads the systemd credential NAME (the file NAME in
// $CREDENTIALS_DIRECTORY, which systemd sets for a unit with LoadCredential=).
// Inline values are refused so that a config file can be shared, logged and
// committed safely.
//
//	bind_password: ${LDAP_BIND_PASSWORD}
//	client_secret: file:/run/secrets/entra-client-secret
//	dsn: credential:store-dsn
type Secret struct {
	env        string
	file       string
	credential string
}

// credentialsDirEnv is the variable systemd sets to the folder of a unit's
// credentials (LoadCredential=, SetCredential=, LoadCredentialEncrypted=).
const credentialsDirEnv = "CREDENTIALS_DIRECTORY"

// ErrInlineSecret is returned when a secret is written into the config file itself.
var ErrInlineSecret = errors.New("inline secrets are not allowed: write ${ENV_VAR} to read it from the environment, file:PATH to read it from a file, or credential:NAME for a systemd credential")

// ParseSecret parses a secret reference.
func ParseSecret(ref string) (Secret, error) {
	ref = strings.TrimSpace(ref)
	switch {
	case ref == "":
		return Secret{}, nil
	case strings.HasPrefix(ref, "${") && strings.HasSuffix(ref, "}"):
		name := ref[2 : len(ref)-1]
		if !validEnvName(name) {
			// The name is not echoed: a secret pasted between ${ and } would be.
			return Secret{}, errors.New("the name between ${ and } is not an environment variable name: use letters, digits and _, not starting with a digit")
		}
		return Secret{env: name}, nil
	case strings.HasPrefix(ref, "file:"):
		p := strings.TrimPrefix(ref, "file:")
		if p == "" {
			return Secret{}, errors.New("file: needs a path")
		}
		return Secret{file: p}, nil
	case strings.HasPrefix(ref, "credential:"):
		name := strings.TrimPrefix(ref, "credential:")
		if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
			return Secret{}, errors.New("credential: needs a credential name without a slash, as in LoadCredential=NAME:PATH")
		}
		return Secret{credential: name}, nil
	default:
		return Secret{}, ErrInlineSecret
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// UnmarshalYAML decodes a reference and refuses inline secrets.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	var ref string
	if err := n.Decode(&ref); err != nil {
		return err
	}
	parsed, err := ParseSecret(ref)
	if err != nil {
		// The value itself is never echoed back: it may be the secret.
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = parsed
	return nil
}

// IsSet reports whether a reference was configured.
func (s Secret) IsSet() bool { return s.env != "" || s.file != "" || s.credential != "" }

// ResolvePath makes a relative file reference absolute against dir.
func (s *Secret) ResolvePath(dir string) {
	if s.file != "" && !filepath.IsAbs(s.file) {
		s.file = filepath.Join(dir, s.file)
	}
}

// Value reads the secret. Errors name the reference, never the value.
func (s Secret) Value() (string, error) {
	switch {
	case s.env != "":
		v, ok := os.LookupEnv(s.env)
		if !ok || v == "" {
			return "", fmt.Errorf("secret ${%s}: environment variable is not set", s.env)
		}
		return v, nil
	case s.file != "":
		b, err := os.ReadFile(s.file)
		if err != nil {
			return "", fmt.Errorf("secret file:%s: %w", s.file, err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	case s.credential != "":
		dir := os.Getenv(credentialsDirEnv)
		if dir == "" {
			return "", fmt.Errorf("secret credential:%s: $%s is not set: this reference is for a systemd unit with "+
				"LoadCredential=%s:PATH (run by hand with systemd-run -p LoadCredential=..., or use file:PATH outside systemd)",
				s.credential, credentialsDirEnv, s.credential)
		}
		b, err := os.ReadFile(filepath.Join(dir, s.credential))
		if err != nil {
			return "", fmt.Errorf("secret credential:%s: %w (is LoadCredential=%s:PATH set on the unit?)", s.credential, err, s.credential)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	default:
		return "", errors.New("secret is not configured")
	}
}

// String shows the reference, never the value, so a Secret is safe in logs.
func (s Secret) String() string {
	switch {
	case s.env != "":
		return "${" + s.env + "}"
	case s.file != "":
		return "file:" + s.file
	case s.credential != "":
		return "credential:" + s.credential
	default:
		return ""
	}
}

// MarshalYAML writes the reference back, never the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText writes the reference (for JSON and zap), never the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
