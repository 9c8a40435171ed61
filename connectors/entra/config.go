// Package entra is the Microsoft Entra ID connector. It reads users (and
// mail-enabled groups with their members) through Microsoft Graph with the
// official msgraph-sdk-go and azidentity, incrementally through users/delta and
// groups/delta, and marks members of configured directory roles and holders of
// a licence so the store can tell who may be invited as an administrator.
//
// This is the only package that imports the Graph SDK: it is large (a cold build
// of it takes minutes), and nothing else should pay for it.
package entra

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// National clouds by name: where to sign in, where Graph is, and the scope to
// ask a token for.
var clouds = map[string]struct{ authority, graph string }{
	"global": {"https://login.microsoftonline.com/", "https://graph.microsoft.com"},
	"usgov":  {"https://login.microsoftonline.us/", "https://graph.microsoft.us"},
	"china":  {"https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn"},
}

// Config configures an entra connector.
//
//	type: entra
//	entra:
//	  tenant_id: 00000000-0000-0000-0000-000000000000
//	  client_id: 11111111-1111-1111-1111-111111111111
//	  client_secret: ${DIRSYNC_ENTRA_SECRET}   # or certificate_file
//	  cloud: global                           # global | usgov | china
//	  include_guests: false
//	  admin_roles: ["Global Administrator"]
//	  groups: true
//	  flatten_groups: true
type Config struct {
	TenantID     string        `yaml:"tenant_id"`
	ClientID     string        `yaml:"client_id"`
	ClientSecret config.Secret `yaml:"client_secret"`
	// CertificateFile holds the app's certificate and private key (PEM, or
	// PKCS#12 with certificate_password), used instead of a client secret.
	CertificateFile     string        `yaml:"certificate_file"`
	CertificatePassword config.Secret `yaml:"certificate_password"`
	// Cloud names the national cloud: global, usgov or china.
	Cloud string `yaml:"cloud"`
	// AuthorityHost and GraphURL override the cloud's sign-in host and Graph
	// endpoint (a private cloud, a proxy, or the fake Graph of the tests).
	AuthorityHost string `yaml:"authority_host"`
	GraphURL      string `yaml:"graph_url"`
	// CAFile adds a CA to trust for both (a TLS-inspecting proxy, the fake).
	CAFile string `yaml:"ca_file"`
	// IncludeGuests synchronises guest (B2B) users too; they are skipped by default.
	IncludeGuests bool `yaml:"include_guests"`
	// AdminRoles are directory roles (display name or role template id) whose
	// members are flagged as administrators.
	AdminRoles []string `yaml:"admin_roles"`
	// Groups reads mail-enabled groups and their members (default true).
	Groups *bool `yaml:"groups"`
	// FlattenGroups lists a group's members transitively, users only (default
	// true); false keeps nested groups as members.
	FlattenGroups *bool `yaml:"flatten_groups"`
	// PageSize is asked of Graph with Prefer: odata.maxpagesize (1 to 999).
	PageSize int `yaml:"page_size"`
	// MaxRetries and MaxRetryWait bound the retries of a throttled (429) or
	// unavailable (503, 504) request; Retry-After is honoured within them.
	MaxRetries   int           `yaml:"max_retries"`
	MaxRetryWait time.Duration `yaml:"max_retry_wait"`
	// Timeout bounds each HTTP request.
	Timeout time.Duration `yaml:"timeout"`
	// Parallel is how many users or groups are re-read at once after a delta.
	Parallel int `yaml:"parallel"`
	// PrimaryAddress decides which address is primary when mail and the
	// Exchange primary (the "SMTP:" proxy address) disagree: proxy (the
	// default: what Exchange sends as) or mail. Either way the other becomes
	// an alias and the run reports the disagreement.
	PrimaryAddress string `yaml:"primary_address"`

	scope string
}

// preferMail reports whether mail wins over a disagreeing Exchange primary.
func (c *Config) preferMail() bool { return c.PrimaryAddress == dirmap.PrimaryMail }

