package entra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/microsoftgraph/msgraph-sdk-go/directoryroles"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/dirsync/dirsync/connectors"
)

var _ connectors.Checker = (*source)(nil)

// Check implements connectors.Checker. It reaches the sign-in host, then asks
// for one page of one user through the same client a read uses, which proves
// the sign-in (token), TLS to Graph and the User.Read.All permission; then one
// group when groups are read, and the directory roles when admin_roles are
// set, since each needs its own permission.
func (s *source) Check(ctx context.Context) (string, error) {
	if err := s.reachSignIn(ctx); err != nil {
		return "", err
	}
	one := int32(1)
	ureq, err := s.client.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Top: &one, Select: []string{"id"}}})
	if err != nil {
		return "", fmt.Errorf("graph users request: %w", err)
	}
	var page struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	if err := s.send(ctx, ureq, &page); err != nil {
		return "", s.checkError("users?$top=1", err)
	}
	read := []string{"users"}
	if s.cfg.readsGroups() {
		greq, err := s.client.Groups().ToGetRequestInformation(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Top: &one, Select: []string{"id"}}})
		if err != nil {
			return "", fmt.Errorf("graph groups request: %w", err)
		}
		if err := s.send(ctx, greq, &page); err != nil {
			return "", s.checkError("groups?$top=1", err)
		}
		read = append(read, "groups")
	}
	var missing []string
	if len(s.cfg.AdminRoles) > 0 {
		roles, err := s.client.DirectoryRoles().Get(ctx, &directoryroles.DirectoryRolesRequestBuilderGetRequestConfiguration{
			QueryParameters: &directoryroles.DirectoryRolesRequestBuilderGetQueryParameters{Select: []string{"displayName", "roleTemplateId"}}})
		if err != nil {
			return "", s.checkError("directoryRoles", err)
		}
		read = append(read, "directory roles")
		for _, want := range s.cfg.AdminRoles {
			found := false
			for _, r := range roles.GetValue() {
				found = found || strings.EqualFold(deref(r.GetDisplayName()), want) || strings.EqualFold(deref(r.GetRoleTemplateId()), want)
			}
			if !found {
				missing = append(missing, fmt.Sprintf("%q", want))
			}
		}
	}
	line := fmt.Sprintf("signed in to tenant %s as client %s; %s readable at %s", s.cfg.TenantID, s.cfg.ClientID, joinAnd(read), s.cfg.GraphURL)
	if len(missing) > 0 {
		line += fmt.Sprintf("; admin_roles %s not among the tenant's activated roles (nobody holds them yet, or misspelt)", strings.Join(missing, ", "))
	}
	return line, nil
}

func joinAnd(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// reachSignIn fetches the tenant's OpenID configuration from the sign-in host
// with the connector's TLS settings and proxy. It proves the host answers over
// TLS, with typed errors (the credential reports a failed connection only as
// text, after its own retries), and that the tenant exists.
func (s *source) reachSignIn(ctx context.Context) error {
	base, err := baseTransport(s.cfg)
	if err != nil {
		return err
	}
	defer base.CloseIdleConnections()
	u := s.cfg.AuthorityHost + url.PathEscape(s.cfg.TenantID) + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("authority_host: %w", err)
	}
	resp, err := (&http.Client{Transport: base, Timeout: s.cfg.Timeout}).Do(req)
	if err != nil {
		if cerr := connError(hostOf(u), err); cerr != nil {
			return cerr
		}
		return fmt.Errorf("sign-in host %s: %w", hostOf(u), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusBadRequest && strings.Contains(string(body), "AADSTS90002") {
		return fmt.Errorf("sign in: tenant %s not found at %s: check tenant_id and cloud (or authority_host)", s.cfg.TenantID, s.cfg.AuthorityHost)
	}
	return nil
}

// checkError explains a failed check request by step: the sign-in, the
// connection (TLS, network) or Graph's answer (graphError: a 403 names the
// permissions to grant).
func (s *source) checkError(what string, err error) error {
	var auth *azidentity.AuthenticationFailedError
	if errors.As(err, &auth) {
		cred := "client_secret (a secret may have expired)"
		if s.cfg.CertificateFile != "" {
			cred = "certificate_file (the certificate must be one uploaded to the app registration, and unexpired)"
		}
		return &requestError{err: err, msg: fmt.Sprintf("sign in to %s%s as client_id %s: %s: check tenant_id, client_id and %s; "+
			"an app registered in another tenant also needs an administrator's consent in this one",
			s.cfg.AuthorityHost, s.cfg.TenantID, s.cfg.ClientID, strings.TrimSuffix(signInReason(auth.Error()), "."), cred)}
	}
	if status(err) == 0 {
		host := hostOf(s.cfg.GraphURL)
		var uerr *url.Error
		if errors.As(err, &uerr) {
			host = hostOf(uerr.URL)
		}
		if cerr := connError(host, err); cerr != nil {
			return cerr
		}
	}
	return graphError(what, 1, err)
}

// connError explains a failed TLS handshake or connection, or returns nil for
// any other error.
func connError(host string, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   *tls.CertificateVerificationError
		dnsErr    *net.DNSError
		opErr     *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("connect to %s: certificate signed by unknown authority: set ca_file to the CA that signed it (a TLS-inspecting proxy's CA, for one): %w", host, err)
	case errors.As(err, &hostErr), errors.As(err, &certErr):
		return fmt.Errorf("connect to %s: the server certificate did not verify: check ca_file, graph_url and authority_host: %w", host, err)
	case errors.As(err, &dnsErr), errors.As(err, &opErr):
		return fmt.Errorf("connect to %s: cannot reach it: check the network, firewall and proxy (HTTPS_PROXY), and graph_url and authority_host: %w", host, err)
	}
	return nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Host
}
