// Package config loads dirsync's YAML configuration: strict decoding (an unknown key
// is an error), defaults, secrets by reference, paths relative to the config file,
// and a validation that reports every problem at once with its YAML path.
package config

import (
	"time"

	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/internal/mailaddr"
)

// Config is the whole configuration file.
//
//	log: {level: info, format: json}
//	state: {backend: local, path: data/state.db}
//	store: {backend: sqlite, path: data/dirsync.db}
//	server: {listen: "127.0.0.1:8080"}
//	domains: [example.com]
//	sync: {max_destructive: 500, max_destructive_percent: 10}
//	connectors:
//	  - name: sample
//	    type: file
//	    schedule: "@every 15m"
//	    config: {path: sample-directory.ldif}
type Config struct {
	Log    Log    `yaml:"log"`
	State  State  `yaml:"state"`
	Store  Store  `yaml:"store"`
	Server Server `yaml:"server"`
	// Domains are internal domains registered in the store at start-up.
	Domains    []string    `yaml:"domains"`
	Sync       Policy      `yaml:"sync"`
	Connectors []Connector `yaml:"connectors"`
	// Outbound configures the ingestion of first-time outbound senders.
	Outbound Outbound `yaml:"outbound"`
	// Protected accounts are never disabled or deleted by sync.
	Protected Protected `yaml:"protected"`
	// Reports: how long full run reports are kept.
	Reports Reports `yaml:"reports"`
	// Alerts: held and failed runs, stale connectors.
	Alerts Alerts `yaml:"alerts"`
	// Holds: how long held operations wait for a decision (config/holds.go).
	Holds Holds `yaml:"holds"`
	// Mail: the SMTP server and templates of outgoing email (config/mail.go).
	Mail Mail `yaml:"mail"`

	// Dir is the folder of the config file; relative paths were resolved against it.
	Dir string `yaml:"-"`
}

// Log configures the zap logger.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error (default info)
	Format string `yaml:"format"` // json (default) or console
}

// State selects the state backend.
//
//	state: {backend: local, path: data/state.db}
//	state:
//	  backend: redis
//	  redis: {addrs: ["redis.example.com:6379"], password: "${DIRSYNC_REDIS_PASSWORD}"}
type State struct {
	Backend string `yaml:"backend"` // local (default) or redis
	Path    string `yaml:"path"`    // local: the state file (default data/state.db)
	Redis   Redis  `yaml:"redis"`   // redis: the connection
}

// Store selects the user store.
//
//	store: {backend: sqlite, path: data/dirsync.db}
//	store: {backend: postgres, dsn: "${DIRSYNC_STORE_DSN}"}
type Store struct {
	Backend string `yaml:"backend"` // sqlite (default) or postgres
	Path    string `yaml:"path"`    // sqlite: the database file (default data/dirsync.db)
	// DSN is postgres's connection string (a postgres:// URL or key=value list),
	// given as a secret reference because it usually holds a password.
	DSN Secret `yaml:"dsn"`
}

// Server configures the HTTP listener of `dirsync serve`.
type Server struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8080
	// TLS, TLSTerminatedByProxy and Timeouts: see config/server.go.
	TLS                  ServerTLS      `yaml:"tls"`
	TLSTerminatedByProxy bool           `yaml:"tls_terminated_by_proxy"`
	Timeouts             ServerTimeouts `yaml:"timeouts"`
	// Login bounds the public sign-in routes: see config/login.go.
	Login Login `yaml:"login"`
	// Console is the admin console under /console/: see config/server.go.
	Console Console `yaml:"console"`
	// PublicURL is the address users reach dirsync at, for links in email:
	// see config/server.go.
	PublicURL string `yaml:"public_url"`
}

