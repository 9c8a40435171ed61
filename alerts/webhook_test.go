package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
)

func TestRetriesServerErrorsThenDelivers(t *testing.T) {
	h := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	n, logs := newNotifier(t, testConfig(t, h.url()))
	n.RunFinished(failedReport("r1"))
	closeNotifier(t, n)

	require.Len(t, h.requests(), 3, "two 500s, then the 200")
	retries := entries(logs, "alert delivery failed; retrying")
	require.Len(t, retries, 2)
	require.EqualValues(t, 500, retries[0].ContextMap()["status"])
	require.Len(t, entries(logs, "alert delivered"), 1)
	require.Empty(t, entries(logs, "alert not delivered: out of attempts"))
	// The same body every time: a receiver may dedupe on it.
	reqs := h.requests()
	require.Equal(t, reqs[0].body, reqs[2].body)
	requireNoSecret(t, logs)
}

func TestOutOfAttempts(t *testing.T) {
	h := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	cfg := testConfig(t, h.url())
	cfg.Webhook.MaxAttempts = 3
	n, logs := newNotifier(t, cfg)
	n.RunFinished(failedReport("r1"))
	closeNotifier(t, n)

	require.Len(t, h.requests(), 3)
	out := entries(logs, "alert not delivered: out of attempts")
	require.Len(t, out, 1)
	require.Equal(t, zapcore.ErrorLevel, out[0].Level)
	require.EqualValues(t, 502, out[0].ContextMap()["status"])
	requireNoSecret(t, logs)
}

func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	h := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	n, logs := newNotifier(t, testConfig(t, h.url())) // backoff 1ms: only Retry-After explains a 1s wait
	n.RunFinished(failedReport("r1"))
	closeNotifier(t, n)

	reqs := h.requests()
	require.Len(t, reqs, 2)
	require.GreaterOrEqual(t, reqs[1].at.Sub(reqs[0].at), 950*time.Millisecond)
	retry := entries(logs, "alert delivery failed; retrying")
	require.Len(t, retry, 1)
	require.EqualValues(t, 429, retry[0].ContextMap()["status"])
	require.Equal(t, time.Second, retry[0].ContextMap()["wait"])
}

func TestClientErrorNotRetried(t *testing.T) {
	answer := strings.Repeat("a", 150) + strings.Repeat("b", 350)
	h := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, answer)
	})
	n, logs := newNotifier(t, testConfig(t, h.url()))
	n.RunFinished(failedReport("r1"))
	closeNotifier(t, n)

	require.Len(t, h.requests(), 1, "a 400 is not retried")
	refused := entries(logs, "alert refused by the webhook")
	require.Len(t, refused, 1)
	require.Equal(t, zapcore.ErrorLevel, refused[0].Level)
	require.EqualValues(t, 400, refused[0].ContextMap()["status"])
	require.Equal(t, answer[:200], refused[0].ContextMap()["answer"], "the first 200 bytes of the answer")
	require.Equal(t, "http://"+h.srv.Listener.Addr().String(), refused[0].ContextMap()["webhook"])
}

func TestSignatureAndHeaders(t *testing.T) {
	const key = "s3cret-signing-key"
	h := newHook(t, nil)
	cfg := testConfig(t, h.url())
	cfg.Webhook.SigningSecret = fileSecret(t, key)
	n, logs := newNotifier(t, cfg)
	n.RunFinished(heldReport("r1"))
	closeNotifier(t, n)

	reqs := h.requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.Equal(t, "dirsync/alerts", r.header.Get("User-Agent"))

	// What a receiver does: recompute and compare in constant time.
	sig, ok := strings.CutPrefix(r.header.Get("X-Dirsync-Signature"), "sha256=")
	require.True(t, ok)
	got, err := hex.DecodeString(sig)
	require.NoError(t, err)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(r.body)
	require.True(t, hmac.Equal(got, mac.Sum(nil)), "signature verifies")
	mac = hmac.New(sha256.New, []byte("another key"))
	mac.Write(r.body)
	require.False(t, hmac.Equal(got, mac.Sum(nil)))

	var a Alert
	require.NoError(t, json.Unmarshal(r.body, &a))
	require.Equal(t, KindHeld, a.Kind)
	require.Equal(t, "r1", a.RunID)
	for _, e := range logs.All() {
		require.NotContains(t, logText(e), key)
	}
}

func TestUnsignedWithoutSecret(t *testing.T) {
	h := newHook(t, nil)
	n, _ := newNotifier(t, testConfig(t, h.url()))
	n.RunFinished(heldReport("r1"))
	closeNotifier(t, n)
	require.Len(t, h.requests(), 1)
	require.Empty(t, h.requests()[0].header.Get("X-Dirsync-Signature"))
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	release := make(chan struct{})
	h := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	n, logs := newNotifier(t, testConfig(t, h.url()))

	// Both workers get stuck on the webhook…
	n.RunFinished(failedReport("busy-1"))
	n.RunFinished(failedReport("busy-2"))
	waitFor(t, h.got, workers)
	// …the queue fills up, and what comes after is dropped, at once.
	start := time.Now()
	for i := range queueSize + 5 {
		n.RunFinished(failedReport(fmt.Sprintf("r%d", i)))
	}
	require.Less(t, time.Since(start), time.Second, "RunFinished never waits for the webhook")
	dropped := entries(logs, "alert dropped: the webhook queue is full")
	require.Len(t, dropped, 5)
	require.Equal(t, zapcore.WarnLevel, dropped[0].Level)
	// Every alert was logged, dropped or not.
	require.Len(t, entries(logs, "alert"), 2+queueSize+5)

	close(release)
	closeNotifier(t, n)
	require.Len(t, h.requests(), 2+queueSize)
	requireNoSecret(t, logs)
}

