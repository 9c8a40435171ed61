package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
)

// ---------------------------------------------------------------- AD uSNChanged

// usnChanges reads objects whose uSNChanged passed the cursor, and the tombstones
// deleted since, from the same DC. A different invocationId means the DC was
// restored from backup (or another DC answered): its USNs are not comparable, so
// the run falls back to a full read.
func (s *source) usnChanges(ctx context.Context, c *cursor, emit connectors.Emit) error {
	root, err := s.rootDSE(ctx)
	if err != nil {
		return err
	}
	if root.invocation != c.Invocation {
		s.log.Warn("another DC answered, or the DC was restored: its USNs are not comparable with the cursor's: full read",
			zap.String("dc_was", c.DC), zap.String("invocation_was", c.Invocation),
			zap.String("dc_now", root.dc), zap.String("invocation_now", root.invocation))
		return fmt.Errorf("%w: the cursor is from invocationId %s (%s), %s (%s) answers", connectors.ErrCursorExpired, c.Invocation, c.DC, root.invocation, root.dc)
	}
	c.DC = root.dc
	since := fmt.Sprintf("(uSNChanged>=%d)", c.USN+1)
	var queries []query
	for _, base := range s.cfg.BaseDNs {
		queries = append(queries, query{base: base, filter: "(&" + s.cfg.userFilter() + since + ")"})
		if s.cfg.readsGroups() {
			queries = append(queries, query{base: base, filter: "(&" + s.cfg.GroupFilter + since + ")"})
		}
	}
	if err := s.run(ctx, queries, emit); err != nil {
		return err
	}
	if err := s.tombstones(ctx, root.nc, since, emit); err != nil {
		return err
	}
	c.USN = root.usn
	return nil
}

// tombstones emits the deletions recorded in CN=Deleted Objects since a USN.
func (s *source) tombstones(ctx context.Context, nc, since string, emit connectors.Emit) error {
	conn, err := s.cfg.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	q := query{
		base:     "CN=Deleted Objects," + nc,
		filter:   "(&(isDeleted=TRUE)" + dirsyncFilter + since + ")",
		controls: []goldap.Control{goldap.NewControlMicrosoftShowDeleted()},
	}
	err = pagedSearch(ctx, conn, s.cfg.PageSize, q, []string{"objectGUID", "objectClass", "lastKnownParent", "isDeleted"},
		func(e *goldap.Entry) error { return s.emitTombstone(e, emit) })
	if err != nil {
		return fmt.Errorf("read deleted objects under %s (the bind account needs read access to it): %w", q.base, err)
	}
	return nil
}

// ---------------------------------------------------------------- timestamps

// timestampChanges reads objects whose timestamp attribute is at or after the
// cursor. Deletions leave no entry to read: the periodic full read finds them.
func (s *source) timestampChanges(ctx context.Context, c *cursor, emit connectors.Emit) error {
	next, err := s.serverClock(ctx)
	if err != nil {
		return err
	}
	since := s.sinceFilter(c.Since)
	var queries []query
	for _, base := range s.cfg.BaseDNs {
		queries = append(queries, query{base: base, filter: "(&" + s.cfg.userFilter() + since + ")"})
		if s.cfg.readsGroups() {
			queries = append(queries, query{base: base, filter: "(&" + s.cfg.GroupFilter + since + ")"})
		}
	}
	if err := s.run(ctx, queries, emit); err != nil {
		return err
	}
	c.Since = next
	return nil
}

// sinceFilter selects entries changed after the cursor. entryCSN is unique per
// change, so "after" is strict and nothing is read twice; a timestamp of one-second
// resolution must include the cursor's own second (a change later in that second
// would otherwise be lost), so the objects changed in it are read again, unchanged.
func (s *source) sinceFilter(since string) string {
	v := goldap.EscapeFilter(since)
	if strings.EqualFold(s.cfg.TimestampAttribute, "entryCSN") {
		return "(!(entryCSN<=" + v + "))"
	}
	return "(" + s.cfg.TimestampAttribute + ">=" + v + ")"
}

// serverClock is the server's idea of "now" in the timestamp attribute's syntax,
// read from the naming context's contextCSN (OpenLDAP writes it on every change)
// or AD's rootDSE currentTime. Using the server's clock, read before the search,
// means a change made while the search runs is read again next time, not lost.
func (s *source) serverClock(ctx context.Context) (string, error) {
	conn, err := s.cfg.connect(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	res, err := conn.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"namingContexts", "currentTime"}, nil))
	if err != nil {
		return "", fmt.Errorf("read rootDSE: %w", err)
	}
	if len(res.Entries) == 0 {
		return "", errors.New("read rootDSE: no entry")
	}
	root := res.Entries[0]
	if t := root.GetAttributeValue("currentTime"); t != "" {
		return strings.Replace(t, ".0Z", "Z", 1), nil
	}
	latest := ""
	for _, nc := range root.GetAttributeValues("namingContexts") {
		if !s.underContext(nc) {
			continue
		}
		r, err := conn.Search(goldap.NewSearchRequest(nc, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"contextCSN"}, nil))
		if err != nil {
			return "", fmt.Errorf("read contextCSN of %s: %w", nc, err)
		}
		for _, e := range r.Entries {
			for _, csn := range e.GetAttributeValues("contextCSN") {
				latest = max(latest, csn)
			}
		}
	}
	if latest == "" {
		return "", errors.New("the server shows neither contextCSN nor currentTime: timestamp mode cannot find its clock (enable syncprov, or use incremental: none)")
	}
	if strings.EqualFold(s.cfg.TimestampAttribute, "entryCSN") {
		return latest, nil
	}
	// 20261121234500.123456Z#000000#000#000000 → 20261121234500Z
	stamp, _, _ := strings.Cut(latest, ".")
	stamp, _, _ = strings.Cut(stamp, "Z")
	return stamp + "Z", nil
}

// underContext reports whether a base DN lies in the naming context nc.
func (s *source) underContext(nc string) bool {
	for _, b := range s.cfg.BaseDNs {
		if underDN(b, nc) {
			return true
		}
	}
	return false
}