// Policy holds the engine's brakes and batching; the top-level `sync:` sets the
// defaults and each connector's `sync:` may override any of them. It is the one
// type for them: the engine runs a job with it as it is (engine.Job.Policy), and
// hands the two diff rules (SoftMatch, MissingRuns) to package plan, which stays
// free of configuration, in one place (engine's diffConnector).
type Policy struct {
	// BatchSize is how many records are joined, and how many changes applied, at once.
	BatchSize int `yaml:"batch_size"`
	// MaxDestructive holds disables and deletes for approval when a run plans more
	// than this many.
	MaxDestructive int `yaml:"max_destructive"`
	// MaxDestructivePercent holds them when they exceed this percentage of the
	// connector's cached objects.
	MaxDestructivePercent float64 `yaml:"max_destructive_percent"`
	// MaxDestructiveFloor: the percentage limit never holds this many or fewer
	// operations of one kind in one domain (a leaver in a small domain).
	MaxDestructiveFloor int `yaml:"max_destructive_floor"`
	// MinSourcePercent: a full read returning fewer objects than this percentage of
	// the cached count is suspicious and disables nobody.
	MinSourcePercent float64 `yaml:"min_source_percent"`
	// MissingRuns is how many consecutive full runs an object must be missing from
	// the source before it is disabled.
	MissingRuns int `yaml:"missing_runs"`
	// SoftMatch lets a source object adopt an existing manual, csv or outbound user
	// with the same address.
	SoftMatch bool `yaml:"soft_match"`
	// Retry: the retry set and the brakes' window (config/policy.go).
	Retry RetryPolicy `yaml:",inline"`
}

// Connector is one configured source.
type Connector struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Schedule is the cron schedule of regular (incremental where supported) runs.
	Schedule string `yaml:"schedule"`
	// FullSchedule is the cron schedule of full reconciles.
	FullSchedule string `yaml:"full_schedule"`
	// Disabled connectors are validated but never run.
	Disabled bool `yaml:"disabled"`
	// Sync overrides the top-level sync policy for this connector.
	SyncOverride yaml.Node `yaml:"sync"`
	// Settings is the connector type's own section, decoded strictly into Source.
	// It may be written under `config:` or under the type's own name
	// (`ldap:` for type ldap), as the README's examples do.
	Settings yaml.Node `yaml:"config"`
	// Other holds the remaining keys: only the type-named section is allowed.
	Other map[string]yaml.Node `yaml:",inline"`

	// Policy is the effective policy (defaults, then top-level, then override).
	Policy Policy `yaml:"-"`
	// Source is the decoded and prepared type-specific configuration.
	Source connectors.Config `yaml:"-"`
}

// Defaults are applied before the file is decoded, so a key present in the file wins.
func Defaults() Config {
	return Config{
		Log:    Log{Level: "info", Format: "json"},
		State:  State{Backend: "local", Path: "data/state.db"},
		Store:  Store{Backend: "sqlite", Path: "data/dirsync.db"},
		Server: Server{Listen: "127.0.0.1:8080", Timeouts: defaultServerTimeouts(), Console: defaultConsole()},
		Sync: Policy{
			BatchSize:             500,
			MaxDestructive:        500,
			MaxDestructivePercent: 10,
			MaxDestructiveFloor:   3,
			MinSourcePercent:      50,
			MissingRuns:           2,
			SoftMatch:             true,
			Retry:                 defaultRetryPolicy(),
		},
		Outbound:  defaultOutbound(),
		Protected: Protected{Roles: []string{"*Admin*"}},
		Reports:   Reports{Retention: 30 * 24 * time.Hour},
		Alerts:    defaultAlerts(),
		Holds:     defaultHolds(),
		Mail:      defaultMail(),
	}
}

// Problem is one configuration error at a YAML path.
type Problem struct {
	Path    string
	Message string
}

// Error lists every problem found in a configuration file.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d configuration problem(s):", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		if p.Path != "" {
			b.WriteString(p.Path + ": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// Load reads, decodes, defaults and validates a config file. Any problem is
// returned as an *Error listing all of them.
func Load(path string, reg connectors.Registry) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Problems: []Problem{{Message: err.Error()}}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return Parse(raw, filepath.Dir(abs), path, reg)
}

