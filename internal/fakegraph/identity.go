package fakegraph

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	graphAppID          = "00000003-0000-0000-c000-000000000000"
	tokenLifetime       = 3599 * time.Second
)

// serveIdentity answers the Microsoft identity platform endpoints MSAL uses:
// OpenID configuration, instance discovery, keys and the token endpoint.
func (s *Server) serveIdentity(c *call) {
	parts := strings.Split(strings.Trim(c.r.URL.Path, "/"), "/")
	route := ""
	switch {
	case len(parts) == 4 && parts[1] == "v2.0" && parts[2] == ".well-known" && parts[3] == "openid-configuration":
		route = "openid"
	case len(parts) == 3 && parts[1] == "discovery" && parts[2] == "instance":
		route = "instance"
	case len(parts) == 4 && parts[1] == "discovery" && parts[2] == "v2.0" && parts[3] == "keys":
		route = "keys"
	case len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token":
		route = "token"
	default:
		c.graphError(http.StatusNotFound, "Request_UnsupportedQuery",
			fmt.Sprintf("fakegraph serves no resource at '%s'.", c.r.URL.Path))
		return
	}
	method := http.MethodGet
	if route == "token" {
		method = http.MethodPost
	}
	if c.r.Method != method {
		c.w.Header().Set("Allow", method)
		c.oauthError(http.StatusMethodNotAllowed, "invalid_request", 900561,
			fmt.Sprintf("The endpoint only accepts %s requests. Received a %s request.", method, c.r.Method))
		return
	}
	tenant := parts[0]
	if route == "instance" {
		s.instanceDiscovery(c)
		return
	}
	if !strings.EqualFold(tenant, s.opts.TenantID) {
		c.oauthError(http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf(
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	switch route {
	case "openid":
		c.writeJSON(http.StatusOK, s.openIDConfiguration())
	case "keys":
		c.writeJSON(http.StatusOK, map[string]any{"keys": []any{}})
	default:
		s.token(c)
	}
}

func (s *Server) tenantURL() string { return s.url + "/" + s.opts.TenantID }

func (s *Server) tokenEndpoint() string { return s.tenantURL() + "/oauth2/v2.0/token" }

// openIDConfiguration is Entra's v2.0 metadata document, pointing at the fake.
func (s *Server) openIDConfiguration() map[string]any {
	t := s.tenantURL()
	return map[string]any{
		"token_endpoint":                        s.tokenEndpoint(),
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              t + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                t + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     s.url + "/oidc/userinfo",
		"authorization_endpoint":                t + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         t + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  t + "/oauth2/v2.0/logout",
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
			"cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
			"preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":        t + "/kerberos",
		"tenant_region_scope":      "EU",
		"cloud_instance_name":      "microsoftonline.com",
		"cloud_graph_host_name":    "graph.windows.net",
		"msgraph_host":             s.hostPort,
		"rbac_url":                 "https://pas.windows.net",
		"tenant_region_sub_scope":  nil,
		"cloud_instance_host_name": s.hostPort,
	}
}

// instanceDiscovery answers AAD instance discovery (/common/discovery/instance)
// with the fake's host as the only network and cache alias. MSAL itself never
// asks it here: for an authority host it does not know, it asks
// login.microsoftonline.com, which is why azidentity pointed at the fake needs
// DisableInstanceDiscovery. It serves clients that route that host here.
func (s *Server) instanceDiscovery(c *call) {
	tenant := s.opts.TenantID
	if ae := c.r.URL.Query().Get("authorization_endpoint"); ae != "" {
		if u, err := url.Parse(ae); err == nil {
			if p := strings.Split(strings.Trim(u.Path, "/"), "/"); p[0] != "" {
				tenant = p[0]
			}
		}
	}
	aliases := []string{s.hostPort}
	if local := localhostAlias(s.hostPort, s.port); local != "" {
		aliases = append(aliases, local)
	}
	c.writeJSON(http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": s.url + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": s.hostPort,
			"preferred_cache":   s.hostPort,
			"aliases":           aliases,
		}},
	})
}

// localhostAlias is the localhost:PORT alias of a loopback host:port, or "".
func localhostAlias(hostPort, port string) string {
	if strings.HasPrefix(hostPort, "127.0.0.1:") || strings.HasPrefix(hostPort, "[::1]:") {
		return "localhost:" + port
	}
	return ""
}

