package fakegraph

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const (
	kindUsers  = "users"
	kindGroups = "groups"
)

// stateToken is what a $skiptoken or $deltatoken carries (base64url JSON).
// A delta token holds Since; a skip token the whole round in progress.
type stateToken struct {
	Kind  string    `json:"k"`           // kindUsers or kindGroups
	Type  string    `json:"t"`           // "skip" or "delta"
	Epoch uint64    `json:"e"`           // ExpireDeltaTokens' count when issued
	Full  bool      `json:"f,omitempty"` // a first round: every object in the directory
	Since uint64    `json:"s,omitempty"` // otherwise: changes after this sequence
	Start uint64    `json:"r,omitempty"` // sequence at the round's start: the next deltaLink's Since
	After string    `json:"a,omitempty"` // the last id sent
	Sel   selection `json:"sel"`
	Size  int       `json:"z,omitempty"` // the page size asked at the round's start
}

// entryKind is what a delta round says of an object.
type entryKind int

const (
	entrySkip     entryKind = iota
	entryFull               // every selected property
	entryChanged            // the selected properties changed since the round's Since
	entrySoftGone           // @removed {"reason":"changed"}
	entryHardGone           // @removed {"reason":"deleted"}
)

var errExpired = errors.New("expired")

// serveDelta answers users/delta and groups/delta.
func (s *Server) serveDelta(c *call, kind string) {
	q := c.r.URL.Query()
	skip, delta := queryValue(q, "skiptoken"), queryValue(q, "deltatoken")
	var st stateToken
	newRound := true
	switch {
	case skip != "" && delta != "":
		c.badRequest("Only one of $skiptoken and $deltatoken may be given.")
		return
	case skip != "" || delta != "":
		typ, tok := "skip", skip
		if delta != "" {
			typ, tok = "delta", delta
		}
		if tok == "latest" && typ == "delta" {
			sel, err := parseSelect(q.Get("$select"), typeOf(kind), kind == kindUsers, kind == kindGroups, kind == kindGroups)
			if err != nil {
				c.badRequest(err.Error())
				return
			}
			st = stateToken{Kind: kind, Type: "delta", Sel: sel}
			s.serveLatest(c, st)
			return
		}
		if err := decodeToken(tok, &st); err != nil || st.Kind != kind || st.Type != typ {
			c.badRequest("The $" + typ + "token is invalid: it was not issued by this fakegraph for " + kind + "/delta.")
			return
		}
		if typ == "delta" {
			st = stateToken{Kind: kind, Type: "skip", Epoch: st.Epoch, Since: st.Since, Sel: st.Sel, Size: st.Size}
		} else {
			newRound = false
		}
	default:
		sel, err := parseSelect(q.Get("$select"), typeOf(kind), kind == kindUsers, kind == kindGroups, kind == kindGroups)
		if err != nil {
			c.badRequest(err.Error())
			return
		}
		st = stateToken{Kind: kind, Type: "skip", Full: true, Sel: sel}
	}
	size, prefer := preferPageSize(c.r.Header)
	switch {
	case prefer:
		st.Size = size
		c.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(size))
	case st.Size > 0:
		size = st.Size
	default:
		size = s.pageSize
	}
	body, status, err := s.deltaPage(st, size, newRound)
	if err != nil { // errExpired is the only error

		c.graphError(status, "syncStateNotFound",
			"The sync state generation is not found. The delta token is expired and data must be synchronized again.")
		return
	}
	c.ok(body)
}

func typeOf(kind string) string {
	if kind == kindGroups {
		return "group"
	}
	return "user"
}

// serveLatest answers $deltatoken=latest: no objects, a deltaLink from now.
func (s *Server) serveLatest(c *call, st stateToken) {
	s.dirMu.RLock()
	st.Epoch, st.Since = s.epoch, s.dir.seq
	s.dirMu.RUnlock()
	c.ok(pageBody(s.deltaContext(st), [][2]string{{"@odata.deltaLink", s.deltaLinkURL(st.Kind, "deltatoken", st)}}, nil))
}

func (s *Server) deltaContext(st stateToken) string {
	return s.url + "/v1.0/$metadata#" + st.Kind + st.Sel.contextSuffix()
}

func (s *Server) deltaLinkURL(kind, param string, tok stateToken) string {
	return s.url + "/v1.0/" + kind + "/delta()?$" + param + "=" + encodeToken(tok)
}

// readDir runs fn under the read lock with the object lists sorted.
func (s *Server) readDir(fn func(d *directory)) {
	for {
		s.dirMu.RLock()
		if !s.dir.usersDirty && !s.dir.groupsDirty {
			break
		}
		s.dirMu.RUnlock()
		s.dirMu.Lock()
		s.dir.sortLists()
		s.dirMu.Unlock()
	}
	defer s.dirMu.RUnlock()
	fn(s.dir)
}

// page writes up to size entries of list after the id after, in id order, and
// reports the last id written and whether more entries remain.
func page[T any](list []T, id func(T) string, after string, size int, match func(T) entryKind, write func(T, entryKind)) (string, bool) {
	i, found := slices.BinarySearchFunc(list, after, func(e T, t string) int { return strings.Compare(id(e), t) })
	if found {
		i++
	}
	last, n := after, 0
	for ; i < len(list); i++ {
		k := match(list[i])
		if k == entrySkip {
			continue
		}
		if n == size {
			return last, true
		}
		write(list[i], k)
		last = id(list[i])
		n++
	}
	return last, false
}

