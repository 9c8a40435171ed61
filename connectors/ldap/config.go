// Package ldap is the Active Directory / OpenLDAP connector. It reads people and
// mail-enabled groups with streamed, paged searches (several in parallel), maps them
// with the dirmap presets, and reads incrementally with AD DirSync, AD uSNChanged
// polling, OpenLDAP RFC 4533 sync or a timestamp attribute.
package ldap

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// Incremental modes.
const (
	ModeDirSync   = "dirsync"
	ModeUSN       = "usn"
	ModeSyncrepl  = "syncrepl"
	ModeTimestamp = "timestamp"
	ModeNone      = "none"
)

// Config configures an ldap connector.
//
//	type: ldap
//	ldap:
//	  url: ldaps://dc1.example.com:636
//	  ca_file: /etc/dirsync/ca.pem
//	  bind_dn: CN=svc-dirsync,OU=Service,DC=example,DC=com
//	  bind_password: ${DIRSYNC_LDAP_PASSWORD}
//	  preset: ad                       # or openldap
//	  base_dns: ["OU=Staff,DC=example,DC=com"]
//	  user_filter: "(&(objectClass=user)(mail=*))"
//	  group_filter: "(&(objectClass=group)(mail=*))"
//	  member_of: ["CN=Mail Users,OU=Groups,DC=example,DC=com"]
//	  page_size: 1000
//	  incremental: dirsync             # dirsync | usn | syncrepl | timestamp | none
//	  attributes: {title: extensionAttribute1}
type Config struct {
	URL      string `yaml:"url"`
	StartTLS bool   `yaml:"start_tls"`
	CAFile   string `yaml:"ca_file"`
	// ServerName overrides the name the server certificate is checked against.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns certificate verification off. It is logged at every
	// connection; never use it outside a lab.
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	BindDN             string        `yaml:"bind_dn"`
	BindPassword       config.Secret `yaml:"bind_password"`
	// AllowPlaintextBind permits a simple bind over ldap:// without start_tls,
	// which sends the password in clear; without it that is a configuration
	// error. For a lab only; it is logged at every start.
	AllowPlaintextBind bool          `yaml:"allow_plaintext_bind"`
	ConnectTimeout     time.Duration `yaml:"connect_timeout"`
	// Timeout bounds each LDAP operation (one page of a search, a bind).
	Timeout time.Duration `yaml:"timeout"`

	Preset      string   `yaml:"preset"`
	BaseDNs     []string `yaml:"base_dns"`
	UserFilter  string   `yaml:"user_filter"`
	GroupFilter string   `yaml:"group_filter"`
	// MemberOf limits users to members of these groups (through the memberOf
	// attribute: AD, or OpenLDAP with the memberof overlay). Empty = no limit.
	MemberOf []string `yaml:"member_of"`
	PageSize int      `yaml:"page_size"`
	// Parallel is the number of concurrent paged searches per base DN in a full
	// read (the directory is split by entryUUID on OpenLDAP, by uSNCreated on AD).
	Parallel    int    `yaml:"parallel"`
	Incremental string `yaml:"incremental"`
	// TimestampAttribute is the ordered attribute of incremental: timestamp:
	// entryCSN (the default; unique per change) or modifyTimestamp on OpenLDAP,
	// whenChanged on AD.
	TimestampAttribute string         `yaml:"timestamp_attribute"`
	Attributes         dirmap.Mapping `yaml:"attributes"`

	mapping dirmap.Mapping
	// pin, set per run (source.pinned), sends every connection to one address.
	pin *dcPin
	// resolver and dialer replace net's in tests; nil in production.
	resolver resolver
	dialer   func(ctx context.Context, network, addr string) (net.Conn, error)
	// rangeStep, when set, makes group reads ask for member;range=0-(rangeStep-1)
	// explicitly, as AD does by itself for groups over 1500 members (tests use it
	// to drive range retrieval on servers that never force it).
	rangeStep int
}

