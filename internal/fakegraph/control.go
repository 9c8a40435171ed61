package fakegraph

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching requests fail, as a throttled or unavailable Graph does.
type Fault struct {
	// Path is the request path prefix it applies to, e.g. "/v1.0/users/delta";
	// "" = every Graph (/v1.0) request. A prefix of an identity path (the
	// token endpoint) makes those fail too.
	Path       string
	Status     int           // 429, 503, 504, 500, 403 (permission missing) ...
	RetryAfter time.Duration // sets the Retry-After header in whole seconds when > 0
	// Count is how many matching requests fail (0 is taken as 1); < 0 = every
	// one until ClearFaults.
	Count int
	// After lets this many matching requests through first: with a delta
	// path, a read that fails after After pages (0: from the first request).
	After int
	// InBatch makes the fault apply to the requests inside a $batch whose
	// path starts with Path (Graph's own path, "/v1.0/users/{id}"), not to
	// HTTP requests: the batch answers 200 and only those requests answer
	// Status (with Retry-After among their headers), as Graph throttles the
	// requests of a batch one by one.
	InBatch bool
}

// PutUser creates or replaces a user. A user in deleted items comes back
// (delta reports it in full, as a restore). The slices are copied. It panics
// when u.ID is empty.
func (s *Server) PutUser(u User) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.dir.putUser(u)
}

// PutUsers is PutUser for many users under one lock (a large tenant's setup).
func (s *Server) PutUsers(users ...User) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	for _, u := range users {
		s.dir.putUser(u)
	}
}

// SoftDeleteUser moves a user to deleted items: it leaves users and group
// memberships, and delta reports it as @removed {"reason":"changed"}.
func (s *Server) SoftDeleteUser(id string) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.dir.setUserState(id, []objState{stateActive}, stateSoftDeleted)
}

// RestoreUser brings a user back from deleted items; delta reports it again
// with every selected property.
func (s *Server) RestoreUser(id string) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.dir.setUserState(id, []objState{stateSoftDeleted}, stateActive)
}

// HardDeleteUser deletes a user for good (from the directory or from deleted
// items); delta reports @removed {"reason":"deleted"}.
func (s *Server) HardDeleteUser(id string) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.dir.setUserState(id, []objState{stateActive, stateSoftDeleted}, stateHardDeleted)
}

// PutGroup creates or replaces a group, its members included. It panics when
// g.ID is empty.
func (s *Server) PutGroup(g Group) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.dir.putGroup(g)
}

// DeleteGroup deletes a group; groups/delta reports @removed {"reason":"deleted"}.
func (s *Server) DeleteGroup(id string) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.dir.deleteGroup(id)
}

// SetRoleMembers sets the members (user or group ids) of a directory role,
// activating it first if needed. Well-known roles get their real
// roleTemplateId (Global Administrator is 62e90394-69f5-4237-9190-012177145e10);
// other names get one derived from the name.
func (s *Server) SetRoleMembers(roleDisplayName string, memberIDs ...string) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.dir.setRoleMembers(roleDisplayName, memberIDs)
}

// ExpireDeltaTokens makes every delta and skip token issued so far invalid:
// using one is answered with SetExpiredStatus's status and syncStateNotFound.
func (s *Server) ExpireDeltaTokens() {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.epoch++
}

// SetExpiredStatus sets the status of the answer to an expired token: 410
// (the default) or 400; any other value restores 410.
func (s *Server) SetExpiredStatus(status int) {
	if status != http.StatusBadRequest {
		status = http.StatusGone
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.expiredStatus = status
}

// RevokeAccessTokens makes every access token issued so far invalid: Graph
// answers 401 InvalidAuthenticationToken until the client gets a new one.
func (s *Server) RevokeAccessTokens() {
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	clear(s.tokens)
}

// InjectFault adds a fault. Faults are tried in the order injected.
func (s *Server) InjectFault(f Fault) {
	if f.Count == 0 {
		f.Count = 1
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
}

// takeFault finds the first live fault for a path (of an HTTP request, or of
// a request inside a $batch) and uses it up once.
func (s *Server) takeFault(path string, graph, inBatch bool) *Fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if f.InBatch != inBatch || (f.Path == "" && !graph) || !strings.HasPrefix(path, f.Path) {
			continue
		}
		if f.After > 0 {
			f.After--
			continue
		}
		hit := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &hit
	}
	return nil
}

func (s *Server) writeFault(c *call, f Fault, graph bool) {
	if f.RetryAfter > 0 {
		secs := int((f.RetryAfter + time.Second - 1) / time.Second)
		c.w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if !graph {
		c.oauthError(f.Status, "temporarily_unavailable", 50196, "The server is temporarily unavailable (fakegraph fault).")
		return
	}
	code, message := "InternalServerError", "An internal server error occurred (fakegraph fault)."
	switch f.Status {
	case http.StatusTooManyRequests:
		code, message = "TooManyRequests", "Too many requests are being made to the service. Please retry later (fakegraph fault)."
	case http.StatusServiceUnavailable:
		code, message = "ServiceUnavailable", "The service is temporarily unavailable. Please retry later (fakegraph fault)."
	case http.StatusGatewayTimeout:
		code, message = "GatewayTimeout", "The gateway timed out (fakegraph fault)."
	case http.StatusForbidden:
		// What Graph answers an app token without the permission the request needs.
		code, message = "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	}
	c.graphError(f.Status, code, message)
}

// Requests is the number of requests received whose path starts with
// pathPrefix ("/v1.0/users/delta"; token requests count under their own path,
// "/{tenant}/oauth2/v2.0/token").
func (s *Server) Requests(pathPrefix string) int {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	n := 0
	for p, c := range s.counts {
		if strings.HasPrefix(p, pathPrefix) {
			n += c
		}
	}
	return n
}

// BatchItems is the number of requests received inside $batch requests whose
// path starts with pathPrefix ("/v1.0/users/"); Requests counts each $batch
// once, under "/v1.0/$batch".
func (s *Server) BatchItems(pathPrefix string) int {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	n := 0
	for p, c := range s.items {
		if strings.HasPrefix(p, pathPrefix) {
			n += c
		}
	}
	return n
}

// ResetRequestCounts zeroes the counts Requests and BatchItems read.
func (s *Server) ResetRequestCounts() {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	clear(s.counts)
	clear(s.items)
}

func (s *Server) countRequest(path string) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.counts[path]++
}

func (s *Server) countBatchItem(path string) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.items[path]++
}
