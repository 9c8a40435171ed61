package ldap

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

type source struct {
	cfg *Config
	log *zap.Logger
}

var (
	_ connectors.Source      = (*source)(nil)
	_ connectors.Incremental = (*source)(nil)
	_ connectors.FieldOwner  = (*source)(nil)
)

// Fields implements connectors.FieldOwner: the source owns what its mapping maps.
func (s *source) Fields() []string { return s.cfg.mapping.Fields() }

// Close implements connectors.Source; connections live only as long as a read.
func (s *source) Close() error { return nil }

// Read implements connectors.Source: a full read, every connection to one DC.
func (s *source) Read(ctx context.Context, emit connectors.Emit) error {
	return s.pinned().fullRead(ctx, emit)
}

// searcher is the part of *goldap.Conn a read uses (a fake in unit tests).
type searcher interface {
	SearchAsync(ctx context.Context, req *goldap.SearchRequest, bufferSize int) goldap.Response
}

// query is one search of a read: a base DN, a filter and the kind of entry wanted.
type query struct {
	base     string
	filter   string
	controls []goldap.Control
}

// fullRead runs the users' searches (split into parallel partitions) and the groups'
// searches, each on its own connection, and emits every mapped record. Any failed
// search fails the whole read.
func (s *source) fullRead(ctx context.Context, emit connectors.Emit) error {
	parts, err := s.partitions(ctx)
	if err != nil {
		return err
	}
	var queries []query
	for _, base := range s.cfg.BaseDNs {
		for _, p := range parts {
			queries = append(queries, query{base: base, filter: "(&" + s.cfg.userFilter() + p + ")"})
		}
		if s.cfg.readsGroups() {
			queries = append(queries, query{base: base, filter: s.cfg.GroupFilter})
		}
	}
	return s.run(ctx, queries, emit)
}

// run executes queries concurrently (at most Parallel at a time, one connection
// each) and hands their records to emit from this goroutine, so emit needs no lock.
func (s *source) run(ctx context.Context, queries []query, emit connectors.Emit) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	recs := make(chan connectors.Record, 4*s.cfg.PageSize)
	waited := make(chan error, 1)
	go func() {
		for _, q := range queries {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err // a search already failed or emit refused: start no more
				}
				conn, err := s.cfg.connectTapped(gctx)
				if err != nil {
					return err
				}
				defer conn.Close()
				return s.search(gctx, conn, q, func(r connectors.Record) error {
					select {
					case recs <- r:
						return nil
					case <-gctx.Done():
						return gctx.Err()
					}
				})
			})
		}
		waited <- g.Wait()
		close(recs)
	}()
	var emitErr error
	for r := range recs {
		if emitErr == nil && ctx.Err() != nil {
			// Cancelled: the queued records are drained, never emitted.
			emitErr = context.Cause(ctx)
			cancel(emitErr)
		}
		if emitErr == nil {
			if emitErr = emit(r); emitErr != nil {
				cancel(emitErr) // stop the searches; keep draining so they can exit
			}
		}
	}
	if err := <-waited; emitErr == nil && err != nil {
		return err
	}
	return emitErr
}

// search runs one paged, streamed search and maps each entry.
func (s *source) search(ctx context.Context, conn searcher, q query, out connectors.Emit) error {
	attrs := s.attributes()
	skipped := 0
	err := pagedSearch(ctx, conn, s.cfg.PageSize, q, attrs, func(e *goldap.Entry) error {
		rec, skip, err := s.mapEntry(ctx, conn, e)
		if err != nil {
			return err
		}
		if skip != "" {
			skipped++
			return nil
		}
		return out(rec)
	})
	if err != nil {
		return fmt.Errorf("search %q under %q: %w", q.filter, q.base, err)
	}
	if skipped > 0 {
		s.log.Debug("entries skipped (neither a person nor a group)", zap.String("base", q.base), zap.Int("skipped", skipped))
	}
	return nil
}