// Parse is Load on bytes already read; dir is the folder relative paths resolve against.
func Parse(raw []byte, dir, name string, reg connectors.Registry) (*Config, error) {
	cfg := Defaults()
	cfg.Dir = dir
	if err := decodeStrict(raw, &cfg); err != nil {
		return nil, &Error{File: name, Problems: yamlProblems("", err)}
	}
	var probs []Problem
	for i := range cfg.Connectors {
		probs = append(probs, cfg.prepareConnector(i, reg)...)
	}
	probs = append(probs, cfg.validate()...)
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b Problem) int { return strings.Compare(a.Path, b.Path) })
		return nil, &Error{File: name, Problems: probs}
	}
	cfg.State.Path = cfg.abs(cfg.State.Path)
	cfg.State.Redis.Password.ResolvePath(cfg.Dir)
	if cfg.State.Redis.TLS != nil {
		cfg.State.Redis.TLS.CAFile = cfg.abs(cfg.State.Redis.TLS.CAFile)
	}
	cfg.Store.Path = cfg.abs(cfg.Store.Path)
	cfg.Store.DSN.ResolvePath(cfg.Dir)
	cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile = cfg.abs(cfg.Server.TLS.CertFile), cfg.abs(cfg.Server.TLS.KeyFile)
	cfg.Alerts.Webhook.URL.ResolvePath(cfg.Dir)
	cfg.Alerts.Webhook.SigningSecret.ResolvePath(cfg.Dir)
	return &cfg, nil
}

