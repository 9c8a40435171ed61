package fakegraph

import (
	"fmt"
	"net/http"
	"strings"
)

// serveGraph answers a /v1.0 request: token check, then $batch or the route.
func (s *Server) serveGraph(c *call) {
	if !s.authorized(c) {
		return
	}
	if strings.Trim(strings.TrimPrefix(c.r.URL.Path, "/v1.0"), "/") == "$batch" {
		s.serveBatch(c)
		return
	}
	s.routeGraph(c)
}

// routeGraph answers an authorized /v1.0 request (alone or in a $batch) by its route.
func (s *Server) routeGraph(c *call) {
	rest := strings.Trim(strings.TrimPrefix(c.r.URL.Path, "/v1.0"), "/")
	segs := strings.Split(rest, "/")
	h := s.graphRoute(segs)
	if h == nil {
		c.graphError(http.StatusNotFound, "Request_UnsupportedQuery",
			fmt.Sprintf("Resource not found for the segment '%s' (fakegraph serves a subset of Graph).", rest))
		return
	}
	if c.r.Method != http.MethodGet {
		c.w.Header().Set("Allow", http.MethodGet)
		c.graphError(http.StatusMethodNotAllowed, "Request_BadRequest",
			"Specified HTTP method is not allowed for the request target.")
		return
	}
	h(c)
}

func isDelta(seg string) bool {
	switch seg {
	case "delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()":
		return true
	}
	return false
}

// castOf reads a type-cast segment: "user", "group", "" (none) or "?" (not one).
func castOf(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	if len(segs) > 1 {
		return "?"
	}
	switch segs[0] {
	case "microsoft.graph.user", "graph.user":
		return "user"
	case "microsoft.graph.group", "graph.group":
		return "group"
	}
	return "?"
}

// roleKey reads directoryRoles(roleTemplateId='...') as a role key.
func roleKey(seg string) (string, bool) {
	const pre, post = "directoryRoles(roleTemplateId='", "')"
	if strings.HasPrefix(seg, pre) && strings.HasSuffix(seg, post) && len(seg) > len(pre)+len(post) {
		return seg[len(pre) : len(seg)-len(post)], true
	}
	return "", false
}

// graphRoute maps path segments after /v1.0 to a handler, or nil.
func (s *Server) graphRoute(segs []string) func(*call) {
	n := len(segs)
	switch segs[0] {
	case "users":
		switch {
		case n == 1:
			return func(c *call) { s.serveList(c, "users") }
		case n == 2 && isDelta(segs[1]):
			return func(c *call) { s.serveDelta(c, kindUsers) }
		case n == 2:
			return func(c *call) { s.serveUser(c, segs[1]) }
		}
	case "groups":
		switch {
		case n == 1:
			return func(c *call) { s.serveList(c, "groups") }
		case n == 2 && isDelta(segs[1]):
			return func(c *call) { s.serveDelta(c, kindGroups) }
		case n == 2:
			return func(c *call) { s.serveGroup(c, segs[1]) }
		case n >= 3 && (segs[2] == "members" || segs[2] == "transitiveMembers"):
			cast := castOf(segs[3:])
			if cast == "?" {
				return nil
			}
			return func(c *call) { s.serveMembers(c, "group", segs[1], segs[2] == "transitiveMembers", cast) }
		}
	case "directoryRoles":
		switch {
		case n == 1:
			return s.serveRoles
		case n == 2:
			return func(c *call) { s.serveRole(c, segs[1]) }
		case n >= 3 && segs[2] == "members":
			cast := castOf(segs[3:])
			if cast == "?" {
				return nil
			}
			return func(c *call) { s.serveMembers(c, "role", segs[1], false, cast) }
		}
	default:
		key, ok := roleKey(segs[0])
		switch {
		case ok && n == 1:
			return func(c *call) { s.serveRole(c, key) }
		case ok && n >= 2 && segs[1] == "members":
			cast := castOf(segs[2:])
			if cast == "?" {
				return nil
			}
			return func(c *call) { s.serveMembers(c, "role", key, false, cast) }
		}
	}
	return nil
}
