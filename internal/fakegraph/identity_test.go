package fakegraph

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpenIDConfigurationPointsAtTheFake(t *testing.T) {
	s := start(t, Options{TenantID: "aaaaaaaa-0000-0000-0000-000000000001"})
	resp, err := s.Client().Get(s.URL() + "/" + s.TenantID() + "/v2.0/.well-known/openid-configuration")
	require.NoError(t, err)
	var cfg map[string]any
	decode(t, resp, http.StatusOK, &cfg)
	require.Equal(t, s.URL()+"/aaaaaaaa-0000-0000-0000-000000000001/v2.0", cfg["issuer"])
	require.Equal(t, s.URL()+"/aaaaaaaa-0000-0000-0000-000000000001/oauth2/v2.0/token", cfg["token_endpoint"])
	require.Equal(t, s.URL()+"/aaaaaaaa-0000-0000-0000-000000000001/oauth2/v2.0/authorize", cfg["authorization_endpoint"])
	require.NotEmpty(t, cfg["jwks_uri"])
	require.NotEmpty(t, cfg["tenant_region_scope"])

	resp, err = s.Client().Get(s.URL() + "/someone-else/v2.0/.well-known/openid-configuration")
	require.NoError(t, err)
	var oerr map[string]any
	decode(t, resp, http.StatusBadRequest, &oerr)
	require.Equal(t, "invalid_tenant", oerr["error"])
}

func TestInstanceDiscoveryNamesTheFakeHost(t *testing.T) {
	s := start(t, Options{})
	host := strings.TrimPrefix(s.URL(), "https://")
	q := url.Values{"api-version": {"1.1"}, "authorization_endpoint": {s.URL() + "/" + s.TenantID() + "/oauth2/v2.0/authorize"}}
	resp, err := s.Client().Get(s.URL() + "/common/discovery/instance?" + q.Encode())
	require.NoError(t, err)
	var body struct {
		TenantDiscoveryEndpoint string `json:"tenant_discovery_endpoint"`
		Metadata                []struct {
			PreferredNetwork string   `json:"preferred_network"`
			Aliases          []string `json:"aliases"`
		} `json:"metadata"`
	}
	decode(t, resp, http.StatusOK, &body)
	require.Equal(t, s.URL()+"/"+s.TenantID()+"/v2.0/.well-known/openid-configuration", body.TenantDiscoveryEndpoint)
	require.Len(t, body.Metadata, 1)
	require.Equal(t, host, body.Metadata[0].PreferredNetwork)
	require.Contains(t, body.Metadata[0].Aliases, host)
}

func TestTokenWithTheClientSecret(t *testing.T) {
	s := start(t, Options{ClientSecret: "s3cret-value"})
	status, body := postToken(t, s, secretForm(s, "s3cret-value"))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "Bearer", body["token_type"])
	require.EqualValues(t, 3599, body["expires_in"])
	require.EqualValues(t, 3599, body["ext_expires_in"])
	require.NotEmpty(t, body["access_token"])

	// MSAL adds its default scopes; the fake's own host is a resource too.
	form := secretForm(s, "s3cret-value")
	form.Set("scope", s.URL()+"/.default openid offline_access profile")
	status, body = postToken(t, s, form)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 2, s.Requests("/"+s.TenantID()+"/oauth2/v2.0/token"))
}

func TestTokenRejectsABadSecretWithoutEchoingIt(t *testing.T) {
	s := start(t, Options{})
	status, body := postToken(t, s, secretForm(s, "wrong-secret-XYZ"))
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "invalid_client", body["error"])
	require.Contains(t, body["error_description"], "AADSTS7000215")
	require.Equal(t, []any{float64(7000215)}, body["error_codes"])
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "wrong-secret-XYZ")
	require.NotContains(t, string(raw), defaultSecret)
}

func TestTokenRejectsWrongClientTenantScopeAndGrant(t *testing.T) {
	s := start(t, Options{})
	cases := []struct {
		name   string
		edit   func(url.Values)
		status int
		errStr string
		code   float64
	}{
		{"unknown client", func(f url.Values) { f.Set("client_id", "99999999-9999-9999-9999-999999999999") },
			http.StatusBadRequest, "unauthorized_client", 700016},
		{"no credential", func(f url.Values) { f.Del("client_secret") }, http.StatusUnauthorized, "invalid_client", 7000218},
		{"scope without .default", func(f url.Values) { f.Set("scope", "User.Read.All") },
			http.StatusBadRequest, "invalid_scope", 1002012},
		{"another resource", func(f url.Values) { f.Set("scope", "https://management.azure.com/.default") },
			http.StatusBadRequest, "invalid_scope", 500011},
		{"password grant", func(f url.Values) { f.Set("grant_type", "password") },
			http.StatusBadRequest, "unsupported_grant_type", 70003},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := secretForm(s, defaultSecret)
			tc.edit(form)
			status, body := postToken(t, s, form)
			require.Equal(t, tc.status, status, body)
			require.Equal(t, tc.errStr, body["error"])
			require.Equal(t, []any{tc.code}, body["error_codes"])
		})
	}
	resp, err := s.Client().PostForm(s.URL()+"/other-tenant/oauth2/v2.0/token", secretForm(s, defaultSecret))
	require.NoError(t, err)
	var body map[string]any
	decode(t, resp, http.StatusBadRequest, &body)
	require.Equal(t, []any{float64(90002)}, body["error_codes"])
}

func TestGraphWantsATokenFromTheFake(t *testing.T) {
	s := start(t, Options{})
	e := getError(t, s, "", "/users/delta", http.StatusUnauthorized)
	require.Equal(t, "InvalidAuthenticationToken", e.Error.Code)
	require.NotEmpty(t, e.Error.InnerError["request-id"])
	require.NotEmpty(t, e.Error.InnerError["date"])

	e = getError(t, s, "not-issued-here", "/users/delta", http.StatusUnauthorized)
	require.Equal(t, "InvalidAuthenticationToken", e.Error.Code)

	tok := token(t, s)
	p := getPage(t, s, tok, "/users/delta")
	require.NotEmpty(t, p.DeltaLink)

	s.RevokeAccessTokens()
	e = getError(t, s, tok, "/users/delta", http.StatusUnauthorized)
	require.Equal(t, "InvalidAuthenticationToken", e.Error.Code)
}

func TestClientOnlyReachesTheFake(t *testing.T) {
	s := start(t, Options{})
	_, err := s.Client().Get("https://login.microsoftonline.com/common/discovery/instance")
	require.ErrorContains(t, err, "refusing to dial login.microsoftonline.com:443")

	// localhost is the same server (the certificate names it).
	port := s.URL()[strings.LastIndex(s.URL(), ":")+1:]
	resp, err := s.Client().Get("https://localhost:" + port + "/" + s.TenantID() + "/v2.0/.well-known/openid-configuration")
	require.NoError(t, err)
	var cfg map[string]any
	decode(t, resp, http.StatusOK, &cfg)
}
