package main

// dirsync tokens: the admin API's bearer tokens. Unlike the other admin
// commands these open the configured store directly: the first token cannot
// come from an API that wants a token.

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/daemon"
	"github.com/dirsync/dirsync/internal/clitext"
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

// tokenFlags is a tokens command's flag set with the flags every tokens
// command has: --config and --output.
type tokenFlags struct {
	*flag.FlagSet
	cfgPath string
	output  string
}

// newTokenFlags returns the flag set of "dirsync <name> <args>".
func newTokenFlags(name, args string, stderr io.Writer) *tokenFlags {
	f := &tokenFlags{FlagSet: newFlagSet(name, stderr)}
	setUsage(f.FlagSet, name, args)
	f.StringVar(&f.cfgPath, "config", "", "configuration file (its store holds the tokens)")
	f.StringVar(&f.output, "output", "table", "output format: table or json")
	return f
}

// parse parses the flags and from lo to hi positional arguments, and checks
// the shared flags.
func (f *tokenFlags) parse(args []string, lo, hi int) ([]string, error) {
	pos, err := parseArgs(f.FlagSet, args, lo, hi)
	if err != nil {
		return nil, err
	}
	if f.cfgPath == "" {
		return nil, usageError("--config is required: the tokens live in the store the configuration names")
	}
	if err := checkOutput(f.output); err != nil {
		return nil, err
	}
	return pos, nil
}

// openStore opens only the configured store: no state backend, no
// connectors, no domain registration. done closes it.
func (f *tokenFlags) openStore(ctx context.Context) (st store.Store, done func(), err error) {
	cs, err := openConfigStore(ctx, f.cfgPath, f.Output())
	if err != nil {
		return nil, nil, err
	}
	return cs.st, cs.close, nil
}

// configStore is a configuration and its store, opened by the commands that
// work on the store directly (tokens, admins).
type configStore struct {
	cfg *config.Config
	log *zap.Logger
	st  store.Store
}

// openConfigStore loads the configuration at path and opens its store; the
// store's informational lines (migrations) are kept off the terminal.
func openConfigStore(ctx context.Context, path string, logOut io.Writer) (*configStore, error) {
	cfg, log, err := loadConfig(path, logOut, "warn")
	if err != nil {
		return nil, err
	}
	st, err := daemon.OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &configStore{cfg: cfg, log: log, st: st}, nil
}

func (c *configStore) close() {
	if err := c.st.Close(); err != nil {
		c.log.Warn("close", zap.Error(err))
	}
	_ = c.log.Sync()
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
	tf := newTokenFlags("tokens create", "--config FILE --name NAME --scope SCOPE... [--expires-in DURATION | --expires DATE]", stderr)
	name := tf.String("name", "", "the token's name (unique), e.g. the admin or the automation using it")
	var scopeFlags stringList
	tf.Var(&scopeFlags, "scope", "a scope (repeatable, or comma-separated): "+strings.Join(store.Scopes, ", "))
	expiresIn := tf.Duration("expires-in", 0, "the token stops working after this long, e.g. 720h (default: never)")
	expiresAt := tf.String("expires", "", "the token stops working at this date: YYYY-MM-DD (local midnight) or RFC 3339 (default: never)")
	if _, err := tf.parse(args, 0, 0); err != nil {
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
	st, done, err := tf.openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	secret, hash, err := api.NewToken()
	if err != nil {
		return fmt.Errorf("tokens create: %w", err)
	}
	tok, err := st.CreateToken(ctx, store.Token{Name: *name, Hash: hash, Scopes: scopes, Expires: expires}, tokenActor())
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
		expiry = "expires " + clitext.Time(tok.Expires)
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
	j := tokenJSON{Name: t.Name, Scopes: orEmpty(t.Scopes), Created: t.Created}
	if !t.LastUsed.IsZero() {
		j.LastUsed = new(t.LastUsed)
	}
	if !t.Expires.IsZero() {
		j.Expires = new(t.Expires)
	}
	return j
}

func tokensList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	tf := newTokenFlags("tokens list", "--config FILE", stderr)
	if _, err := tf.parse(args, 0, 0); err != nil {
		return err
	}
	st, done, err := tf.openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	toks, err := st.Tokens(ctx)
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
	now := time.Now()
	return clitext.Table(stdout, []string{"NAME", "SCOPES", "CREATED", "LAST USED", "EXPIRES"}, toks, func(tok store.Token) []string {
		lastUsed := cmp.Or(clitext.Time(tok.LastUsed), "never")
		expires := "never"
		if !tok.Expires.IsZero() {
			expires = clitext.Time(tok.Expires)
			if tok.Expired(now) {
				expires += " (expired)"
			}
		}
		return []string{tok.Name, strings.Join(tok.Scopes, ","), clitext.Time(tok.Created), lastUsed, expires}
	})
}

func tokensRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	tf := newTokenFlags("tokens revoke", "--config FILE NAME", stderr)
	pos, err := tf.parse(args, 1, 1)
	if err != nil {
		return err
	}
	st, done, err := tf.openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	err = st.RevokeToken(ctx, pos[0], tokenActor())
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
