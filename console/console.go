// Package console is dirsync's admin console: server-rendered pages under
// /console/ on the daemon's listener, for the administrators who manage the
// store's users, domains, roles and imports in a browser.
//
// Pages are html/template files (templates/), with htmx (static/, vendored and
// pinned in static/VENDORED.md) making links and forms smoother; every flow
// works without JavaScript. The console calls the same service the admin API's
// handlers call (api.Service), never the HTTP API, and renders its types.
//
// Sign-in goes through api.Service.SignIn, the rate-limited, argon2-bounded
// path of POST /v1/auth/login; the console adds a server-side session kept in
// the store (shared by every replica), a cookie that is HttpOnly, SameSite=Strict
// and Secure under TLS, and protection against cross-site requests on every
// state-changing request (net/http's CrossOriginProtection and a per-session
// token in every form).
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// Prefix is where the console is served.
const Prefix = "/console/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*.js static/*.css
var staticFS embed.FS

// Permissions the console checks. A role grants them (store.Role.Permissions).
const (
	PermConsole = store.PermissionConsole // sign in to the console at all
	PermRead    = "users.read"            // see users, domains, roles
	PermWrite   = "users.write"           // create, edit, register, invite, unlock, remove users
	PermDomains = "domains.manage"        // add domains
	PermRoles   = "roles.manage"          // add roles, assign them
	PermImports = "imports"               // import users from CSV
	// PermSync: start syncs (sync now, apply a dry run, apply an explained
	// object's plan) and approve or reject held operations. The sync pages
	// themselves need only PermConsole: a read-only administrator sees them
	// and acts on none of it.
	PermSync = "sync"
)

// Default session timeouts.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
)

// Options configures the console.
type Options struct {
	// Service is the admin API's logic: every read and change goes through it.
	Service *api.Service
	// Store keeps the sessions and answers the role look-ups of the signed-in
	// administrator.
	Store store.Store
	Log   *zap.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Secure marks the session cookie Secure: the listener serves TLS, or a
	// proxy in front of it does.
	Secure bool
	// IdleTimeout ends a session nobody used for this long; AbsoluteTimeout
	// ends every session this long after sign-in (zero: the defaults).
	IdleTimeout, AbsoluteTimeout time.Duration
}

// Console is the console's handler.
type Console struct {
	svc    *api.Service
	st     store.Store
	log    *zap.Logger
	now    func() time.Time
	secure bool
	idle   time.Duration
	abs    time.Duration
	pages  *pages
	mux    *http.ServeMux
	cop    *http.CrossOriginProtection
}

// handler is a console page: it renders or redirects itself and returns any
// failure, which the error page answers.
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// route is one page or action of the console. A route with no permission is
// public (the sign-in page); every other route needs a session whose
// administrator holds perm.
type route struct {
	pattern string // a ServeMux pattern under Prefix, with its method
	perm    string // "" = public
	h       handler
}

// New returns the console's handler, to be mounted at Prefix.
func New(o Options) (*Console, error) {
	if o.Service == nil || o.Store == nil {
		return nil, errors.New("console: a service and a store are required")
	}
	c := &Console{svc: o.Service, st: o.Store, log: o.Log, now: o.Now, secure: o.Secure,
		idle: o.IdleTimeout, abs: o.AbsoluteTimeout, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.log = c.log.Named("console")
	if c.now == nil {
		c.now = time.Now
	}
	if c.idle <= 0 {
		c.idle = DefaultIdleTimeout
	}
	if c.abs <= 0 {
		c.abs = DefaultAbsoluteTimeout
	}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	c.mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", staticHandler(static)))
	for _, rt := range c.routes() {
		c.mux.Handle(rt.pattern, c.wrap(rt))
	}
	return c, nil
}

// routes is the console's route table. Pages of later issues add rows here.
func (c *Console) routes() []route {
	rts := []route{
		{"GET " + Prefix + "{$}", PermConsole, c.home},
		{"GET " + Prefix + "signin", "", c.signInPage},
		{"POST " + Prefix + "signin", "", c.signIn},
		{"POST " + Prefix + "signout", PermConsole, c.signOut},
	}
	rts = append(rts, c.userRoutes()...)
	rts = append(rts, c.userPageRoutes()...)
	rts = append(rts, c.catalogRoutes()...)
	rts = append(rts, c.auditRoutes()...)
	rts = append(rts, c.accountRoutes()...)
	rts = append(rts, c.inviteRoutes()...)
	rts = append(rts, c.overviewRoutes()...)
	rts = append(rts, c.runRoutes()...)
	rts = append(rts, c.holdRoutes()...)
	rts = append(rts, c.configRoutes()...)
	return rts
}

// home is the console's start page: the overview of the connectors, where an
// administrator sees first what needs attention.
func (c *Console) home(w http.ResponseWriter, r *http.Request, s *session) error {
	http.Redirect(w, r, Prefix+"overview", http.StatusSeeOther)
	return nil
}

// ServeHTTP serves the console's pages and assets. Every answer forbids
// framing and inline script; a page is never cached.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	_, pattern := c.mux.Handler(r)
	if pattern == "" {
		c.notFound(w, r)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// wrap turns a route into an http.Handler: the session and permission check,
// the cross-origin check on every state-changing request, then the page, with
// every failure answered by the error page.
func (c *Console) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		w = sw
		var who string
		defer func() {
			c.log.Info("request", zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Int("status", sw.code), zap.String("admin", who), zap.Duration("took", time.Since(start)))
		}()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { //nolint:errorlint // a panic value compared by identity, as net/http does
					panic(p)
				}
				c.log.Error("page panicked", zap.String("path", r.URL.Path), zap.Any("panic", p), zap.Stack("stack"))
				c.fail(w, r, nil, errors.New("panic"))
			}
		}()
		w.Header().Set("Cache-Control", "no-store")
		if err := c.cop.Check(r); err != nil {
			c.render(w, r, nil, http.StatusForbidden, "error", errorPage{Title: "Request refused",
				Message: "This request came from another site, so it was refused and nothing was changed. " +
					"Open the console directly and try again."})
			return
		}
		var s *session
		if rt.perm != "" {
			var err error
			s, err = c.authenticate(w, r)
			if err != nil {
				c.fail(w, r, nil, err)
				return
			}
			if s == nil {
				return // redirected to the sign-in page
			}
			who = s.Address
			if !s.can(rt.perm) {
				c.forbidden(w, r, s, rt.perm)
				return
			}
			if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.checkCSRF(r) {
				c.render(w, r, s, http.StatusForbidden, "error", errorPage{Title: "Form expired",
					Message: "The form's security token is missing or wrong (it may be from an earlier session), " +
						"so nothing was changed. Go back, reload the page and submit it again."})
				return
			}
		}
		if err := rt.h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// statusWriter remembers the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// PurgeSessions removes expired sessions; the daemon calls it now and then.
func (c *Console) PurgeSessions(ctx context.Context) (int, error) {
	now := c.now()
	n, err := c.st.PurgeSessions(ctx, now.Add(-c.idle), now)
	if err != nil {
		return 0, fmt.Errorf("purge console sessions: %w", err)
	}
	return n, nil
}