// token is the client credentials grant. Error answers follow Entra's (codes
// and AADSTS numbers) and never repeat a secret or an assertion.
func (s *Server) token(c *call) {
	c.r.Body = http.MaxBytesReader(c.w, c.r.Body, 1<<20)
	if err := c.r.ParseForm(); err != nil {
		c.oauthError(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := c.r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			c.oauthError(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
			return
		}
		c.oauthError(http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	}
	clientID := f.Get("client_id")
	if !strings.EqualFold(clientID, s.opts.ClientID) {
		c.oauthError(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' "+
			"was not found in the directory '%s'. This can happen if the application has not been installed by the "+
			"administrator of the tenant or consented to by any user in the tenant. You may have sent your "+
			"authentication request to the wrong tenant.", clientID, s.opts.TenantID))
		return
	}
	secret, assertion := f.Get("client_secret"), f.Get("client_assertion")
	switch {
	case secret != "" && assertion != "":
		c.oauthError(http.StatusBadRequest, "invalid_request", 90014,
			"Only one of the parameters 'client_secret' and 'client_assertion' may be sent.")
		return
	case secret != "":
		if subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
			c.oauthError(http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. "+
				"Ensure the secret being sent in the request is the client secret value, not the client secret ID, "+
				"for a secret added to app '%s'.", s.opts.ClientID))
			return
		}
	case assertion != "":
		if f.Get("client_assertion_type") != clientAssertionType {
			c.oauthError(http.StatusBadRequest, "invalid_request", 50027,
				"Invalid client_assertion_type: it must be "+clientAssertionType+".")
			return
		}
		if s.opts.ClientCert == nil {
			c.oauthError(http.StatusUnauthorized, "invalid_client", 700027,
				"The certificate with identifier used to sign the client assertion is not registered on application.")
			return
		}
		if err := verifyAssertion(assertion, s.opts.ClientCert, s.opts.ClientID, s.assertionAudiences(), time.Now()); err != nil {
			c.oauthError(http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed validation: "+err.Error())
			return
		}
	default:
		c.oauthError(http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if ok, desc, code := s.checkScope(f.Get("scope")); !ok {
		c.oauthError(http.StatusBadRequest, "invalid_scope", code, desc)
		return
	}
	tok, err := s.issueToken()
	if err != nil {
		c.oauthError(http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
		return
	}
	c.w.Header().Set("Cache-Control", "no-store, no-cache")
	c.w.Header().Set("Pragma", "no-cache")
	c.writeJSON(http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(tokenLifetime / time.Second),
		"ext_expires_in": int(tokenLifetime / time.Second),
		"access_token":   tok,
	})
}

func (s *Server) assertionAudiences() []string {
	auds := []string{s.tokenEndpoint(), s.tenantURL() + "/v2.0"}
	if local := localhostAlias(s.hostPort, s.port); local != "" {
		lt := "https://" + local + "/" + s.opts.TenantID
		auds = append(auds, lt+"/oauth2/v2.0/token", lt+"/v2.0")
	}
	return auds
}

// checkScope accepts Graph's .default scope (by URL or app id) or the fake's
// own host's, alongside MSAL's openid, profile and offline_access.
func (s *Server) checkScope(raw string) (bool, string, int) {
	var resource []string
	for _, sc := range strings.Fields(raw) {
		switch sc {
		case "openid", "profile", "offline_access":
		default:
			resource = append(resource, sc)
		}
	}
	if len(resource) != 1 || !strings.HasSuffix(resource[0], "/.default") {
		return false, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a "+
			"scope value with /.default suffixed to the resource identifier (application ID URI).", raw), 1002012
	}
	res := strings.TrimSuffix(strings.ToLower(resource[0]), "/.default")
	ok := res == "https://graph.microsoft.com" || res == graphAppID || res == strings.ToLower(s.url)
	if local := localhostAlias(s.hostPort, s.port); local != "" {
		ok = ok || res == "https://"+local
	}
	if !ok {
		return false, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen "+
			"if the application has not been installed by the administrator of the tenant or consented to by any user "+
			"in the tenant. You might have sent your authentication request to the wrong tenant.", res, s.opts.TenantID), 500011
	}
	return true, "", 0
}

func (s *Server) issueToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	now := time.Now()
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	for t, exp := range s.tokens {
		if now.After(exp) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = now.Add(tokenLifetime)
	return tok, nil
}

// authorized checks Graph's bearer token, answering 401 itself when it fails.
func (s *Server) authorized(c *call) bool {
	scheme, tok, _ := strings.Cut(c.r.Header.Get("Authorization"), " ")
	msg := ""
	switch {
	case !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "":
		msg = "Access token is empty."
	default:
		s.tokMu.Lock()
		exp, ok := s.tokens[strings.TrimSpace(tok)]
		s.tokMu.Unlock()
		switch {
		case !ok:
			msg = "Invalid access token: it was not issued by this fakegraph, or it was revoked."
		case time.Now().After(exp):
			msg = "Lifetime validation failed, the token is expired."
		}
	}
	if msg == "" {
		return true
	}
	c.w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s/common/oauth2/authorize", client_id="%s"`,
		s.url, graphAppID))
	c.graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
	return false
}
