package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/connectors"
)

var _ connectors.Checker = (*source)(nil)

// Check implements connectors.Checker: it connects and binds as a read does
// (connect explains TLS and bind failures), searches each base DN at base scope,
// and proves the incremental mode can run with the smallest request that uses
// it. Every step stays on the bound connection, so what passes here passes for
// the bind account a run uses.
func (s *source) Check(ctx context.Context) (string, error) {
	s = s.pinned()
	c := s.cfg
	conn, err := c.connect(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// Operations on a goldap.Conn take no context: closing the connection is
	// what ends one when ctx does.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var done []string
	if c.BindDN == "" {
		done = append(done, "connected to "+c.URL+tlsNote(c)+" anonymously")
	} else {
		done = append(done, "bound to "+c.URL+tlsNote(c)+" as "+c.BindDN)
	}
	for i, base := range c.BaseDNs {
		if err := checkBase(conn, i, base); err != nil {
			return "", ctxErr(ctx, err)
		}
	}
	if len(c.BaseDNs) == 1 {
		done = append(done, "base DN "+c.BaseDNs[0]+" readable")
	} else {
		done = append(done, fmt.Sprintf("%d base DNs readable", len(c.BaseDNs)))
	}
	mode, err := s.checkIncremental(ctx, conn)
	if err != nil {
		return "", ctxErr(ctx, err)
	}
	if mode != "" {
		done = append(done, mode)
	}
	return strings.Join(done, "; "), nil
}

func tlsNote(c *Config) string {
	if c.StartTLS {
		return " (StartTLS)"
	}
	return ""
}

// ctxErr prefers the context's error to the one a closed connection gave.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// checkBase reads the base DN's own entry. Servers answer noSuchObject both for
// a DN that does not exist and for one the account may not see.
func checkBase(conn *goldap.Conn, i int, base string) error {
	res, err := conn.Search(goldap.NewSearchRequest(base, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		return fmt.Errorf("base DN %q: no such entry, or the bind account may not see it: check base_dns[%d] (spelling, and that the OU exists) and the account's read access: %w", base, i, err)
	case goldap.IsErrorWithCode(err, goldap.LDAPResultInsufficientAccessRights):
		return fmt.Errorf("base DN %q: the bind account may not read it: grant it read access there, or check base_dns[%d]: %w", base, i, err)
	case err != nil:
		return fmt.Errorf("base-scope search of base DN %q: %w", base, err)
	case len(res.Entries) == 0:
		return fmt.Errorf("base DN %q: the server returned no entry for it (the bind account may not read it): check base_dns[%d] and the account's read access", base, i)
	}
	return nil
}

// checkIncremental proves the configured incremental mode can work and says so.
func (s *source) checkIncremental(ctx context.Context, conn *goldap.Conn) (string, error) {
	switch s.cfg.Incremental {
	case ModeDirSync:
		return s.checkDirSync(ctx, conn)
	case ModeSyncrepl:
		return checkSyncrepl(conn)
	case ModeUSN:
		// What mark needs before a usn read.
		root, err := s.rootDSE(ctx)
		if err != nil {
			return "", err
		}
		if root.invocation == "" {
			return "", errors.New("usn: the server has no invocationId (dsServiceName): usn mode needs Active Directory; use incremental: syncrepl or timestamp")
		}
		// Read access to CN=Deleted Objects is not proved here: an account
		// without it still sees the container, just none of the tombstones in
		// it, which looks the same as a domain with no deletions yet.
		return "uSNChanged tracking available", nil
	case ModeTimestamp:
		if _, err := s.serverClock(ctx); err != nil {
			return "", fmt.Errorf("timestamp: %w", err)
		}
		return "server clock for " + s.cfg.TimestampAttribute + " readable", nil
	}
	return "", nil
}

// checkDirSync sends one DirSync request as the bind account and stops at its
// first entry (or its end): the server checks the "Replicating Directory
// Changes" right before it returns anything.
func (s *source) checkDirSync(ctx context.Context, conn *goldap.Conn) (string, error) {
	root, err := s.rootDSE(ctx)
	if err != nil {
		return "", err
	}
	if root.nc == "" {
		return "", errors.New("dirsync: the server has no defaultNamingContext: dirsync mode needs Active Directory; use incremental: syncrepl or timestamp")
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := goldap.NewSearchRequest(root.nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 1, 0, false,
		dirsyncFilter, []string{"objectGUID"}, nil)
	resp := conn.DirSyncAsync(dctx, req, 1, 0, 0, nil)
	for resp.Next() {
		if resp.Entry() != nil {
			return "DirSync permitted", nil // the right was checked before the first entry
		}
	}
	err = resp.Err()
	switch {
	case err == nil, goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded):
		return "DirSync permitted", nil
	case goldap.IsErrorWithCode(err, goldap.LDAPResultInsufficientAccessRights):
		return "", fmt.Errorf("dirsync: the bind account %s lacks the \"Replicating Directory Changes\" right on %s: grant it that right on the domain (or use incremental: usn): %w", s.cfg.BindDN, root.nc, err)
	}
	return "", fmt.Errorf("dirsync request on %s: %w", root.nc, err)
}

// checkSyncrepl looks for the RFC 4533 Content Synchronization control among
// the rootDSE's supportedControl, which OpenLDAP lists once syncprov is loaded.
func checkSyncrepl(conn *goldap.Conn) (string, error) {
	res, err := conn.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedControl"}, nil))
	if err != nil {
		return "", fmt.Errorf("syncrepl: read rootDSE supportedControl: %w", err)
	}
	if len(res.Entries) == 0 || !slices.Contains(res.Entries[0].GetAttributeValues("supportedControl"), goldap.ControlTypeSyncRequest) {
		return "", fmt.Errorf("syncrepl: the server does not list the sync control %s in its rootDSE supportedControl: on OpenLDAP load the syncprov overlay on the database holding the base DNs, or use incremental: timestamp (on Active Directory, dirsync or usn)", goldap.ControlTypeSyncRequest)
	}
	return "syncrepl supported", nil
}