// classify says what a round (Full, or from since) reports of an object.
func (t *tracked) classify(full bool, since uint64, mask propMask, extraChanged bool) entryKind {
	switch {
	case full && t.state == stateActive:
		return entryFull
	case full:
		return entrySkip
	case t.state == stateSoftDeleted && t.stateSeq > since:
		return entrySoftGone
	case t.state == stateHardDeleted && t.stateSeq > since:
		return entryHardGone
	case t.state != stateActive:
		return entrySkip
	case t.fullSeq > since:
		return entryFull
	case extraChanged:
		return entryChanged
	}
	for i, seq := range t.propSeq {
		if seq > since && mask.has(i) {
			return entryChanged
		}
	}
	return entrySkip
}

// appendTracked writes an object's id and its selected (and, for
// entryChanged, changed) properties, without the closing brace.
func appendTracked(b []byte, t *tracked, names []string, mask propMask, k entryKind, since uint64) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, t.id)
	switch k {
	case entrySoftGone:
		return append(b, `,"@removed":{"reason":"changed"}`...)
	case entryHardGone:
		return append(b, `,"@removed":{"reason":"deleted"}`...)
	}
	for i, name := range names {
		if mask.has(i) && (k == entryFull || t.propSeq[i] > since) {
			b = appendProp(b, name, t.value(i))
		}
	}
	return b
}

// deltaPage builds one page of a delta round under the read lock.
func (s *Server) deltaPage(st stateToken, size int, newRound bool) ([]byte, int, error) {
	var (
		value  []byte
		last   string
		more   bool
		status int
		err    error
	)
	s.readDir(func(d *directory) {
		value = make([]byte, 0, min(size, len(d.userList)+len(d.groupList))*256)
		if st.Epoch != s.epoch && !(newRound && st.Full) {
			status, err = s.expiredStatus, errExpired
			return
		}
		st.Epoch = s.epoch
		if newRound {
			st.Start = d.seq
		}
		if st.Kind == kindUsers {
			last, more = page(d.userList, func(r *userRec) string { return r.id }, st.After, size,
				func(r *userRec) entryKind { return r.classify(st.Full, st.Since, st.Sel.User, false) },
				func(r *userRec, k entryKind) {
					if len(value) > 0 {
						value = append(value, ',')
					}
					value = append(appendTracked(value, &r.tracked, userPropNames[:], st.Sel.User, k, st.Since), '}')
				})
			return
		}
		last, more = page(d.groupList, func(r *groupRec) string { return r.id }, st.After, size,
			func(r *groupRec) entryKind {
				return r.classify(st.Full, st.Since, st.Sel.Group, st.Sel.Members && r.memberSeq > st.Since)
			},
			func(r *groupRec, k entryKind) {
				if len(value) > 0 {
					value = append(value, ',')
				}
				value = appendTracked(value, &r.tracked, groupPropNames[:], st.Sel.Group, k, st.Since)
				if st.Sel.Members && (k == entryFull || k == entryChanged) {
					value = appendMembersDelta(value, d, r, k == entryFull, st.Since)
				}
				value = append(value, '}')
			})
	})
	if err != nil {
		return nil, status, err
	}
	var link [2]string
	if more {
		st.After = last
		link = [2]string{"@odata.nextLink", s.deltaLinkURL(st.Kind, "skiptoken", st)}
	} else {
		next := stateToken{Kind: st.Kind, Type: "delta", Epoch: st.Epoch, Since: st.Start, Sel: st.Sel, Size: st.Size}
		link = [2]string{"@odata.deltaLink", s.deltaLinkURL(st.Kind, "deltatoken", next)}
	}
	return pageBody(s.deltaContext(st), [][2]string{link}, value), http.StatusOK, nil
}

// appendMembersDelta writes a group's members@delta: every current member in
// full, or those added and removed since (nothing when there are none). Only
// PutGroup's membership edits count: a member leaving through its own
// deletion is not reported here.
func appendMembersDelta(b []byte, d *directory, g *groupRec, full bool, since uint64) []byte {
	if !full && g.memberSeq <= since {
		return b
	}
	b = append(b, `,"members@delta":[`...)
	n := 0
	entry := func(id string, removed bool) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		typ := "#microsoft.graph.user"
		if _, ok := d.groups[id]; ok {
			typ = "#microsoft.graph.group"
		}
		b = append(b, `{"@odata.type":`...)
		b = appendString(b, typ)
		b = append(b, `,"id":`...)
		b = appendString(b, id)
		if removed {
			b = append(b, `,"@removed":{"reason":"deleted"}`...)
		}
		b = append(b, '}')
	}
	for _, m := range g.members {
		if (full || g.memberAdd[m] > since) && d.activeObject(m).id != "" {
			entry(m, false)
		}
	}
	if !full {
		gone := make([]string, 0, len(g.memberGone))
		for m, seq := range g.memberGone {
			if seq > since {
				gone = append(gone, m)
			}
		}
		slices.Sort(gone)
		for _, m := range gone {
			entry(m, true)
		}
	}
	return append(b, ']')
}
