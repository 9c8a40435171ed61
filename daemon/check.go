package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
)

// Outcomes of one check of `dirsync config check`.
const (
	CheckOK      = "ok"
	CheckFailed  = "failed"
	CheckSkipped = "skipped"
)

// CheckResult is one line of `dirsync config check`.
type CheckResult struct {
	Check  string `json:"check"` // configuration, secret, state, store, connector
	Name   string `json:"name,omitempty"`
	Status string `json:"status"` // CheckOK, CheckFailed or CheckSkipped
	Detail string `json:"detail"`
	Millis int64  `json:"ms,omitempty"`
}

// CheckOptions tune Check.
type CheckOptions struct {
	// Offline resolves secrets only: it connects to nothing.
	Offline bool
	// Timeout bounds each connection check.
	Timeout time.Duration
}

// Check tests a loaded configuration as a start would, writing nothing: every
// secret resolves, and unless offline the state backend, the store and every
// enabled connector answer (connect, TLS, bind or sign-in, a minimal read).
func Check(ctx context.Context, cfg *config.Config, log *zap.Logger, o CheckOptions) []CheckResult {
	var names []string
	for _, cc := range cfg.Connectors {
		names = append(names, cc.Name+" ("+cc.Type+")")
	}
	out := []CheckResult{{Check: "configuration", Status: CheckOK, Detail: fmt.Sprintf(
		"valid: %d connector(s) %s; state %s; store %s; admin API on %s",
		len(cfg.Connectors), strings.Join(names, ", "), cfg.State.Backend, cfg.Store.Backend, cfg.Server.Listen)}}

	for _, ref := range cfg.Secrets() {
		r := CheckResult{Check: "secret", Name: ref.Path, Status: CheckOK}
		if v, err := ref.Secret.Value(); err != nil {
			r.Status, r.Detail = CheckFailed, err.Error()
		} else if v == "" {
			r.Status, r.Detail = CheckFailed, ref.Secret.String()+" is empty"
		} else {
			r.Detail = ref.Secret.String() + " resolved (value not shown)"
		}
		out = append(out, r)
	}

	if o.Offline {
		out = append(out,
			CheckResult{Check: "state", Name: cfg.State.Backend, Status: CheckSkipped, Detail: "offline"},
			CheckResult{Check: "store", Name: cfg.Store.Backend, Status: CheckSkipped, Detail: "offline"})
		if cfg.Mail.SMTP.Enabled() {
			out = append(out, CheckResult{Check: "mail", Name: cfg.Mail.SMTP.Addr(), Status: CheckSkipped, Detail: "offline"})
		}
		for _, cc := range cfg.Connectors {
			out = append(out, CheckResult{Check: "connector", Name: cc.Name, Status: CheckSkipped, Detail: "offline"})
		}
		return out
	}
	out = append(out, timed(ctx, o.Timeout, "state", cfg.State.Backend, func(ctx context.Context) (string, error) {
		b, err := lookupState(cfg.State.Backend)
		if err != nil {
			return "", err
		}
		return b.check(ctx, cfg.State, log)
	}))
	out = append(out, timed(ctx, o.Timeout, "store", cfg.Store.Backend, func(ctx context.Context) (string, error) {
		b, err := lookupStore(cfg.Store.Backend)
		if err != nil {
			return "", err
		}
		return b.check(ctx, cfg.Store, log)
	}))
	if cfg.Mail.SMTP.Enabled() {
		out = append(out, timed(ctx, o.Timeout, "mail", cfg.Mail.SMTP.Addr(), func(ctx context.Context) (string, error) {
			return checkMail(ctx, cfg.Mail.SMTP, log)
		}))
	}
	for _, cc := range cfg.Connectors {
		if cc.Disabled {
			out = append(out, CheckResult{Check: "connector", Name: cc.Name, Status: CheckSkipped, Detail: "disabled: true"})
			continue
		}
		out = append(out, timed(ctx, o.Timeout, "connector", cc.Name, func(ctx context.Context) (string, error) {
			return checkConnector(ctx, cc, log)
		}))
	}
	return out
}

// timed runs one connection check under the per-check timeout.
func timed(ctx context.Context, timeout time.Duration, check, name string, f func(context.Context) (string, error)) CheckResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	detail, err := f(ctx)
	r := CheckResult{Check: check, Name: name, Status: CheckOK, Detail: detail, Millis: time.Since(start).Milliseconds()}
	if err != nil {
		r.Status, r.Detail = CheckFailed, err.Error()
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			r.Detail += fmt.Sprintf(" (no answer within --timeout %s)", timeout)
		}
	}
	return r
}

// checkConnector opens the source and asks it to check its connection.
func checkConnector(ctx context.Context, cc config.Connector, log *zap.Logger) (string, error) {
	src, err := cc.Source.Open(cc.Name, log.Named("connector").With(zap.String("connector", cc.Name)))
	if err != nil {
		return "", fmt.Errorf("open: %w", err)
	}
	defer closeProbe(src)
	ch, ok := src.(connectors.Checker)
	if !ok {
		return "", fmt.Errorf("connector type %s has no connection check", cc.Type)
	}
	return ch.Check(ctx)
}

// closeProbe closes what a check opened only to look at it: nothing was
// written, and the check's verdict is already made, so a failed close has
// nothing to add.
func closeProbe(c io.Closer) { _ = c.Close() }