func (c *Config) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// decodeStrict decodes YAML refusing unknown keys. An empty document is not an error.
func decodeStrict(raw []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// decodeNode decodes one section strictly. yaml.Node.Decode is never strict, so the
// node is re-encoded and decoded again with KnownFields.
func decodeNode(n *yaml.Node, v any) error {
	if n.Kind == 0 {
		return nil
	}
	raw, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	return decodeStrict(raw, v)
}

var (
	yamlLine     = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// yamlProblems turns a yaml.v3 error into problems, one per message it reports.
// An unknown key becomes a problem at that key's path. Line numbers are kept for
// the top level only: a section is decoded from a re-encoded copy, whose line
// numbers would point at the wrong place, and its path says where it is.
func yamlProblems(path string, err error) []Problem {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	out := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		line := ""
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			line, m = sm[1], sm[2]
		}
		p := Problem{Path: path, Message: m}
		if sm := unknownField.FindStringSubmatch(m); sm != nil {
			p.Path, p.Message = joinPath(path, sm[1]), "unknown key: check its spelling and indentation against the README's configuration reference"
		}
		if line != "" && path == "" {
			p.Message += " (line " + line + ")"
		}
		out = append(out, p)
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (c *Config) prepareConnector(i int, reg connectors.Registry) []Problem {
	cc := &c.Connectors[i]
	path := fmt.Sprintf("connectors[%d]", i)
	var probs []Problem
	cc.Policy = c.Sync
	if err := decodeNode(&cc.SyncOverride, &cc.Policy); err != nil {
		probs = append(probs, yamlProblems(path+".sync", err)...)
	}
	if cc.Type == "" {
		return append(probs, Problem{Path: path + ".type", Message: "missing: set the connector type (" + strings.Join(typeNames(reg), ", ") + ")"})
	}
	newCfg, ok := reg[cc.Type]
	if !ok {
		return append(probs, Problem{Path: path + ".type", Message: fmt.Sprintf("unknown connector type %q (known: %s)", cc.Type, strings.Join(typeNames(reg), ", "))})
	}
	section := "config"
	for _, key := range slices.Sorted(maps.Keys(cc.Other)) {
		switch {
		case key == cc.Type && cc.Settings.Kind == 0:
			cc.Settings, section = cc.Other[key], key
		case key == cc.Type:
			probs = append(probs, Problem{Path: path + "." + key, Message: "the connector's settings are already under config: keep one of the two sections"})
		default:
			probs = append(probs, Problem{Path: path + "." + key, Message: "unknown key: check its spelling and indentation against the README's configuration reference"})
		}
	}
	src := newCfg()
	if err := decodeNode(&cc.Settings, src); err != nil {
		return append(probs, yamlProblems(path+"."+section, err)...)
	}
	for _, err := range src.Prepare(c.Dir) {
		p := Problem{Path: path + "." + section, Message: err.Error()}
		var fe *connectors.FieldError
		if errors.As(err, &fe) {
			if fe.Field != "" {
				p.Path += "." + fe.Field
			}
			p.Message = fe.Message
		}
		probs = append(probs, p)
	}
	cc.Source = src
	return probs
}

func typeNames(reg connectors.Registry) []string {
	names := make([]string, 0, len(reg))
	for n := range reg {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (c *Config) validate() []Problem {
	var probs []Problem
	add := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not a level: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		add("log.format", "%q is not a format: use json or console", c.Log.Format)
	}
	probs = append(probs, c.validateBackends()...) // config/backends.go
	probs = append(probs, c.Server.validate()...)
	probs = append(probs, c.Server.Login.validate()...)
	for i, d := range c.Domains {
		if _, err := mailaddr.NormalizeDomain(d); err != nil {
			add(fmt.Sprintf("domains[%d]", i), "%v", err)
		}
	}
	probs = append(probs, c.Sync.validate("sync")...)
	probs = append(probs, c.Outbound.validate(c.State.Backend)...)
	probs = append(probs, c.Protected.validate()...)
	probs = append(probs, c.Reports.validate()...)
	probs = append(probs, c.Alerts.validate()...)
	probs = append(probs, c.Holds.validate()...)
	probs = append(probs, c.Mail.prepare(c.Dir)...)
	if c.Mail.SMTP.Enabled() && c.Server.PublicURL == "" {
		add("server.public_url", "required with mail.smtp: invitation emails link to the console's registration page, "+
			"so write the address users open, such as https://dirsync.example.com")
	}
	if len(c.Connectors) == 0 {
		add("connectors", "no connector configured: add at least one (see deploy/examples/quickstart.yaml)")
	}
	seen := map[string]int{}
	for i, cc := range c.Connectors {
		path := fmt.Sprintf("connectors[%d]", i)
		switch {
		case cc.Name == "":
			add(path+".name", "missing: every connector needs a unique name")
		case !validName(cc.Name):
			add(path+".name", "%q: use letters, digits, '-' and '_' only", cc.Name)
		case seen[cc.Name] > 0:
			add(path+".name", "%q is already the name of connectors[%d]", cc.Name, seen[cc.Name]-1)
		default:
			seen[cc.Name] = i + 1
		}
		for key, spec := range map[string]string{"schedule": cc.Schedule, "full_schedule": cc.FullSchedule} {
			if spec == "" {
				continue
			}
			if _, err := cron.ParseStandard(spec); err != nil {
				add(path+"."+key, "%q is not a cron schedule (%v): use five fields like \"*/15 * * * *\" or \"@every 15m\"", spec, err)
			}
		}
		if cc.SyncOverride.Kind != 0 {
			probs = append(probs, cc.Policy.validate(path+".sync")...)
		}
	}
	return probs
}

func (p Policy) validate(path string) []Problem {
	var probs []Problem
	if p.BatchSize < 1 || p.BatchSize > 10000 {
		probs = append(probs, Problem{path + ".batch_size", fmt.Sprintf("%d is out of range: use 1 to 10000", p.BatchSize)})
	}
	if p.MaxDestructive < 0 {
		probs = append(probs, Problem{path + ".max_destructive", "must not be negative"})
	}
	if p.MaxDestructiveFloor < 0 {
		probs = append(probs, Problem{path + ".max_destructive_floor", "must not be negative"})
	}
	if p.MaxDestructivePercent < 0 || p.MaxDestructivePercent > 100 {
		probs = append(probs, Problem{path + ".max_destructive_percent", fmt.Sprintf("%g is not a percentage: use 0 to 100", p.MaxDestructivePercent)})
	}
	if p.MinSourcePercent < 0 || p.MinSourcePercent > 100 {
		probs = append(probs, Problem{path + ".min_source_percent", fmt.Sprintf("%g is not a percentage: use 0 to 100", p.MinSourcePercent)})
	}
	if p.MissingRuns < 1 {
		probs = append(probs, Problem{path + ".missing_runs", fmt.Sprintf("%d: must be at least 1 (2 is the safe default)", p.MissingRuns)})
	}
	probs = append(probs, p.Retry.validate(path)...)
	return probs
}

func validName(s string) bool {
	for _, r := range s {
		if !(r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return s != ""
}

// Connector returns the connector with that name, or nil.
func (c *Config) Connector(name string) *Connector {
	for i := range c.Connectors {
		if c.Connectors[i].Name == name {
			return &c.Connectors[i]
		}
	}
	return nil
}