// New returns an empty Config for the registry.
func New() connectors.Config { return &Config{} }

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Prepare implements connectors.Config.
func (c *Config) Prepare(dir string) []error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, connectors.Problem(field, msg)) }
	switch {
	case c.TenantID == "":
		bad("tenant_id", "missing: the directory (tenant) id from the app registration's overview page")
	case !guidRE.MatchString(c.TenantID) && !strings.Contains(c.TenantID, "."):
		bad("tenant_id", fmt.Sprintf("%q: use the tenant's GUID or its domain (contoso.onmicrosoft.com)", c.TenantID))
	}
	switch {
	case c.ClientID == "":
		bad("client_id", "missing: the application (client) id of the app registration")
	case !guidRE.MatchString(c.ClientID):
		bad("client_id", fmt.Sprintf("%q is not a GUID: copy the application (client) id of the app registration", c.ClientID))
	}
	switch {
	case c.ClientSecret.IsSet() && c.CertificateFile != "":
		bad("certificate_file", "both client_secret and certificate_file are set: keep one")
	case !c.ClientSecret.IsSet() && c.CertificateFile == "":
		bad("client_secret", "missing: ${ENV_VAR} or file:PATH holding the app's client secret (or set certificate_file)")
	}
	if p := c.PrimaryAddress; p != "" && p != dirmap.PrimaryProxy && p != dirmap.PrimaryMail {
		bad("primary_address", fmt.Sprintf("%q: use %q (the Exchange primary SMTP: address wins, the default) or %q", p, dirmap.PrimaryProxy, dirmap.PrimaryMail))
	}
	c.ClientSecret.ResolvePath(dir)
	c.CertificatePassword.ResolvePath(dir)
	for field, p := range map[string]*string{"certificate_file": &c.CertificateFile, "ca_file": &c.CAFile} {
		if *p == "" {
			continue
		}
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
		if _, err := os.Stat(*p); err != nil {
			bad(field, fmt.Sprintf("cannot read %s: %v", *p, err))
		}
	}
	if c.Cloud == "" {
		c.Cloud = "global"
	}
	cl, ok := clouds[c.Cloud]
	if !ok {
		bad("cloud", fmt.Sprintf("%q: use global, usgov or china (or set authority_host and graph_url)", c.Cloud))
	}
	c.scope = cl.graph + "/.default"
	if c.AuthorityHost == "" {
		c.AuthorityHost = cl.authority
	} else if err := httpsURL(c.AuthorityHost); err != nil {
		bad("authority_host", err.Error())
	}
	if !strings.HasSuffix(c.AuthorityHost, "/") {
		c.AuthorityHost += "/"
	}
	if c.GraphURL == "" {
		c.GraphURL = cl.graph + "/v1.0"
	} else if err := httpsURL(c.GraphURL); err != nil {
		bad("graph_url", err.Error())
	}
	c.GraphURL = strings.TrimSuffix(c.GraphURL, "/")
	for i, r := range c.AdminRoles {
		if strings.TrimSpace(r) == "" {
			bad(fmt.Sprintf("admin_roles[%d]", i), "empty: name a directory role such as \"Global Administrator\"")
		}
	}
	defaults := []struct {
		field    string
		v        *int
		def, max int
	}{{"page_size", &c.PageSize, 999, 999}, {"max_retries", &c.MaxRetries, 5, 10}, {"parallel", &c.Parallel, 8, 32}}
	for _, d := range defaults {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 1 || *d.v > d.max {
			bad(d.field, fmt.Sprintf("%d: use 1 to %d", *d.v, d.max))
		}
	}
	if c.MaxRetryWait == 0 {
		c.MaxRetryWait = 2 * time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 100 * time.Second
	}
	if c.MaxRetryWait < 0 || c.Timeout < 0 {
		bad("timeout", "max_retry_wait and timeout must be positive durations such as 30s")
	}
	return errs
}

func httpsURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q: use an https:// URL with a host", s)
	}
	return nil
}

func (c *Config) readsGroups() bool    { return c.Groups == nil || *c.Groups }
func (c *Config) flattensGroups() bool { return c.FlattenGroups == nil || *c.FlattenGroups }

// Open implements connectors.Config. It builds the Graph client (and reads the
// certificate or secret) but does not call Graph: the first read signs in.
func (c *Config) Open(name string, log *zap.Logger) (connectors.Source, error) {
	log = log.Named("entra").With(zap.String("tenant", c.TenantID), zap.String("graph", c.GraphURL))
	client, adapter, err := newGraphClient(c, log)
	if err != nil {
		return nil, fmt.Errorf("entra connector %s: %w", name, err)
	}
	return &source{cfg: c, log: log, client: client, adapter: adapter}, nil
}
