package loadtest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestJudge holds the load test's rules on answers to cases it must refuse,
// so a load run that sees them cannot pass.
func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name, path  string
		status      int
		retryAfter  string
		body        string
		code        string
		wantProblem bool
	}{
		{"ok", "/v1/users", 200, "", `{}`, "", false},
		{"refusal with a reason", "/v1/users", 409, "", `{"error":{"code":"duplicate_address","message":"taken"}}`, "duplicate_address", false},
		{"refusal without a code", "/v1/users", 422, "", `{"error":{"message":"bad"}}`, "", true},
		{"refusal without a message", "/v1/users", 422, "", `{"error":{"code":"x"}}`, "", true},
		{"refusal not JSON", "/v1/users", 400, "", `bad request`, "", true},
		{"internal error", "/v1/users", 500, "", `{"error":{"code":"internal","message":"internal error"}}`, "internal", true},
		{"unavailable store", "/v1/users", 503, "1", `{"error":{"code":"unavailable","message":"try later"}}`, "unavailable", true},
		{"busy outside sign-in", "/v1/users", 503, "1", `{"error":{"code":"busy","message":"busy"}}`, "busy", true},
		{"sign-in busy", "/v1/auth/login", 503, "1", `{"error":{"code":"busy","message":"busy"}}`, "busy", false},
		{"sign-in busy without Retry-After", "/v1/auth/login", 503, "", `{"error":{"code":"busy","message":"busy"}}`, "busy", true},
		{"sign-in unavailable", "/v1/auth/login", 503, "1", `{"error":{"code":"unavailable","message":"down"}}`, "unavailable", true},
		{"rate limited", "/v1/auth/login", 429, "5", `{"error":{"code":"rate_limited","message":"slow down"}}`, "rate_limited", false},
		{"rate limited without Retry-After", "/v1/auth/login", 429, "", `{"error":{"code":"rate_limited","message":"slow down"}}`, "rate_limited", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if tc.retryAfter != "" {
				rec.Header().Set("Retry-After", tc.retryAfter)
			}
			rec.WriteHeader(tc.status)
			_, _ = rec.WriteString(tc.body)
			code, problem := judge(http.MethodPost, tc.path, rec.Result(), rec.Body.Bytes())
			require.Equal(t, tc.code, code)
			require.Equal(t, tc.wantProblem, problem != "", "problem: %q", problem)
		})
	}
}
