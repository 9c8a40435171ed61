package main

// dirsync tokens: the admin API's bearer tokens. Unlike the other admin
// commands these open the configured store directly: the first token cannot
// come from an API that wants a token.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
	"github.com/dirsync/dirsync/store"
)

func cmdTokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "tokens", "Manage the admin API's bearer tokens. These commands open the store the\n"+
		"configuration names directly (no daemon, no token needed: this is how the first one is made).", []subcommand{
		{"create", "--config FILE --name NAME --scope admin[,read,sync,senders]... [--expires-in 720h | --expires DATE]", tokensCreate},
		{"list", "--config FILE", tokensList},
		{"revoke", "--config FILE NAME", tokensRevoke},
	}, args, stdout, stderr)
}

// tokenFlags are the flags of every tokens command.
type tokenFlags struct {
	cfgPath string
	output  string
}

func (t *tokenFlags) register(f *flag.FlagSet) {
	f.StringVar(&t.cfgPath, "config", "", "configuration file (its store holds the tokens)")
	f.StringVar(&t.output, "output", "table", "output format: table or json")
}

func (t *tokenFlags) check() error {
	if t.cfgPath == "" {
		return usageError("--config is required: the tokens live in the store the configuration names")
	}
	if t.output != "table" && t.output != "json" {
		return usageError("--output %q: use table or json", t.output)
	}
	return nil
}

// openTokenStore opens only the configured store: no state backend, no
// connectors, no domain registration.
func openTokenStore(ctx context.Context, path string, stderr io.Writer) (*app, error) {
	cfg, err := config.Load(path, registry.Builtin())
	if err != nil {
		return nil, err
	}
	// Keep the store's informational lines (migrations) off the terminal.
	cfg.Log.Level = "warn"
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log}
	if cfg.Store.Backend != "postgres" {
		// Before the daemon's first start the store's folder may not exist
		// yet (openApp makes it when it opens the state file beside it).
		if err := os.MkdirAll(filepath.Dir(cfg.Store.Path), 0o700); err != nil {
			return nil, fmt.Errorf("store folder: %w", err)
		}
	}
	if a.store, err = a.openStore(ctx, false); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// tokenActor is who the audit log says made a token change.
func tokenActor() store.Actor {
	name := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = "cli:" + u.Username
	}
	return store.Actor{Kind: "admin", Name: name}
}

func tokensCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokens create", stderr)
	setUsage(fs, "tokens create", "--config FILE --name NAME --scope SCOPE... [--expires-in DURATION | --expires DATE]")
	var tf tokenFlags
	tf.register(fs)
	name := fs.String("name", "", "the token's name (unique), e.g. the admin or the automation using it")
	var scopeFlags stringList
	fs.Var(&scopeFlags, "scope", "a scope (repeatable, or comma-separated): "+strings.Join(store.Scopes, ", "))
	expiresIn := fs.Duration("expires-in", 0, "the token stops working after this long, e.g. 720h (default: never)")
	expiresAt := fs.String("expires", "", "the token stops working at this date: YYYY-MM-DD (local midnight) or RFC 3339 (default: never)")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if err := checkArgs(fs, pos, 0, 0); err != nil {
		return err
	}
	if err := tf.check(); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usageError("tokens create: --name is required")
	}
	scopes, err := parseScopes(scopeFlags)
	if err != nil {
		return err
	}
	expires, err := parseExpiry(*expiresIn, *expiresAt, time.Now())
	if err != nil {
		return err
	}
	a, err := openTokenStore(ctx, tf.cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	secret, hash, err := api.NewToken()
	if err != nil {
		return fmt.Errorf("tokens create: %w", err)
	}
	tok, err := a.store.CreateToken(ctx, store.Token{Name: *name, Hash: hash, Scopes: scopes, Expires: expires}, tokenActor())
	if errors.Is(err, store.ErrConflict) {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("a token named %q already exists: pick another name, "+
			"or revoke it first with: dirsync tokens revoke --config %s %s", *name, tf.cfgPath, *name)}
	}
	if err != nil {
		return fmt.Errorf("tokens create: %w", err)
	}
	if tf.output == "json" {
		return printJSON(stdout, struct {
			tokenJSON
			Token string `json:"token"`
		}{toTokenJSON(tok), secret})
	}
	expiry := "never expires"
	if !tok.Expires.IsZero() {
		expiry = "expires " + timeText(tok.Expires)
	}
	fmt.Fprintf(stdout, "Created token %q with scopes %s; it %s. Use it with the admin commands:\n\n  export %s=%s\n\n",
		tok.Name, strings.Join(tok.Scopes, ", "), expiry, envToken, secret)
	fmt.Fprintln(stdout, "The token is shown only this once (dirsync keeps only its hash): store it somewhere safe now.")
	return nil
}

