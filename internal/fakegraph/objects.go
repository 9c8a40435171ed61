package fakegraph

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// listToken is a collection's (not delta's) $skiptoken.
type listToken struct {
	After string    `json:"a,omitempty"`
	Sel   selection `json:"sel"`
	Size  int       `json:"z,omitempty"`
	// Filter is the first page's $filter (collections only; see filter.go).
	Filter string `json:"f,omitempty"`
}

// transEntry caches a group's transitive members for one directory sequence.
type transEntry struct {
	seq  uint64
	objs []dirObject
}

// appendObject writes a user or group with its selected properties.
func appendObject(b []byte, o dirObject, sel selection, typed bool) []byte {
	t, names, mask, typ := o.rec(), userPropNames[:], sel.User, "#microsoft.graph.user"
	if o.group != nil {
		names, mask, typ = groupPropNames[:], sel.Group, "#microsoft.graph.group"
	}
	if typed {
		b = append(b, `{"@odata.type":`...)
		b = appendString(b, typ)
		b = append(b, ',')
	} else {
		b = append(b, '{')
	}
	b = append(b, `"id":`...)
	b = appendString(b, o.id)
	for i, name := range names {
		if mask.has(i) {
			b = appendProp(b, name, t.value(i))
		}
	}
	return append(b, '}')
}

func (o dirObject) rec() *tracked {
	if o.group != nil {
		return &o.group.tracked
	}
	return &o.user.tracked
}

// serveUser answers users/{id | userPrincipalName}.
func (s *Server) serveUser(c *call, key string) {
	sel, err := parseSelect(c.r.URL.Query().Get("$select"), "user", true, false, false)
	if err != nil {
		c.badRequest(err.Error())
		return
	}
	var body []byte
	s.readDir(func(d *directory) {
		if u := d.activeUser(key); u != nil {
			body = s.entity("users", sel, dirObject{id: u.id, user: u})
		}
	})
	if body == nil {
		c.notFound(key)
		return
	}
	c.ok(body)
}

// serveGroup answers groups/{id}.
func (s *Server) serveGroup(c *call, id string) {
	sel, err := parseSelect(c.r.URL.Query().Get("$select"), "group", false, true, false)
	if err != nil {
		c.badRequest(err.Error())
		return
	}
	var body []byte
	s.readDir(func(d *directory) {
		if g := d.activeGroup(id); g != nil {
			body = s.entity("groups", sel, dirObject{id: g.id, group: g})
		}
	})
	if body == nil {
		c.notFound(id)
		return
	}
	c.ok(body)
}

func (s *Server) entity(set string, sel selection, o dirObject) []byte {
	obj := appendObject(nil, o, sel, false)
	b := append([]byte(`{"@odata.context":`), appendString(nil, s.url+"/v1.0/$metadata#"+set+sel.contextSuffix()+"/$entity")...)
	return append(append(b, ','), obj[1:]...)
}

// serveList answers the users or groups collection.
func (s *Server) serveList(c *call, set string) {
	users := set == "users"
	s.serveCollection(c, set, typeOf(set), "", users, !users, false, true, func(d *directory) ([]dirObject, bool) {
		var objs []dirObject
		if users {
			for _, u := range d.userList {
				if u.state == stateActive {
					objs = append(objs, dirObject{id: u.id, user: u})
				}
			}
		} else {
			for _, g := range d.groupList {
				if g.state == stateActive {
					objs = append(objs, dirObject{id: g.id, group: g})
				}
			}
		}
		return objs, true
	})
}

// serveMembers answers groups/{id}/members, groups/{id}/transitiveMembers and
// directoryRoles/{id}/members, optionally cast to users or groups.
func (s *Server) serveMembers(c *call, owner, id string, transitive bool, cast string) {
	set := map[string]string{"": "directoryObjects", "user": "users", "group": "groups"}[cast]
	typ := map[string]string{"": "directoryObject", "user": "user", "group": "group"}[cast]
	s.serveCollection(c, set, typ, id, cast != "group", cast != "user", true, false, func(d *directory) ([]dirObject, bool) {
		var objs []dirObject
		switch {
		case owner == "role":
			r := d.role(id)
			if r == nil {
				return nil, false
			}
			for _, m := range r.members {
				if o := d.activeObject(m); o.id != "" {
					objs = append(objs, o)
				}
			}
			slices.SortFunc(objs, func(a, b dirObject) int { return strings.Compare(a.id, b.id) })
			objs = slices.CompactFunc(objs, func(a, b dirObject) bool { return a.id == b.id })
		case transitive:
			g := d.activeGroup(id)
			if g == nil {
				return nil, false
			}
			objs = s.transitive(d, g)
		default:
			g := d.activeGroup(id)
			if g == nil {
				return nil, false
			}
			for _, m := range g.members {
				if o := d.activeObject(m); o.id != "" {
					objs = append(objs, o)
				}
			}
		}
		if cast != "" {
			objs = slices.DeleteFunc(slices.Clone(objs), func(o dirObject) bool { return (o.user != nil) != (cast == "user") })
		}
		return objs, true
	})
}