// New returns an empty Config for the registry.
func New() connectors.Config { return &Config{} }

// Prepare implements connectors.Config.
func (c *Config) Prepare(dir string) []error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, connectors.Problem(field, msg)) }
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("url", "missing: ldaps://host:636 (or ldap://host:389 with start_tls: true)")
	case err != nil || u.Host == "":
		bad("url", fmt.Sprintf("%q is not an ldap:// or ldaps:// URL with a host", c.URL))
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		bad("url", fmt.Sprintf("scheme %q: use ldaps:// or ldap:// (with start_tls: true)", u.Scheme))
	case u.Scheme == "ldaps" && c.StartTLS:
		bad("start_tls", "ldaps:// is already TLS: remove start_tls or use ldap://")
	}
	if c.CAFile != "" {
		if !filepath.IsAbs(c.CAFile) {
			c.CAFile = filepath.Join(dir, c.CAFile)
		}
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file", fmt.Sprintf("cannot read %s: %v", c.CAFile, err))
		}
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		bad("insecure_skip_verify", "ca_file is set, so verification can work: remove insecure_skip_verify")
	}
	if err == nil && u.Scheme == "ldap" && !c.StartTLS && c.BindDN != "" && !c.AllowPlaintextBind {
		bad("url", fmt.Sprintf("%s sends the bind password of %s in clear: use ldaps:// or start_tls: true; only in a lab, set allow_plaintext_bind: true", c.URL, c.BindDN))
	}
	if c.BindDN != "" && !c.BindPassword.IsSet() {
		bad("bind_password", "missing for bind_dn: ${ENV_VAR} or file:PATH")
	}
	c.BindPassword.ResolvePath(dir)
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.ConnectTimeout < 0 || c.Timeout < 0 {
		bad("timeout", "timeouts must be positive durations such as 30s")
	}
	if c.Preset == "" {
		bad("preset", "missing: ad or openldap")
	}
	base, err := dirmap.Preset(c.Preset)
	if err != nil && c.Preset != "" {
		bad("preset", err.Error())
	}
	c.mapping = base.Override(c.Attributes)
	if err == nil {
		errs = append(errs, c.mapping.Check("attributes")...)
	}
	if len(c.BaseDNs) == 0 {
		bad("base_dns", "missing: the subtrees to read, e.g. [\"OU=Staff,DC=example,DC=com\"]")
	}
	for i, dn := range c.BaseDNs {
		if _, err := goldap.ParseDN(dn); err != nil || dn == "" {
			bad(fmt.Sprintf("base_dns[%d]", i), fmt.Sprintf("%q is not a DN", dn))
		}
	}
	for i, a := range c.BaseDNs {
		for j, b := range c.BaseDNs {
			if i != j && a != "" && b != "" && (i < j || !strings.EqualFold(a, b)) && underDN(a, b) {
				bad(fmt.Sprintf("base_dns[%d]", i), fmt.Sprintf("%q lies within base_dns[%d] %q: every object would be read twice; keep the outer one", a, j, b))
			}
		}
	}
	for i, dn := range c.MemberOf {
		if _, err := goldap.ParseDN(dn); err != nil || dn == "" {
			bad(fmt.Sprintf("member_of[%d]", i), fmt.Sprintf("%q is not a group DN", dn))
		}
	}
	if c.UserFilter == "" {
		c.UserFilter = defaultUserFilter(c.Preset)
	}
	if c.GroupFilter == "" {
		c.GroupFilter = defaultGroupFilter(c.Preset)
	}
	for field, f := range map[string]string{"user_filter": c.UserFilter, "group_filter": c.GroupFilter} {
		if f == "-" && field == "group_filter" {
			continue // groups not read
		}
		if _, err := goldap.CompileFilter(f); err != nil {
			bad(field, fmt.Sprintf("%q: %v (write it in RFC 4515 form, in parentheses)", f, err))
		}
	}
	switch {
	case c.PageSize == 0:
		c.PageSize = 1000
	case c.PageSize < 0 || c.PageSize > 5000:
		bad("page_size", fmt.Sprintf("%d: use 1 to 5000 (AD caps pages at 1000)", c.PageSize))
	case c.Preset == "ad" && c.PageSize > 1000:
		bad("page_size", fmt.Sprintf("%d: AD returns at most 1000 entries per page (MaxPageSize)", c.PageSize))
	}
	if c.Parallel == 0 {
		c.Parallel = 4
	}
	if c.Parallel < 1 || c.Parallel > 16 {
		bad("parallel", fmt.Sprintf("%d: use 1 to 16", c.Parallel))
	}
	if c.Incremental == "" {
		c.Incremental = map[string]string{"ad": ModeDirSync, "openldap": ModeSyncrepl}[c.Preset]
	}
	switch c.Incremental {
	case ModeDirSync, ModeUSN, ModeSyncrepl, ModeTimestamp, ModeNone:
	default:
		bad("incremental", fmt.Sprintf("%q: use dirsync, usn (AD), syncrepl, timestamp (OpenLDAP) or none", c.Incremental))
	}
	if c.TimestampAttribute == "" {
		c.TimestampAttribute = map[string]string{"ad": "whenChanged"}[c.Preset]
		if c.TimestampAttribute == "" {
			c.TimestampAttribute = "entryCSN"
		}
	}
	return errs
}

