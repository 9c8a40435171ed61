package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/store"
)

// TokenPrefix starts every API token, so a leaked one is easy to recognise
// (secret scanners, logs).
const TokenPrefix = "dst_"

// NewToken makes an API token ("dst_" and 32 random bytes in base64url) and the
// hash the store keeps (HashToken). The token is shown to its owner once.
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("random token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is the hex SHA-256 of a token: what store.Token.Hash holds and
// store.TokenByHash looks up. A plain hash suffices for 256 random bits.
func HashToken(token string) string { return accounts.HashToken(token) }

type tokenKey struct{}

func withToken(ctx context.Context, t store.Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// adminActor is who makes a change through an authenticated route.
func adminActor(r *http.Request) store.Actor {
	t, _ := r.Context().Value(tokenKey{}).(store.Token)
	return store.Actor{Kind: "admin", Name: t.Name}
}

// allows says whether a token with scopes may use a route with access a: the
// admin scope may do everything, other scopes what the route names.
func (a access) allows(scopes []string) bool {
	if slices.Contains(scopes, store.ScopeAdmin) {
		return true
	}
	for _, s := range a.scopes {
		if slices.Contains(scopes, s) {
			return true
		}
	}
	return false
}

func (a access) needs() string {
	return strings.Join(append([]string{store.ScopeAdmin}, a.scopes...), " or ")
}

// authenticate finds the request's bearer token and checks that it grants
// access. Failures are logged with the remote address and path, never with
// the token.
func (s *server) authenticate(r *http.Request, a access) (store.Token, error) {
	fail := func(reason string, fields ...zap.Field) error {
		s.log.Warn("API authentication failed", append([]zap.Field{zap.String("remote", r.RemoteAddr),
			zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("reason", reason)}, fields...)...)
		return &apiError{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: reason + ": send Authorization: Bearer <token> with a token from `dirsync tokens create`"}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return store.Token{}, fail("no bearer token")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return store.Token{}, fail("the Authorization header is not a bearer token")
	}
	t, err := s.st.TokenByHash(r.Context(), HashToken(token), s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, fail("unknown or revoked token")
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("token lookup: %w", err)
	}
	if t.Expired(s.now().UTC()) {
		// The caller learns only that the token expired; the log names it.
		return store.Token{}, fail("expired token", zap.String("token", t.Name), zap.Time("expired", t.Expires))
	}
	if !a.allows(t.Scopes) {
		s.log.Warn("API request forbidden", zap.String("remote", r.RemoteAddr), zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.String("token", t.Name), zap.Strings("scopes", t.Scopes),
			zap.String("needs", a.needs()))
		return store.Token{}, &apiError{Status: http.StatusForbidden, Code: CodeForbidden,
			Message: fmt.Sprintf("token %q (scopes %s) may not %s %s: it needs the scope %s",
				t.Name, strings.Join(t.Scopes, ", "), r.Method, r.URL.Path, a.needs())}
	}
	return t, nil
}
