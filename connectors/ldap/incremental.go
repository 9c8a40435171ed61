package ldap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// cursor is what the state backend keeps between incremental runs. Scope fingerprints
// the configuration that shaped the last full read, so changing base DNs, filters or
// the attribute map forces a full read instead of mixing two scopes.
type cursor struct {
	Mode  string `json:"mode"`
	Scope string `json:"scope"`
	// DirSync is the AD DirSync cookie.
	DirSync []byte `json:"dirsync,omitempty"`
	// DC and Invocation name the AD domain controller the cursor came from
	// (dnsHostName) and its invocationId, which changes when it is restored.
	// Every connection of a run goes to that one DC (see dcPin).
	DC         string `json:"dc,omitempty"`
	Invocation string `json:"invocation,omitempty"`
	// USN is the DC's highestCommittedUSN (usn mode): another DC's USNs, or a
	// restored one's, are not comparable with it.
	USN int64 `json:"usn,omitempty"`
	// Sync holds an RFC 4533 cookie per base DN (syncrepl mode).
	Sync map[string][]byte `json:"sync,omitempty"`
	// Since is the timestamp attribute's value to read changes from (timestamp mode).
	Since string `json:"since,omitempty"`
}

func (s *source) scope() string {
	h := sha256.New()
	for _, part := range [][]string{{s.cfg.Incremental, s.cfg.userFilter(), s.cfg.GroupFilter, s.cfg.TimestampAttribute}, s.cfg.BaseDNs, s.attributes()} {
		for _, v := range part {
			fmt.Fprintf(h, "%q,", strings.ToLower(v))
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// ReadChanges implements connectors.Incremental. A nil cursor is a full read that
// first marks where the next incremental run starts, so nothing changed during the
// read is lost (it may be read twice, which applies idempotently).
func (s *source) ReadChanges(ctx context.Context, raw []byte, emit connectors.Emit) ([]byte, error) {
	s = s.pinned() // the cursor's USN or cookie and every search: one DC
	if s.cfg.Incremental == ModeNone {
		return nil, s.fullRead(ctx, emit)
	}
	if raw == nil {
		c := cursor{Mode: s.cfg.Incremental, Scope: s.scope()}
		if err := s.mark(ctx, &c); err != nil {
			return nil, fmt.Errorf("start %s tracking: %w", c.Mode, err)
		}
		if err := s.fullRead(ctx, emit); err != nil {
			return nil, err
		}
		return json.Marshal(c)
	}
	c, err := decodeCursor(raw, s.cfg.Incremental, s.scope())
	if err != nil {
		s.log.Info("stored cursor not usable: full read", zap.String("mode", s.cfg.Incremental), zap.String("why", err.Error()))
		return nil, connectors.ErrCursorExpired
	}
	switch c.Mode {
	case ModeDirSync:
		err = s.dirsyncChanges(ctx, &c, emit)
	case ModeUSN:
		err = s.usnChanges(ctx, &c, emit)
	case ModeSyncrepl:
		err = s.syncreplChanges(ctx, &c, emit)
	case ModeTimestamp:
		err = s.timestampChanges(ctx, &c, emit)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// decodeCursor reads a stored cursor. One of another mode or scope, or one
// without the position its mode continues from, is refused: the state backend
// hands back whatever bytes it holds, and continuing from a damaged position
// could skip changes, where a full read only costs time.
func decodeCursor(raw []byte, mode, scope string) (cursor, error) {
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil {
		return cursor{}, fmt.Errorf("stored cursor does not decode: %w", err)
	}
	var problem string
	switch {
	case c.Mode != mode:
		problem = fmt.Sprintf("is of mode %q, the connector uses %q", c.Mode, mode)
	case c.Scope != scope:
		problem = "is from another scope (base DNs, filters or attribute map changed)"
	case c.Mode == ModeDirSync && len(c.DirSync) == 0:
		problem = "has no DirSync cookie"
	case c.Mode == ModeUSN && (c.Invocation == "" || c.USN < 0):
		problem = "has no invocationId or a negative USN"
	case c.Mode == ModeSyncrepl && len(c.Sync) == 0:
		problem = "has no syncrepl cookies" // mark stores one per base DN
	case c.Mode == ModeTimestamp && c.Since == "":
		problem = "has no timestamp"
	}
	if problem != "" {
		return cursor{}, fmt.Errorf("stored cursor %s", problem)
	}
	return c, nil
}

// mark records, before a full read, the position incremental runs continue from.
func (s *source) mark(ctx context.Context, c *cursor) error {
	switch c.Mode {
	case ModeDirSync:
		conn, err := s.cfg.connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		// A first DirSync round lists every object; only its final cookie matters,
		// so ask for the anchor alone.
		return s.dirsync(ctx, conn, c, []string{"objectGUID"}, func(*goldap.Entry) error { return nil })
	case ModeUSN:
		root, err := s.rootDSE(ctx)
		if err != nil {
			return err
		}
		if root.invocation == "" {
			return errors.New("the server has no invocationId (dsServiceName): usn mode needs Active Directory; use incremental: syncrepl or timestamp")
		}
		c.DC, c.Invocation, c.USN = root.dc, root.invocation, root.usn
	case ModeSyncrepl:
		c.Sync = map[string][]byte{}
		conn, err := s.cfg.connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		for _, base := range s.cfg.BaseDNs {
			// A refresh that matches nothing returns only the cookie for "now".
			cookie, err := s.syncrepl(ctx, conn, base, "(&(objectClass=*)(!(objectClass=*)))", nil, func(connectors.Record) error { return nil })
			if err != nil {
				return err
			}
			c.Sync[base] = cookie
		}
	case ModeTimestamp:
		since, err := s.serverClock(ctx)
		if err != nil {
			return err
		}
		c.Since = since
	}
	return nil
}

// ---------------------------------------------------------------- AD DirSync

// dirsyncFilter matches users and groups, tombstones included (a tombstone keeps
// objectClass but loses mail and objectCategory, so the configured filters cannot
// select it); the configured filters apply when the changed objects are re-read.
const dirsyncFilter = "(|(objectClass=user)(objectClass=group))"

// dirsync runs DirSync rounds from c.DirSync until the server has no more, handing
// each entry to each, and leaves the last cookie in c.
func (s *source) dirsync(ctx context.Context, conn *goldap.Conn, c *cursor, attrs []string, each func(*goldap.Entry) error) error {
	root, err := s.rootDSE(ctx)
	if err != nil {
		return err
	}
	if root.nc == "" {
		return errors.New("the server has no defaultNamingContext: dirsync mode needs Active Directory")
	}
	// A DirSync cookie carries its up-to-dateness vector, so any DC of the
	// domain continues from it (reading some changes again, which applies
	// idempotently): a change of DC is worth a line, not a full read.
	if c.Invocation != "" && c.Invocation != root.invocation {
		s.log.Info("DirSync continues on another DC (or a restored one)",
			zap.String("was", c.DC), zap.String("now", root.dc), zap.String("invocation", root.invocation))
	}
	c.DC, c.Invocation = root.dc, root.invocation
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		req := goldap.NewSearchRequest(root.nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, dirsyncFilter, attrs, nil)
		res, err := conn.DirSync(req, 0, 0, c.DirSync)
		if err != nil {
			if goldap.IsErrorWithCode(err, goldap.LDAPResultInsufficientAccessRights) {
				return fmt.Errorf("dirsync: the bind account lacks the \"Replicating Directory Changes\" right on %s (grant it, or use incremental: usn): %w", root.nc, err)
			}
			if c.DirSync != nil && (goldap.IsErrorWithCode(err, goldap.LDAPResultUnwillingToPerform) || goldap.IsErrorWithCode(err, goldap.LDAPResultProtocolError)) {
				s.log.Warn("DirSync cookie refused: full read", zap.Error(err))
				return connectors.ErrCursorExpired
			}
			return fmt.Errorf("dirsync: %w", err)
		}
		for _, e := range res.Entries {
			if err := each(e); err != nil {
				return err
			}
		}
		ctl, ok := goldap.FindControl(res.Controls, goldap.ControlTypeDirSync).(*goldap.ControlDirSync)
		if !ok {
			return errors.New("dirsync: the server answered without a DirSync control")
		}
		if len(ctl.Cookie) > 0 {
			c.DirSync = ctl.Cookie
		}
		if ctl.Flags == 0 {
			return nil
		}
	}
}

// dirsyncChanges reads what changed since the cookie. Tombstones become deletions;
// every other changed object is re-read in full through the configured filters,
// because DirSync returns only the changed attributes (a disable arrives as
// userAccountControl alone).
func (s *source) dirsyncChanges(ctx context.Context, c *cursor, emit connectors.Emit) error {
	conn, err := s.cfg.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var changed [][]byte
	attrs := append(s.cfg.mapping.Attributes(), "isDeleted", "lastKnownParent")
	err = s.dirsync(ctx, conn, c, attrs, func(e *goldap.Entry) error {
		guid := e.GetRawAttributeValue("objectGUID")
		if strings.EqualFold(e.GetAttributeValue("isDeleted"), "TRUE") {
			return s.emitTombstone(e, emit)
		}
		if len(guid) == 16 {
			changed = append(changed, guid)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.reread(ctx, changed, emit)
}

// emitTombstone turns an AD tombstone into a deletion of its anchor when its last
// parent was in scope.
func (s *source) emitTombstone(e *goldap.Entry, emit connectors.Emit) error {
	anchor, err := dirmap.FormatGUID(e.GetRawAttributeValue("objectGUID"))
	if err != nil {
		return nil //nolint:nilerr // not an object we can have synchronised: nothing to delete
	}
	parent := e.GetAttributeValue("lastKnownParent")
	if i := strings.Index(parent, ">;"); strings.HasPrefix(parent, "<GUID=") && i > 0 {
		parent = parent[i+2:]
	}
	if parent != "" && !s.inScope(parent) {
		return nil
	}
	return emit(connectors.Record{Kind: kindOf(e, s.cfg.mapping), Anchor: anchor, Ref: dirmap.NormalizeDN(e.DN), Deleted: true})
}

// inScope reports whether dn is at or under one of the base DNs.
func (s *source) inScope(dn string) bool {
	for _, b := range s.cfg.BaseDNs {
		if underDN(dn, b) {
			return true
		}
	}
	return false
}

func kindOf(e *goldap.Entry, m dirmap.Mapping) connectors.Kind {
	for _, oc := range e.GetAttributeValues("objectClass") {
		for _, g := range m.GroupClasses {
			if strings.EqualFold(oc, g) {
				return connectors.KindGroup
			}
		}
	}
	return connectors.KindUser
}

// reread reads changed objects by objectGUID, 100 per search, through the
// configured filters and base DNs: an object now out of scope is not returned, and
// is left for the next full read to treat as absent.
func (s *source) reread(ctx context.Context, guids [][]byte, emit connectors.Emit) error {
	const batch = 100
	var queries []query
	for i := 0; i < len(guids); i += batch {
		var f strings.Builder
		f.WriteString("(&(|" + s.cfg.userFilter())
		if s.cfg.readsGroups() {
			f.WriteString(s.cfg.GroupFilter)
		}
		f.WriteString(")(|")
		for _, g := range guids[i:min(i+batch, len(guids))] {
			f.WriteString("(objectGUID=" + escapeBytes(g) + ")")
		}
		f.WriteString("))")
		for _, base := range s.cfg.BaseDNs {
			queries = append(queries, query{base: base, filter: f.String()})
		}
	}
	if len(queries) == 0 {
		return nil
	}
	return s.run(ctx, queries, emit)
}

// escapeBytes writes a binary value as an LDAP filter value (\hh per byte).
func escapeBytes(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "\\%02x", c)
	}
	return sb.String()
}
