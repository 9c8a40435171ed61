package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
)

// pages holds one template set per page: the layout plus the page's own file,
// which defines "title" and "content" (and any blocks of its own).
type pages struct {
	byName map[string]*template.Template
}

// funcs are the helpers every template may call.
var funcs = template.FuncMap{
	"pathEscape":  url.PathEscape,
	"queryEscape": url.QueryEscape,
	"join":        strings.Join,
	"when": func(t any) string { // a time for people, "never" for none
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "never"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "never"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return fmt.Sprint(t)
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}

func parsePages() (*pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console layout template: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", f, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// view is what the layout renders around a page.
type view struct {
	Title string
	Nav   string // the navigation entry to mark current
	Admin string // the signed-in administrator's address ("" on public pages)
	Name  string // and display name
	CSRF  string
	Flash string // a confirmation of the last action
	perms map[string]bool
	Data  any
}

// Allowed says whether the signed-in administrator holds perm: pages show an
// action only when it is allowed (and the server checks again).
func (v view) Allowed(perm string) bool { return v.perms[perm] }

// render writes page name with data, inside the layout.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, data any) {
	t, ok := c.pages.byName[name]
	if !ok {
		c.log.Error("no such console template", zap.String("template", name))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v := view{Nav: navOf(r.URL.Path), Data: data}
	if tp, ok := data.(interface{ PageTitle() string }); ok {
		v.Title = tp.PageTitle()
	}
	if s != nil {
		v.Admin, v.Name, v.CSRF, v.perms = s.Address, s.user.DisplayName, s.csrf(), s.perms
		v.Flash = c.takeFlash(w, r, s)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("render console page", zap.String("template", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// navOf is the navigation entry a path belongs to ("users" for /console/users/…).
func navOf(p string) string {
	rest := strings.TrimPrefix(p, Prefix)
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// errorPage is the data of templates/error.html.
type errorPage struct {
	Title   string
	Message string
	Back    string // a link to offer ("" = the console's start)
}

func (e errorPage) PageTitle() string { return e.Title }

// problem is a refusal from the service, ready for a form: the API's message
// and, for each field it names, the message to show next to that field.
type problem struct {
	Status  int
	Code    string
	Message string
	Fields  map[string]string
	Rows    []api.ImportProblem // an import's row problems
}

// For says the message of one field ("" when it has none).
func (p *problem) For(field string) string {
	if p == nil {
		return ""
	}
	return p.Fields[field]
}

// describe turns a service error into a problem, logging what an
// administrator must not see (a 5xx's cause).
func (c *Console) describe(r *http.Request, err error) *problem {
	var fe *formError
	if errors.As(err, &fe) {
		return &problem{Status: fe.status, Code: fe.code, Message: fe.msg, Fields: map[string]string{fe.field: fe.fieldMsg}}
	}
	status, info, _ := api.Classify(err)
	if status >= 500 {
		level := zap.ErrorLevel
		if errors.Is(err, context.Canceled) {
			level = zap.InfoLevel
		}
		c.log.Log(level, "console request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	}
	p := &problem{Status: status, Code: info.Code, Message: info.Message, Fields: map[string]string{}}
	switch d := info.Details.(type) {
	case []api.FieldProblem:
		for _, f := range d {
			if p.Fields[f.Field] == "" {
				p.Fields[f.Field] = f.Message
			}
		}
	case []api.ImportProblem:
		p.Rows = d
	}
	return p
}

// fail answers an error no page handled itself with the error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	p := c.describe(r, err)
	title := http.StatusText(p.Status)
	msg := p.Message
	if p.Status >= 500 {
		title, msg = "Something went wrong", "The console could not do this. Nothing you typed is shown in the log; "+
			"the daemon's log has the details. Try again, or ask the operator to look at the log."
	}
	c.render(w, r, s, p.Status, "error", errorPage{Title: title, Message: msg})
}

// forbidden is the answer to an administrator whose roles lack perm.
func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, s *session, perm string) {
	c.render(w, r, s, http.StatusForbidden, "error", errorPage{Title: "Not allowed",
		Message: fmt.Sprintf("Your roles do not allow this: it needs the %q permission. "+
			"An administrator holding the Administrator role can grant it.", perm)})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, nil, http.StatusNotFound, "error", errorPage{Title: "Page not found",
		Message: "There is no console page at " + r.URL.Path + ". Use the navigation to find what you were looking for."})
}

// The flash: a one-time confirmation shown on the page after a redirect ("Registered
// alice@example.com."), kept in a cookie signed with the session's secret so no
// other site or session can plant a message.
const flashCookie = "dirsync_flash"

// flash sets the confirmation the next page of this session shows.
func (c *Console) flash(w http.ResponseWriter, s *session, msg string) {
	v := base64.RawURLEncoding.EncodeToString([]byte(msg))
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: v + "." + s.sign(v), Path: Prefix, MaxAge: 60,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode})
}

func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request, s *session) string {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: Prefix, MaxAge: -1, HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteStrictMode})
	v, mac, ok := strings.Cut(ck.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.sign(v))) {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// sign is an HMAC of v keyed with the session's secret.
func (s *session) sign(v string) string {
	m := hmac.New(sha256.New, []byte(s.id))
	m.Write([]byte("flash:" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// done ends a successful action: the confirmation, then a redirect (303) to
// the page to show, so a reload does not repeat the action.
func (c *Console) done(w http.ResponseWriter, r *http.Request, s *session, to, msg string) error {
	if msg != "" {
		c.flash(w, s, msg)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// staticHandler serves the embedded assets. They are not fingerprinted, so
// browsers revalidate them after a short while.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "" || strings.HasSuffix(r.URL.Path, ".md") {
			http.NotFound(w, r) // no directory listings, no notes
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}
