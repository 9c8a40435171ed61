package fakegraph

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is SHA-1 by definition
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/stretchr/testify/require"
)

var graphScope = policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}

// clientOptions points azidentity at the fake, through the fake's client.
func clientOptions(s *Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: s.AuthorityHost(),
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				"graph": {Endpoint: s.GraphURL(), Audience: "https://graph.microsoft.com"},
			},
		},
		Transport: s.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// requireGraphAccepts checks that Graph takes the access token.
func requireGraphAccepts(t *testing.T, s *Server, tok azcore.AccessToken) {
	t.Helper()
	require.NotEmpty(t, tok.Token)
	require.WithinDuration(t, time.Now().Add(time.Hour), tok.ExpiresOn, 5*time.Minute)
	p := getPage(t, s, tok.Token, "/users/delta?$select=id")
	require.NotEmpty(t, p.DeltaLink)
}

func TestAzidentityClientSecretCredential(t *testing.T) {
	s := start(t, Options{ClientSecret: "a-real-looking-secret"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cred, err := azidentity.NewClientSecretCredential(s.TenantID(), s.ClientID(), "a-real-looking-secret",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	require.NoError(t, err)
	tok, err := cred.GetToken(ctx, graphScope)
	require.NoError(t, err)
	requireGraphAccepts(t, s, tok)
	require.Equal(t, 1, s.Requests("/"+s.TenantID()+"/v2.0/.well-known/openid-configuration"), "MSAL read the metadata")
	require.Equal(t, 1, s.Requests("/"+s.TenantID()+"/oauth2/v2.0/token"))

	// The token is cached: no second token request.
	_, err = cred.GetToken(ctx, graphScope)
	require.NoError(t, err)
	require.Equal(t, 1, s.Requests("/"+s.TenantID()+"/oauth2/v2.0/token"))

	bad, err := azidentity.NewClientSecretCredential(s.TenantID(), s.ClientID(), "not-the-secret",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	require.NoError(t, err)
	_, err = bad.GetToken(ctx, graphScope)
	require.ErrorContains(t, err, "AADSTS7000215")
	require.NotContains(t, err.Error(), "not-the-secret")
}

// Without DisableInstanceDiscovery, MSAL asks login.microsoftonline.com about
// any host it does not know; the fake's client refuses to go there.
func TestAzidentityInstanceDiscoveryMustBeDisabled(t *testing.T) {
	s := start(t, Options{})
	cred, err := azidentity.NewClientSecretCredential(s.TenantID(), s.ClientID(), defaultSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cred.GetToken(ctx, graphScope)
	require.ErrorContains(t, err, "refusing to dial login.microsoftonline.com:443")
	require.Zero(t, s.Requests("/"+s.TenantID()+"/oauth2/v2.0/token"))
}

// selfSignedRSA makes an app certificate as `az ad sp credential reset --create-cert` would.
func selfSignedRSA(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "dirsync-test-app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, key
}

func TestAzidentityClientCertificateCredential(t *testing.T) {
	cert, key := selfSignedRSA(t)
	s := start(t, Options{ClientCert: cert})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, chain := range []bool{false, true} {
		cred, err := azidentity.NewClientCertificateCredential(s.TenantID(), s.ClientID(), []*x509.Certificate{cert}, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(s),
				DisableInstanceDiscovery: true, SendCertificateChain: chain})
		require.NoError(t, err)
		tok, err := cred.GetToken(ctx, graphScope)
		require.NoError(t, err, "x5c sent: %v", chain)
		requireGraphAccepts(t, s, tok)
	}

	// A certificate the app does not know.
	other, otherKey := selfSignedRSA(t)
	cred, err := azidentity.NewClientCertificateCredential(s.TenantID(), s.ClientID(), []*x509.Certificate{other}, otherKey,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	require.NoError(t, err)
	_, err = cred.GetToken(ctx, graphScope)
	require.ErrorContains(t, err, "AADSTS700027")

	// Hand-made assertions: RS256 with x5t (as ADFS-style clients send), a
	// wrong signing key, an expired one, another audience.
	now := time.Now()
	cases := []struct {
		name, alg string
		key       *rsa.PrivateKey
		claims    map[string]any
		wantErr   string
	}{
		{"RS256 x5t", "RS256", key, nil, ""},
		{"signed by another key", "PS256", otherKey, nil, "signature validation"},
		{"expired", "PS256", key, map[string]any{"exp": now.Add(-time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix()}, "valid time range"},
		{"another audience", "PS256", key, map[string]any{"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token"}, "audience"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{"aud": s.URL() + "/" + s.TenantID() + "/oauth2/v2.0/token", "iss": s.ClientID(),
				"sub": s.ClientID(), "jti": tc.name, "exp": now.Add(10 * time.Minute).Unix(), "nbf": now.Unix()}
			for k, v := range tc.claims {
				claims[k] = v
			}
			jwt := signAssertion(t, tc.alg, cert, tc.key, claims)
			cred, err := azidentity.NewClientAssertionCredential(s.TenantID(), s.ClientID(),
				func(context.Context) (string, error) { return jwt, nil },
				&azidentity.ClientAssertionCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
			require.NoError(t, err)
			tok, err := cred.GetToken(ctx, graphScope)
			if tc.wantErr == "" {
				require.NoError(t, err)
				requireGraphAccepts(t, s, tok)
				return
			}
			require.ErrorContains(t, err, "AADSTS700027")
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), jwt)
		})
	}
}

// signAssertion builds a JWT client assertion naming cert by thumbprint.
func signAssertion(t *testing.T, alg string, cert *x509.Certificate, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if alg == "RS256" {
		sum := sha1.Sum(cert.Raw) //nolint:gosec // x5t is SHA-1 by definition
		hdr["x5t"] = base64.RawURLEncoding.EncodeToString(sum[:])
	} else {
		sum := sha256.Sum256(cert.Raw)
		hdr["x5t#S256"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	part := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := part(hdr) + "." + part(claims)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	if alg == "RS256" {
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	} else {
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
