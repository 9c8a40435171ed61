package api

import (
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/store"
)

// handlerFunc is an API handler: it writes a successful answer itself and
// returns any failure, which writeError turns into the JSON error shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// access is who may call a route: nobody needs a token for a public route;
// otherwise a token with the admin scope, or with one of scopes.
type access struct {
	public bool
	scopes []string
}

var (
	public     = access{public: true}
	adminOnly  = access{}
	readAccess = access{scopes: []string{store.ScopeRead}}
	syncAccess = access{scopes: []string{store.ScopeSync}}
	// runsAccess: run reports are read by read-only tokens (every GET) and by
	// the sync tokens that triggered them.
	runsAccess = access{scopes: []string{store.ScopeRead, store.ScopeSync}}
	// sendersAccess is for the outbound sender ingestion route: a senders
	// token (the gateway's) may use it and nothing else.
	sendersAccess = access{scopes: []string{store.ScopeSenders}}
)

// route is one method and path of the API.
type route struct {
	method string
	path   string // a ServeMux path pattern under /v1
	access access
	h      handlerFunc
}

// routes is the API's route table: the mux, the scope checks and the OpenAPI
// test all read it, so they cannot drift apart.
func (s *server) routes() []route {
	return []route{
		{"GET", "/v1/domains", readAccess, s.listDomains},
		{"POST", "/v1/domains", adminOnly, s.addDomain},

		{"GET", "/v1/users", readAccess, s.listUsers},
		{"POST", "/v1/users", adminOnly, s.createUser},
		{"GET", "/v1/users/{address}", readAccess, s.getUser},
		{"PATCH", "/v1/users/{address}", adminOnly, s.updateUser},
		{"DELETE", "/v1/users/{address}", adminOnly, s.deleteUser},
		{"GET", "/v1/users/{address}/status", readAccess, s.userStatus},
		{"POST", "/v1/users/{address}/unlock", adminOnly, s.unlockUser},
		{"POST", "/v1/users/{address}/register", adminOnly, s.registerUser},
		{"POST", "/v1/users/{address}/unregister", adminOnly, s.unregisterUser},
		{"POST", "/v1/users/{address}/invite", adminOnly, s.inviteUser},
		{"GET", "/v1/users/{address}/invitation", readAccess, s.getInvitation},
		{"POST", "/v1/users/{address}/invitation/resend", adminOnly, s.resendInvitation},
		{"PUT", "/v1/users/{address}/roles", adminOnly, s.setRoles},

		{"GET", "/v1/audit", readAccess, s.listAudit},

		{"GET", "/v1/roles", readAccess, s.listRoles},
		{"POST", "/v1/roles", adminOnly, s.addRole},

		{"POST", "/v1/auth/login", public, s.login},
		{"POST", "/v1/auth/password", public, s.changePassword},
		{"POST", "/v1/auth/register", public, s.redeem},
		{"POST", "/v1/auth/reset/question", public, s.resetQuestion},
		{"POST", "/v1/auth/reset", public, s.reset},

		{"GET", "/v1/imports/template", readAccess, s.importTemplate},
		{"POST", "/v1/imports", adminOnly, s.importCSV},

		{"POST", "/v1/senders", sendersAccess, s.reportSenders},

		{"GET", "/v1/holds", readAccess, s.listHolds},
		{"POST", "/v1/holds/approve", adminOnly, s.approveHolds},
		{"POST", "/v1/holds/reject", adminOnly, s.rejectHolds},
		{"POST", "/v1/holds/{id}/approve", adminOnly, s.approveHold},
		{"POST", "/v1/holds/{id}/reject", adminOnly, s.rejectHold},

		{"POST", "/v1/explain", syncAccess, s.explain},

		{"POST", "/v1/syncs", syncAccess, s.triggerSync},
		{"GET", "/v1/runs", runsAccess, s.listRuns},
		{"GET", "/v1/runs/{id}", runsAccess, s.getRun},
		{"GET", "/v1/overview", readAccess, s.getOverview},
		{"GET", "/v1/config/check", adminOnly, s.getConfigCheck},
	}
}

// server is the API's HTTP side: the Service's logic behind the route table.
type server struct {
	*Service
	observe func(route string, status int, took time.Duration)
	mux     *http.ServeMux
}

// New returns the admin API's handler: every route under /v1 (see
// openapi.yaml), bearer-token authentication with scopes, JSON in and out.
func New(o Options) http.Handler {
	return NewHandler(NewService(o), o.Observe)
}

// NewHandler is the admin API's handler over svc; observe, when set, is
// Options.Observe (the metrics hook).
func NewHandler(svc *Service, observe func(route string, status int, took time.Duration)) http.Handler {
	s := &server{Service: svc, observe: observe, mux: http.NewServeMux()}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.path, s.handle(rt))
	}
	return s
}

// ServeHTTP routes the request; the mux's own plain-text 404 and 405 answers
// are replaced by the API's JSON error shape.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	h.ServeHTTP(rec, r)
	if s.observe != nil {
		defer func() { s.observe("unmatched", rec.code, 0) }()
	}
	switch rec.code {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, &apiError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow"))})
	case http.StatusNotFound:
		s.writeError(w, r, &apiError{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("no API route %s %s; the routes are listed in openapi.yaml", r.Method, r.URL.Path)})
	default: // a redirect, say: pass it on as the mux made it
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body)
	}
}

// statusWriter remembers the status code written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recorder captures the mux's answer for a request no route matched.
type recorder struct {
	header http.Header
	code   int
	body   []byte
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { r.body = append(r.body, b...); return len(b), nil }

// handle wraps a route: authentication and scope check, then the handler,
// with every returned error (and panic) answered by writeError.
func (s *server) handle(rt route) http.Handler {
	return http.HandlerFunc(func(w0 http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: w0, code: http.StatusOK}
		start := time.Now()
		// One line per request: who did what, with which outcome. Paths hold
		// addresses, never secrets; bodies (passwords, answers) are not logged.
		var tokenName string // set once authenticated
		defer func() {
			took := time.Since(start)
			s.log.Info("request", zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Int("status", w.code), zap.String("token_name", tokenName), zap.Duration("took", took))
			if s.observe != nil {
				s.observe(rt.method+" "+rt.path, w.code, took)
			}
		}()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { //nolint:errorlint // a panic value, not an error chain: net/http recognises the abort by identity too
					panic(p)
				}
				s.log.Error("handler panicked", zap.String("method", r.Method), zap.String("path", r.URL.Path),
					zap.Any("panic", p), zap.Stack("stack"))
				s.writeError(w, r, fmt.Errorf("panic: %v", p))
			}
		}()
		if !rt.access.public {
			tok, err := s.authenticate(r, rt.access)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			tokenName = tok.Name
			r = r.WithContext(withToken(r.Context(), tok))
		}
		if err := rt.h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
