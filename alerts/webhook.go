package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body, keyed
// with alerts.webhook.signing_secret.
const SignatureHeader = "X-Dirsync-Signature"

const (
	// maxBackoff caps the doubling wait between attempts.
	maxBackoff = 5 * time.Minute
	// maxRetryAfter caps how long a 429's Retry-After may make a worker wait.
	maxRetryAfter = 5 * time.Minute
	// snippetBytes of a refusing answer are logged.
	snippetBytes = 200
	redacted     = "[redacted]"
)

type webhook struct {
	url    string
	label  string // scheme://host: the URL itself may carry a token
	secret []byte // nil: unsigned
	// secretParts are the parts of the URL that must never reach a log line.
	secretParts []string
	client      *http.Client
	timeout     time.Duration
	attempts    int
	backoff     time.Duration
	log         *zap.Logger
}

type outcome int

const (
	delivered outcome = iota
	failed
	aborted // the notifier shut down first
)

func newWebhook(cfg config.AlertWebhook, log *zap.Logger) (*webhook, error) {
	raw, err := cfg.URL.Value()
	if err != nil {
		return nil, fmt.Errorf("alerts.webhook.url: %w", err)
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	// url.Parse's error quotes the URL, token and all: name the reference instead.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alerts.webhook.url: the value of %s is not an http(s) URL with a host", cfg.URL)
	}
	w := &webhook{url: u.String(), label: u.Scheme + "://" + u.Host, timeout: cfg.Timeout,
		attempts: max(cfg.MaxAttempts, 1), backoff: cfg.Backoff, log: log}
	if w.timeout <= 0 {
		w.timeout = 10 * time.Second
	}
	if w.backoff <= 0 {
		w.backoff = time.Second
	}
	for _, s := range []string{w.url, raw, u.RawQuery, u.EscapedPath(), u.Path, u.User.String()} {
		if len(s) > 1 { // "/" alone hides nothing and would mangle every message
			w.secretParts = append(w.secretParts, s)
		}
	}
	if cfg.SigningSecret.IsSet() {
		key, err := cfg.SigningSecret.Value()
		if err != nil {
			return nil, fmt.Errorf("alerts.webhook.signing_secret: %w", err)
		}
		w.secret = []byte(key)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	w.client = &http.Client{Transport: t,
		// A redirect would be followed with a GET, and its target logged in
		// errors: a 3xx is reported as a refusal instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w, nil
}

// sign returns the signature header's value for body.
func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// deliver POSTs body until it is accepted, refused, out of attempts, or ctx ends.
func (w *webhook) deliver(ctx context.Context, a Alert, body []byte) outcome {
	log := w.log.With(zap.String("kind", a.Kind), zap.String("connector", a.Connector), zap.String("webhook", w.label))
	if a.RunID != "" {
		log = log.With(zap.String("run_id", a.RunID))
	}
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return aborted
		}
		status, retryAfter, snippet, err := w.post(ctx, body)
		var problem zap.Field
		switch {
		case err != nil && ctx.Err() != nil:
			return aborted
		case err != nil:
			problem = zap.String("error", w.redact(err.Error()))
		case status >= 200 && status < 300:
			log.Debug("alert delivered", zap.Int("attempt", attempt))
			return delivered
		case status == http.StatusTooManyRequests || status >= 500:
			problem = zap.Int("status", status)
		default:
			log.Error("alert refused by the webhook", zap.Int("status", status), zap.String("answer", snippet),
				zap.Int("attempt", attempt))
			return failed
		}
		if attempt >= w.attempts {
			log.Error("alert not delivered: out of attempts", problem, zap.String("answer", snippet), zap.Int("attempts", attempt))
			return failed
		}
		wait := w.wait(attempt)
		if retryAfter >= 0 {
			wait = min(retryAfter, maxRetryAfter)
		}
		log.Warn("alert delivery failed; retrying", problem, zap.Int("attempt", attempt), zap.Duration("wait", wait))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return aborted
		}
	}
}

// wait is the backoff after the attempt-th failure: Backoff doubled each time,
// capped, with ±20% jitter so that several daemons do not retry in step.
func (w *webhook) wait(attempt int) time.Duration {
	d := w.backoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, max(maxBackoff, w.backoff))
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// post makes one attempt. retryAfter is the answer's Retry-After, or -1.
func (w *webhook) post(ctx context.Context, body []byte) (status int, retryAfter time.Duration, snippet string, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, -1, "", errors.New("build the request") // its error would quote the URL
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dirsync/alerts")
	if w.secret != nil {
		req.Header.Set(SignatureHeader, sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error's text quotes the whole URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, -1, "", fmt.Errorf("POST %s: no answer within %s", w.label, w.timeout)
		}
		return 0, -1, "", fmt.Errorf("POST %s: %w", w.label, err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, snippetBytes))
	// Reading the rest (within reason) lets the connection be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	retryAfter = -1
	if resp.StatusCode == http.StatusTooManyRequests {
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp.StatusCode, retryAfter, w.redact(strings.ToValidUTF8(string(head), "?")), nil
}

// parseRetryAfter reads seconds or an HTTP date; -1 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return -1
		}
		return time.Duration(min(s, int(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

// redact removes the URL's secret parts from text bound for a log line: an
// error or an answer that echoes the request.
func (w *webhook) redact(s string) string {
	for _, p := range w.secretParts {
		s = strings.ReplaceAll(s, p, redacted)
	}
	return s
}
