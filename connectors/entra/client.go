package entra

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"go.uber.org/zap"
)

// newGraphClient builds the SDK client: azidentity credential (secret or
// certificate) for the configured cloud, and the SDK's middleware pipeline with
// the retry handler configured explicitly (bounded retries and total wait,
// Retry-After honoured, every throttle logged).
func newGraphClient(c *Config, log *zap.Logger) (*msgraph.GraphServiceClient, *msgraph.GraphRequestAdapter, error) {
	base, err := baseTransport(c)
	if err != nil {
		return nil, nil, err
	}
	// azidentity has its own retry policy for the token endpoint; it shares the
	// TLS settings but not the Graph middleware.
	tokenHTTP := &http.Client{Transport: base, Timeout: c.Timeout}
	cred, err := credential(c, tokenHTTP)
	if err != nil {
		return nil, nil, err
	}
	graphURL, err := url.Parse(c.GraphURL)
	if err != nil {
		return nil, nil, fmt.Errorf("graph_url: %w", err)
	}
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{c.scope},
		[]string{graphURL.Host, graphURL.Hostname()})
	if err != nil {
		return nil, nil, fmt.Errorf("graph authentication provider: %w", err)
	}
	retry := &khttp.RetryHandlerOptions{
		MaxRetries:   c.MaxRetries,
		DelaySeconds: 2,
		ShouldRetry:  retryPolicy(c, log),
	}
	kiotaMW, err := khttp.GetDefaultMiddlewaresWithOptions(retry)
	if err != nil {
		return nil, nil, fmt.Errorf("graph middleware: %w", err)
	}
	mw := append([]khttp.Middleware{msgraphcore.NewGraphTelemetryHandler(&msgraphcore.GraphClientOptions{})}, kiotaMW...)
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(base, mw...),
		Timeout:   c.Timeout,
		// Graph's paging links are absolute; a redirect is the SDK's own business.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		return nil, nil, fmt.Errorf("graph request adapter: %w", err)
	}
	adapter.SetBaseUrl(c.GraphURL)
	return msgraph.NewGraphServiceClient(adapter), adapter, nil
}

// retryPolicy decides, for a 429, 503 or 504 that the SDK's retry handler may
// retry, whether to: yes while the retries so far plus the next wait stay within
// max_retry_wait. The SDK itself caps attempts at max_retries.
func retryPolicy(c *Config, log *zap.Logger) func(time.Duration, int, *http.Request, *http.Response) bool {
	return func(waited time.Duration, attempt int, req *http.Request, resp *http.Response) bool {
		next := retryAfter(resp)
		ok := waited+next <= c.MaxRetryWait && req.Context().Err() == nil
		log.Warn("graph is throttling or unavailable",
			zap.Int("status", resp.StatusCode), zap.String("path", req.URL.Path),
			zap.Duration("retry_after", next), zap.Int("attempt", attempt+1),
			zap.Duration("waited", waited), zap.Bool("retrying", ok))
		return ok
	}
}

// retryAfter reads Retry-After in seconds (Graph never sends a date); without
// one, the SDK's backoff applies and is counted as its base delay.
func retryAfter(resp *http.Response) time.Duration {
	return retryAfterValue(resp.Header.Get("Retry-After"))
}

func baseTransport(c *Config) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = c.Parallel + 2
	if c.CAFile == "" {
		return t, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", c.CAFile)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// credential returns the app-only credential. Secrets are read here, once; an
// error names the reference, never the value.
func credential(c *Config, httpClient *http.Client) (azcore.TokenCredential, error) {
	opts := policy.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost},
		Transport: httpClient,
	}
	// Instance discovery asks login.microsoftonline.com about the authority; a
	// host that is not a public cloud's (a private cloud, the fake) must skip it.
	known := false
	for _, cl := range clouds {
		known = known || cl.authority == c.AuthorityHost
	}
	if c.CertificateFile != "" {
		data, err := os.ReadFile(c.CertificateFile)
		if err != nil {
			return nil, fmt.Errorf("certificate_file: %w", err)
		}
		var password []byte
		if c.CertificatePassword.IsSet() {
			p, err := c.CertificatePassword.Value()
			if err != nil {
				return nil, fmt.Errorf("certificate_password: %w", err)
			}
			password = []byte(p)
		}
		certs, key, err := azidentity.ParseCertificates(data, password)
		if err != nil {
			return nil, fmt.Errorf("certificate_file %s: %w (give a PEM file with the certificate and its unencrypted private key, or a PKCS#12 file and certificate_password)", c.CertificateFile, err)
		}
		cred, err := azidentity.NewClientCertificateCredential(c.TenantID, c.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: !known})
		if err != nil {
			return nil, fmt.Errorf("certificate credential: %w", err)
		}
		return cred, nil
	}
	secret, err := c.ClientSecret.Value()
	if err != nil {
		return nil, fmt.Errorf("client_secret: %w", err)
	}
	if secret == "" {
		return nil, errors.New("client_secret: the secret is empty")
	}
	cred, err := azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: !known})
	if err != nil {
		return nil, fmt.Errorf("client secret credential: %w", err)
	}
	return cred, nil
}
