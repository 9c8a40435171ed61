package config

import (
	"fmt"
	"path"
	"time"

	"github.com/dirsync/dirsync/internal/mailaddr"
)

// Protected names accounts that sync never disables or deletes on its own: a
// planned disable or delete of one is held for an admin's approval (and so
// alerted), never applied without it and never dropped.
// Objects flagged protected in the store are protected too.
//
//	protected:
//	  addresses: [postmaster@example.com]
//	  roles: ["*Admin*"]        # glob patterns over store role names (the default)
type Protected struct {
	Addresses []string `yaml:"addresses"`
	Roles     []string `yaml:"roles"`
}

// Reports configures the stored run reports (`dirsync runs show ID`).
type Reports struct {
	// Retention is how long a finished run's full report is kept (default 720h,
	// 30 days). The run history's one-line summaries are kept separately.
	Retention time.Duration `yaml:"retention"`
}

// Alerts says how dirsync tells operators that a run was held or failed, or
// that a connector has not synced for too long. Each alert is a log line at
// error level (log: true, the default) and, with a webhook, a JSON POST.
//
//	alerts:
//	  webhook: {url: "${DIRSYNC_ALERT_WEBHOOK}", signing_secret: "file:/etc/dirsync/alert.key"}
//	  stale_after: 6h
type Alerts struct {
	Log     bool         `yaml:"log"`
	Webhook AlertWebhook `yaml:"webhook"`
	// StaleAfter: a connector with no successful run for this long raises a
	// "stale" alert (default 24h; 0 turns it off). Checked every CheckEvery
	// (default 1m).
	StaleAfter time.Duration `yaml:"stale_after"`
	CheckEvery time.Duration `yaml:"check_every"`
}

// AlertWebhook is where alerts are POSTed as JSON.
type AlertWebhook struct {
	// URL is a secret reference (${ENV_VAR} or file:PATH): chat webhooks carry
	// their token in the URL. Unset: no webhook.
	URL Secret `yaml:"url"`
	// SigningSecret, if set, signs each body: header X-Dirsync-Signature:
	// sha256=<hex HMAC-SHA256 of the body>.
	SigningSecret Secret `yaml:"signing_secret"`
	// Timeout per attempt (default 10s); MaxAttempts in all (default 5), with
	// exponential backoff between them starting at Backoff (default 1s).
	Timeout     time.Duration `yaml:"timeout"`
	MaxAttempts int           `yaml:"max_attempts"`
	Backoff     time.Duration `yaml:"backoff"`
}

func defaultAlerts() Alerts {
	return Alerts{Log: true, StaleAfter: 24 * time.Hour, CheckEvery: time.Minute,
		Webhook: AlertWebhook{Timeout: 10 * time.Second, MaxAttempts: 5, Backoff: time.Second}}
}

func (a Alerts) validate() []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{Path: "alerts." + key, Message: fmt.Sprintf(format, args...)})
	}
	if a.StaleAfter < 0 {
		add("stale_after", "must not be negative: a duration such as 6h, or 0 for no stale alert")
	}
	if a.StaleAfter > 0 && a.CheckEvery <= 0 {
		add("check_every", "must be positive, e.g. 1m")
	}
	if a.Webhook.Timeout <= 0 {
		add("webhook.timeout", "must be positive, e.g. 10s")
	}
	if a.Webhook.MaxAttempts < 1 || a.Webhook.MaxAttempts > 20 {
		add("webhook.max_attempts", "%d is out of range: use 1 to 20", a.Webhook.MaxAttempts)
	}
	if a.Webhook.Backoff <= 0 {
		add("webhook.backoff", "must be positive, e.g. 1s")
	}
	if a.Webhook.SigningSecret.IsSet() && !a.Webhook.URL.IsSet() {
		add("webhook.signing_secret", "set, but webhook.url is not: add the URL reference or remove the secret")
	}
	return probs
}

func (p Protected) validate() []Problem {
	var probs []Problem
	for i, a := range p.Addresses {
		if _, err := mailaddr.Normalize(a); err != nil {
			probs = append(probs, Problem{Path: fmt.Sprintf("protected.addresses[%d]", i), Message: fmt.Sprintf("%q: %v", a, err)})
		}
	}
	for i, r := range p.Roles {
		if _, err := path.Match(r, ""); err != nil || r == "" {
			probs = append(probs, Problem{Path: fmt.Sprintf("protected.roles[%d]", i),
				Message: fmt.Sprintf("%q is not a role name or glob pattern (e.g. \"*Admin*\")", r)})
		}
	}
	return probs
}

func (r Reports) validate() []Problem {
	if r.Retention <= 0 {
		return []Problem{{Path: "reports.retention", Message: "must be positive, e.g. 720h (30 days)"}}
	}
	return nil
}