// transitive lists the users and groups under g at any depth, by id.
func (s *Server) transitive(d *directory, g *groupRec) []dirObject {
	s.transMu.Lock()
	e, ok := s.trans[g.id]
	s.transMu.Unlock()
	if ok && e.seq == d.seq {
		return e.objs
	}
	seen := map[string]bool{g.id: true}
	var objs []dirObject
	queue := []*groupRec{g}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, m := range cur.members {
			o := d.activeObject(m)
			if o.id == "" || seen[m] {
				continue
			}
			seen[m] = true
			objs = append(objs, o)
			if o.group != nil {
				queue = append(queue, o.group)
			}
		}
	}
	slices.SortFunc(objs, func(a, b dirObject) int { return strings.Compare(a.id, b.id) })
	s.transMu.Lock()
	s.trans[g.id] = transEntry{seq: d.seq, objs: objs}
	s.transMu.Unlock()
	return objs
}

// serveCollection pages a sorted list of objects with $select, $top (or
// Prefer: odata.maxpagesize), $skiptoken and, when filterable, $filter and
// $count. objects returns false when the owner of the list does not exist.
func (s *Server) serveCollection(c *call, set, typ, owner string, users, groups, typed, filterable bool, objects func(*directory) ([]dirObject, bool)) {
	q := c.r.URL.Query()
	var lt listToken
	if skip := queryValue(q, "skiptoken"); skip != "" {
		if err := decodeToken(skip, &lt); err != nil {
			c.badRequest("The $skiptoken is invalid: it was not issued by this fakegraph.")
			return
		}
	} else {
		sel, err := parseSelect(q.Get("$select"), typ, users, groups, false)
		if err != nil {
			c.badRequest(err.Error())
			return
		}
		lt.Sel = sel
		lt.Filter = queryValue(q, "filter")
	}
	header, count := advancedQuery(c.r)
	if count && !header {
		// Graph counts directory objects only as an advanced query.
		c.graphError(http.StatusBadRequest, "Request_BadRequest",
			"$count is not currently supported without the ConsistencyLevel header set to eventual.")
		return
	}
	var keep objectFilter
	if lt.Filter != "" {
		if !filterable {
			c.graphError(http.StatusBadRequest, "Request_UnsupportedQuery", "fakegraph serves $filter on the users and groups collections only.")
			return
		}
		var err error
		if keep, err = parseObjectFilter(lt.Filter, typ, header && count); err != nil {
			// parseObjectFilter reports every problem as a *filterError.
			fe := &filterError{http.StatusBadRequest, "BadRequest", err.Error()}
			errors.As(err, &fe)
			c.graphError(fe.status, fe.code, fe.message)
			return
		}
	}
	size := s.pageSize
	if lt.Size > 0 {
		size = lt.Size
	}
	if p, ok := preferPageSize(c.r.Header); ok {
		size, lt.Size = p, p
		c.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(p))
	}
	if top := queryValue(q, "top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 || n > maxPageSize {
			c.badRequest(fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", top, maxPageSize))
			return
		}
		size, lt.Size = n, n
	}
	var (
		value []byte
		more  bool
		found bool
		total = -1
	)
	s.readDir(func(d *directory) {
		var objs []dirObject
		if objs, found = objects(d); !found {
			return
		}
		if keep != nil {
			objs = slices.DeleteFunc(slices.Clone(objs), func(o dirObject) bool { return !keep(o) })
		}
		if count {
			total = len(objs)
		}
		lt.After, more = page(objs, func(o dirObject) string { return o.id }, lt.After, size,
			func(dirObject) entryKind { return entryFull },
			func(o dirObject, _ entryKind) {
				if len(value) > 0 {
					value = append(value, ',')
				}
				value = appendObject(value, o, lt.Sel, typed)
			})
	})
	if !found {
		c.notFound(owner)
		return
	}
	var links [][2]string
	if more {
		links = append(links, [2]string{"@odata.nextLink", s.url + c.r.URL.EscapedPath() + "?$skiptoken=" + encodeToken(lt)})
	}
	body := pageBody(s.url+"/v1.0/$metadata#"+set+lt.Sel.contextSuffix(), links, value)
	if total >= 0 {
		// "@odata.count" follows "@odata.context", as Graph writes it.
		i := strings.Index(string(body), `,"value":[`)
		if len(links) > 0 {
			i = strings.Index(string(body), `,"@odata.nextLink"`)
		}
		body = append(body[:i:i], append([]byte(fmt.Sprintf(`,"@odata.count":%d`, total)), body[i:]...)...)
	}
	c.ok(body)
}