// pagedSearch streams a subtree search page by page (SearchAsync + the paging
// control), so at most one page is in memory whatever the directory's size.
func pagedSearch(ctx context.Context, conn searcher, pageSize int, q query, attrs []string, each func(*goldap.Entry) error) error {
	paging := goldap.NewControlPaging(uint32(pageSize))
	for {
		ctrls := append([]goldap.Control{paging}, q.controls...)
		req := goldap.NewSearchRequest(q.base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, q.filter, attrs, ctrls)
		pctx, cancel := context.WithCancel(ctx)
		var done []goldap.Control
		var failed, err error
		if tc, ok := conn.(*tappedConn); ok {
			done, failed, err = tc.searchPage(pctx, cancel, req, pageSize, each)
		} else {
			done, failed, err = searchPage(pctx, cancel, conn, req, pageSize, each)
		}
		cancel()
		if failed != nil {
			return failed
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		pc, ok := goldap.FindControl(done, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if !ok || len(pc.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(pc.Cookie)
	}
}

// searchPage runs one page of a search through go-ldap: each sees the entries
// (until it fails, then cancel stops the search); the done's controls and
// go-ldap's error come back.
func searchPage(ctx context.Context, cancel context.CancelFunc, conn searcher, req *goldap.SearchRequest, bufferSize int,
	each func(*goldap.Entry) error) (done []goldap.Control, failed, err error) {
	resp := conn.SearchAsync(ctx, req, bufferSize)
	for resp.Next() {
		if e := resp.Entry(); e != nil {
			if failed == nil {
				if failed = each(e); failed != nil {
					cancel()
				}
			}
			continue
		}
		if c := resp.Controls(); len(c) > 0 {
			done = c
		}
	}
	return done, failed, resp.Err()
}

// attributes lists what every search requests: the mapped attributes only.
func (s *source) attributes() []string {
	attrs := s.cfg.mapping.Attributes()
	if s.cfg.rangeStep > 0 && s.cfg.mapping.Members != "" {
		for i, a := range attrs {
			if strings.EqualFold(a, s.cfg.mapping.Members) {
				attrs[i] = fmt.Sprintf("%s;range=0-%d", a, s.cfg.rangeStep-1)
			}
		}
	}
	return attrs
}

// mapEntry completes ranged attributes and maps the entry to a record.
func (s *source) mapEntry(ctx context.Context, conn searcher, e *goldap.Entry) (connectors.Record, dirmap.Skip, error) {
	if err := completeRanges(ctx, conn, e); err != nil {
		return connectors.Record{}, "", fmt.Errorf("%s: %w", e.DN, err)
	}
	rec, skip, err := s.cfg.mapping.Record(e.DN, dirmap.LDAPEntry{Entry: e})
	if skip != "" {
		return rec, skip, nil
	}
	if err != nil {
		rec.Invalid = &connectors.FieldError{Field: "attributes", Message: err.Error()}
	}
	return rec, "", nil
}

// completeRanges fetches the rest of every attribute AD returned in ranges
// (member;range=0-1499 → member;range=1500-* …) and replaces it with the plain
// attribute holding every value.
func completeRanges(ctx context.Context, conn searcher, e *goldap.Entry) error {
	for i, at := range e.Attributes {
		name, lo, hi, ok := parseRange(at.Name)
		if !ok {
			continue
		}
		if lo != 0 {
			return fmt.Errorf("attribute %s: a first range must start at 0", at.Name)
		}
		values := at.Values
		for hi >= 0 {
			next := fmt.Sprintf("%s;range=%d-*", name, hi+1)
			req := goldap.NewSearchRequest(e.DN, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{next}, nil)
			resp := conn.SearchAsync(ctx, req, 1)
			found := false
			for resp.Next() {
				ent := resp.Entry()
				if ent == nil {
					continue
				}
				for _, a := range ent.Attributes {
					n, l, h, ok := parseRange(a.Name)
					if !ok || !strings.EqualFold(n, name) {
						continue
					}
					if l != hi+1 {
						return fmt.Errorf("attribute %s: asked for values from %d, got %s", name, hi+1, a.Name)
					}
					values = append(values, a.Values...)
					hi, found = h, true
				}
			}
			if err := resp.Err(); err != nil {
				return fmt.Errorf("range retrieval of %s: %w", next, err)
			}
			if !found {
				return fmt.Errorf("range retrieval of %s: the server returned no further range", next)
			}
		}
		e.Attributes[i] = &goldap.EntryAttribute{Name: name, Values: values}
	}
	return nil
}

// parseRange splits "member;range=1500-2999" into member, 1500, 2999; the last
// range ("1500-*") has hi = -1.
func parseRange(attr string) (name string, lo, hi int, ok bool) {
	name, opts, found := strings.Cut(attr, ";")
	if !found {
		return "", 0, 0, false
	}
	for _, opt := range strings.Split(opts, ";") {
		r, isRange := strings.CutPrefix(strings.ToLower(opt), "range=")
		if !isRange {
			continue
		}
		a, b, ok := strings.Cut(r, "-")
		if !ok {
			return "", 0, 0, false
		}
		l, err := strconv.Atoi(a)
		if err != nil {
			return "", 0, 0, false
		}
		if b == "*" {
			return name, l, -1, true
		}
		h, err := strconv.Atoi(b)
		// h+1 starts the next range: at math.MaxInt it would wrap negative.
		if err != nil || h < l || h == math.MaxInt {
			return "", 0, 0, false
		}
		return name, l, h, true
	}
	return "", 0, 0, false
}

// partitions splits the user searches so a full read decodes on several cores:
// by entryUUID ranges on OpenLDAP, by uSNCreated ranges on AD. Each partition is a
// filter component ANDed to the user filter; together they cover every entry once.
func (s *source) partitions(ctx context.Context) ([]string, error) {
	n := s.cfg.Parallel
	if n <= 1 {
		return []string{""}, nil
	}
	switch s.cfg.Preset {
	case "openldap":
		// entryUUID has an ordering rule; split the first hex digit's 16 values.
		var parts []string
		for i := range n {
			lo, hi := 16*i/n, 16*(i+1)/n
			f := ""
			if lo > 0 {
				f += fmt.Sprintf("(entryUUID>=%x0000000-0000-0000-0000-000000000000)", lo)
			}
			if hi < 16 {
				f += fmt.Sprintf("(!(entryUUID>=%x0000000-0000-0000-0000-000000000000))", hi)
			}
			parts = append(parts, f)
		}
		return parts, nil
	case "ad":
		root, err := s.rootDSE(ctx)
		if err != nil {
			return nil, err
		}
		if root.usn <= 0 {
			return []string{""}, nil
		}
		var parts []string
		for i := range n {
			lo, hi := root.usn*int64(i)/int64(n)+1, root.usn*int64(i+1)/int64(n)
			f := ""
			if i > 0 {
				f += fmt.Sprintf("(uSNCreated>=%d)", lo)
			}
			if i < n-1 {
				f += fmt.Sprintf("(uSNCreated<=%d)", hi)
			}
			parts = append(parts, f)
		}
		return parts, nil
	}
	return []string{""}, nil
}

// rootInfo is what the rootDSE and the server's NTDS settings say about AD.
type rootInfo struct {
	usn        int64
	invocation string
	nc         string
	dc         string // dnsHostName, else serverName: which DC answered
}

// rootDSE reads AD's highestCommittedUSN, default naming context, the DC's name
// and (through dsServiceName) its invocationId.
func (s *source) rootDSE(ctx context.Context) (rootInfo, error) {
	conn, err := s.cfg.connect(ctx)
	if err != nil {
		return rootInfo{}, err
	}
	defer conn.Close()
	res, err := conn.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"highestCommittedUSN", "dsServiceName", "defaultNamingContext", "dnsHostName", "serverName"}, nil))
	if err != nil {
		return rootInfo{}, fmt.Errorf("read rootDSE: %w", err)
	}
	if len(res.Entries) == 0 {
		return rootInfo{}, errors.New("read rootDSE: no entry")
	}
	e := res.Entries[0]
	var ri rootInfo
	ri.nc = e.GetAttributeValue("defaultNamingContext")
	if ri.dc = e.GetAttributeValue("dnsHostName"); ri.dc == "" {
		ri.dc = e.GetAttributeValue("serverName")
	}
	if v := e.GetAttributeValue("highestCommittedUSN"); v != "" {
		if ri.usn, err = strconv.ParseInt(v, 10, 64); err != nil {
			return rootInfo{}, fmt.Errorf("rootDSE highestCommittedUSN %q: %w", v, err)
		}
	}
	if svc := e.GetAttributeValue("dsServiceName"); svc != "" {
		r, err := conn.Search(goldap.NewSearchRequest(svc, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"invocationId"}, nil))
		if err != nil {
			return rootInfo{}, fmt.Errorf("read invocationId of %s: %w", svc, err)
		}
		if len(r.Entries) > 0 {
			if g, err := dirmap.FormatGUID(r.Entries[0].GetRawAttributeValue("invocationId")); err == nil {
				ri.invocation = g
			}
		}
	}
	return ri, nil
}