// parseExpiry turns --expires-in or --expires into the token's expiry (zero:
// never).
func parseExpiry(in time.Duration, at string, now time.Time) (time.Time, error) {
	switch {
	case in != 0 && at != "":
		return time.Time{}, usageError("tokens create: give --expires-in or --expires, not both")
	case in < 0:
		return time.Time{}, usageError("--expires-in %s: must be positive, e.g. 720h", in)
	case in > 0:
		return now.Add(in), nil
	case at == "":
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", at, time.Local)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, at); err != nil {
			return time.Time{}, usageError("--expires %q: write a date as 2026-12-31 or a time as 2026-12-31T18:00:00Z", at)
		}
	}
	if !t.After(now) {
		return time.Time{}, usageError("--expires %s is not in the future", at)
	}
	if t.Year() >= 2200 {
		return time.Time{}, usageError("--expires %s is too far ahead: leave it out for a token that never expires", at)
	}
	return t, nil
}

// parseScopes splits and checks the --scope values.
func parseScopes(flags []string) ([]string, error) {
	var scopes []string
	for _, f := range flags {
		for _, s := range strings.Split(f, ",") {
			s = strings.ToLower(strings.TrimSpace(s))
			if s == "" {
				continue
			}
			if !slices.Contains(store.Scopes, s) {
				return nil, usageError("--scope %q: no such scope; use %s", s, strings.Join(store.Scopes, ", "))
			}
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	if len(scopes) == 0 {
		return nil, usageError("tokens create: give at least one --scope (%s; admin allows everything)", strings.Join(store.Scopes, ", "))
	}
	return scopes, nil
}

// tokenJSON is a token as --output json shows it (never its hash).
type tokenJSON struct {
	Name     string     `json:"name"`
	Scopes   []string   `json:"scopes"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Expires  *time.Time `json:"expires,omitempty"`
}

func toTokenJSON(t store.Token) tokenJSON {
	j := tokenJSON{Name: t.Name, Scopes: t.Scopes, Created: t.Created}
	if !t.LastUsed.IsZero() {
		lu := t.LastUsed
		j.LastUsed = &lu
	}
	if !t.Expires.IsZero() {
		ex := t.Expires
		j.Expires = &ex
	}
	if j.Scopes == nil {
		j.Scopes = []string{}
	}
	return j
}

func tokensList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokens list", stderr)
	setUsage(fs, "tokens list", "--config FILE")
	var tf tokenFlags
	tf.register(fs)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if err := checkArgs(fs, pos, 0, 0); err != nil {
		return err
	}
	if err := tf.check(); err != nil {
		return err
	}
	a, err := openTokenStore(ctx, tf.cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	toks, err := a.store.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("tokens list: %w", err)
	}
	if tf.output == "json" {
		out := make([]tokenJSON, len(toks))
		for i, t := range toks {
			out[i] = toTokenJSON(t)
		}
		return printJSON(stdout, map[string]any{"tokens": out})
	}
	t := newTable(stdout, "NAME", "SCOPES", "CREATED", "LAST USED", "EXPIRES")
	now := time.Now()
	for _, tok := range toks {
		lastUsed := timeText(tok.LastUsed)
		if lastUsed == "" {
			lastUsed = "never"
		}
		expires := "never"
		if !tok.Expires.IsZero() {
			expires = timeText(tok.Expires)
			if tok.Expired(now) {
				expires += " (expired)"
			}
		}
		t.row(tok.Name, strings.Join(tok.Scopes, ","), timeText(tok.Created), lastUsed, expires)
	}
	return t.flush()
}

func tokensRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokens revoke", stderr)
	setUsage(fs, "tokens revoke", "--config FILE NAME")
	var tf tokenFlags
	tf.register(fs)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if err := checkArgs(fs, pos, 1, 1); err != nil {
		return err
	}
	if err := tf.check(); err != nil {
		return err
	}
	a, err := openTokenStore(ctx, tf.cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	err = a.store.RevokeToken(ctx, pos[0], tokenActor())
	if errors.Is(err, store.ErrNotFound) {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("no token named %q (dirsync tokens list --config %s shows them)", pos[0], tf.cfgPath)}
	}
	if err != nil {
		return fmt.Errorf("tokens revoke: %w", err)
	}
	if tf.output == "json" {
		return printJSON(stdout, map[string]any{"name": pos[0], "revoked": true})
	}
	fmt.Fprintf(stdout, "revoked token %q: requests bearing it are refused from now on\n", pos[0])
	return nil
}