// underDN reports whether dn is base or lies below it (DNs compared normalised).
func underDN(dn, base string) bool {
	d, b := dirmap.NormalizeDN(dn), dirmap.NormalizeDN(base)
	if d == b {
		return true
	}
	if !strings.HasSuffix(d, ","+b) {
		return false
	}
	// The comma must separate RDNs: "cn=x\,dc=example" is one RDN whose
	// value ends in ",dc=example", not an entry below dc=example.
	slashes := 0
	for i := len(d) - len(b) - 2; i >= 0 && d[i] == '\\'; i-- {
		slashes++
	}
	return slashes%2 == 0
}

func defaultUserFilter(preset string) string {
	switch preset {
	case "ad":
		return "(&(objectCategory=person)(objectClass=user)(|(mail=*)(proxyAddresses=smtp:*)))"
	default:
		return "(&(objectClass=inetOrgPerson)(mail=*))"
	}
}

func defaultGroupFilter(preset string) string {
	switch preset {
	case "ad":
		return "(&(objectClass=group)(|(mail=*)(proxyAddresses=smtp:*)))"
	default:
		return "(&(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))(mail=*))"
	}
}

// userFilter is the configured user filter narrowed to members of member_of.
func (c *Config) userFilter() string {
	if len(c.MemberOf) == 0 {
		return c.UserFilter
	}
	return "(&" + c.UserFilter + memberOfFilter(c.MemberOf) + ")"
}

// readsGroups reports whether groups are in scope (group_filter "-" turns them off).
func (c *Config) readsGroups() bool { return c.GroupFilter != "-" && c.mapping.Members != "" }

// Open implements connectors.Config. It does not connect: every read opens a fresh
// connection, so a connection dropped between runs is replaced before the next one
// and one dropped during a read fails that read.
func (c *Config) Open(name string, log *zap.Logger) (connectors.Source, error) {
	log = log.Named("ldap").With(zap.String("url", c.URL))
	if c.InsecureSkipVerify {
		log.Warn("TLS certificate verification is OFF (insecure_skip_verify): anyone on the path can read the bind password")
	}
	if strings.HasPrefix(c.URL, "ldap://") && !c.StartTLS && c.BindDN != "" {
		log.Warn("binding over plain ldap:// without start_tls (allow_plaintext_bind): the password crosses the network in clear")
	}
	return &source{cfg: c, log: log}, nil
}