func TestCloseDrainsTheQueue(t *testing.T) {
	h := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond) // slow enough that Close finds work left
		w.WriteHeader(http.StatusOK)
	})
	n, logs := newNotifier(t, testConfig(t, h.url()))
	for i := range 20 {
		n.RunFinished(failedReport(fmt.Sprintf("r%d", i)))
	}
	closeNotifier(t, n)
	require.Len(t, h.requests(), 20, "Close returned after every queued alert was delivered")
	require.Empty(t, entries(logs, "alerts not delivered at shutdown"))

	// After Close an alert is logged, not sent.
	n.RunFinished(failedReport("late"))
	require.Len(t, entries(logs, "alert not sent: alerts are shut down"), 1)
	require.Len(t, h.requests(), 20)
	require.NoError(t, n.Close(context.Background()), "Close twice is harmless")
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	h := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	})
	n, logs := newNotifier(t, testConfig(t, h.url()))
	for i := range 3 {
		n.RunFinished(failedReport(fmt.Sprintf("r%d", i)))
	}
	waitFor(t, h.got, workers) // two in flight, one queued

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := n.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second, "Close is bounded by its context, not the 5s attempt timeout")
	gaveUp := entries(logs, "alerts not delivered at shutdown")
	require.Len(t, gaveUp, 1)
	require.EqualValues(t, 3, gaveUp[0].ContextMap()["dropped"])
	requireNoSecret(t, logs)
}

func TestURLNeverLogged(t *testing.T) {
	// The webhook echoes the request line, as some error pages do.
	echo := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "no route for POST %s (full URL http://%s%s)", r.URL.RequestURI(), r.Host, r.URL.RequestURI())
	})
	// Nobody listens at this one: the network error must not quote the URL.
	gone := newHook(t, nil)
	goneURL := gone.url()
	gone.srv.Close()

	for _, url := range []string{echo.url(), goneURL} {
		cfg := testConfig(t, url)
		cfg.Webhook.MaxAttempts = 2
		n, logs := newNotifier(t, cfg)
		n.RunFinished(failedReport("r1"))
		n.RunFinished(heldReport("r2"))
		closeNotifier(t, n)
		n.RunFinished(partialReport("r3"))
		requireNoSecret(t, logs)
		if url == goneURL {
			out := entries(logs, "alert not delivered: out of attempts")
			require.Len(t, out, 2)
			require.Contains(t, out[0].ContextMap()["error"], "POST http://127.0.0.1:")
		} else {
			refused := entries(logs, "alert refused by the webhook")
			require.Len(t, refused, 2)
			require.Contains(t, refused[0].ContextMap()["answer"], "no route for POST [redacted]")
		}
	}
}

func TestNewRefusesBadWebhookWithoutQuotingIt(t *testing.T) {
	for _, value := range []string{"ftp://files.example" + hookPath, "https://" + hookPath, "http://[::1" + hookPath} {
		cfg := testConfig(t, value)
		_, err := New(cfg, zapNop())
		require.Error(t, err)
		require.Contains(t, err.Error(), "alerts.webhook.url")
		require.Contains(t, err.Error(), "file:", "the error names the reference")
		require.NotContains(t, err.Error(), "T0KEN")
	}

	cfg := testConfig(t, "")
	cfg.Webhook.URL = envSecret(t, "DIRSYNC_TEST_UNSET_WEBHOOK")
	_, err := New(cfg, zapNop())
	require.ErrorContains(t, err, "${DIRSYNC_TEST_UNSET_WEBHOOK}")

	h := newHook(t, nil)
	cfg = testConfig(t, h.url())
	cfg.Webhook.SigningSecret = envSecret(t, "DIRSYNC_TEST_UNSET_KEY")
	_, err = New(cfg, zapNop())
	require.ErrorContains(t, err, "alerts.webhook.signing_secret")
	require.ErrorContains(t, err, "${DIRSYNC_TEST_UNSET_KEY}")
}

func TestBackoffDoublesWithJitterAndCap(t *testing.T) {
	w := &webhook{backoff: time.Second}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 20: maxBackoff} {
		for range 50 {
			got := w.wait(attempt)
			require.GreaterOrEqual(t, got, want*8/10, "attempt %d", attempt)
			require.LessOrEqual(t, got, want*12/10, "attempt %d", attempt)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", -1},
		{"3", 3 * time.Second},
		{"0", 0},
		{"-2", -1},
		{"86400", maxRetryAfter},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second},
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0},
		{"soon", -1},
	} {
		require.Equal(t, tc.want, parseRetryAfter(tc.in, now), tc.in)
	}
}
