package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/store"
)

// session is the signed-in administrator of one request.
type session struct {
	store.Session
	id    string          // the cookie's value: the secret the store keeps the hash of
	user  store.User      // the administrator, read on this request
	perms map[string]bool // the union of the administrator's roles' permissions
}

// actor is who makes the changes of this request, in the audit log.
func (s *session) actor() store.Actor {
	return store.Actor{Kind: "admin", Name: "console:" + s.Address}
}

// can says whether the administrator holds perm.
func (s *session) can(perm string) bool { return s != nil && s.perms[perm] }

// csrf is the session's form token: an HMAC of a fixed label keyed with the
// session's secret, so it needs no storage, differs per session and dies with it.
func (s *session) csrf() string {
	m := hmac.New(sha256.New, []byte(s.id))
	m.Write([]byte("dirsync console form"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfField is the name of every form's hidden token field.
const csrfField = "csrf"

// checkCSRF says whether the request's form carries the session's token. A
// multipart form (the import upload) is parsed by the page itself, within its
// size limit, so the token also travels in the X-CSRF-Token header or the URL.
func (s *session) checkCSRF(r *http.Request) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.URL.Query().Get(csrfField)
	}
	if got == "" && !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		r.Body = http.MaxBytesReader(nil, r.Body, maxFormBody)
		if err := r.ParseForm(); err == nil {
			got = r.PostForm.Get(csrfField)
		}
	}
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrf()))
}

// maxFormBody bounds an ordinary form (the import has its own limit).
const maxFormBody = 64 << 10

// cookieName is the session cookie's name: under TLS the __Host- prefix pins it
// to this host, path / and Secure.
func (c *Console) cookieName() string {
	if c.secure {
		return "__Host-dirsync_console"
	}
	return "dirsync_console"
}

func (c *Console) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: c.cookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode})
}

// startSession creates a session for address and sets its cookie.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, address string) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("random session id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := c.now()
	s := store.Session{Hash: accounts.HashToken(id), Address: address, Created: now, LastSeen: now, Expires: now.Add(c.abs)}
	if err := c.st.CreateSession(r.Context(), s); err != nil {
		return fmt.Errorf("store the console session of %s: %w", address, err)
	}
	c.setCookie(w, id, int(c.abs.Seconds()))
	return nil
}

// endSession deletes the request's session and clears its cookie.
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, hash string) error {
	c.setCookie(w, "", -1)
	if hash == "" {
		return nil
	}
	if err := c.st.DeleteSession(r.Context(), hash); err != nil {
		return fmt.Errorf("delete a console session: %w", err)
	}
	return nil
}

// Why a request was sent to the sign-in page (the "why" parameter).
const (
	whyExpired   = "expired"    // the session timed out or was signed out
	whyNoSession = "signed-out" // no session at all
	whyRevoked   = "revoked"    // the administrator can no longer use the console
)

// sessionUseInterval: the session's LastSeen is written at most this often, so
// a busy page costs a read per request, not a write.
const sessionUseInterval = time.Minute

// authenticate returns the request's session, or redirects to the sign-in
// page (and returns nil) when there is none, it expired, or its administrator
// may no longer sign in.
func (c *Console) authenticate(w http.ResponseWriter, r *http.Request) (*session, error) {
	ck, cerr := r.Cookie(c.cookieName())
	if errors.Is(cerr, http.ErrNoCookie) || ck == nil || ck.Value == "" {
		c.toSignIn(w, r, whyNoSession)
		return nil, nil
	}
	hash := accounts.HashToken(ck.Value)
	ss, err := c.st.Session(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		c.setCookie(w, "", -1)
		c.toSignIn(w, r, whyExpired)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read a console session: %w", err)
	}
	now := c.now()
	if now.Sub(ss.LastSeen) >= c.idle || !now.Before(ss.Expires) {
		if err := c.endSession(w, r, hash); err != nil {
			return nil, err
		}
		c.toSignIn(w, r, whyExpired)
		return nil, nil
	}
	s := &session{Session: ss, id: ck.Value}
	if ok, err := c.loadAdmin(r, s); err != nil {
		return nil, err
	} else if !ok {
		if err := c.endSession(w, r, hash); err != nil {
			return nil, err
		}
		c.toSignIn(w, r, whyRevoked)
		return nil, nil
	}
	if now.Sub(ss.LastSeen) >= sessionUseInterval {
		if err := c.st.TouchSession(r.Context(), hash, now); err != nil {
			return nil, fmt.Errorf("record the use of a console session: %w", err)
		}
	}
	return s, nil
}

// loadAdmin reads the session's administrator and permissions; false when the
// user is gone, disabled, locked, unregistered or holds no console role.
func (c *Console) loadAdmin(r *http.Request, s *session) (bool, error) {
	u, err := c.st.User(r.Context(), s.Address)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the administrator %s: %w", s.Address, err)
	}
	perms, err := c.permissions(r, u.Account.Roles)
	if err != nil {
		return false, err
	}
	s.user, s.perms = u, perms
	return u.Enabled && u.Account.Registered && !u.Account.Locked && perms[PermConsole], nil
}

// permissions is the union of the named roles' permissions.
func (c *Console) permissions(r *http.Request, roles []string) (map[string]bool, error) {
	perms := map[string]bool{}
	if len(roles) == 0 {
		return perms, nil
	}
	all, err := c.st.Roles(r.Context())
	if err != nil {
		return nil, fmt.Errorf("read the roles: %w", err)
	}
	for _, ro := range all {
		if slices.ContainsFunc(roles, func(n string) bool { return strings.EqualFold(n, ro.Name) }) {
			for _, p := range ro.Permissions {
				perms[p] = true
			}
		}
	}
	return perms, nil
}

// toSignIn redirects to the sign-in page, which brings the administrator back
// to this page afterwards (for a GET; a form's target is not repeated).
func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request, why string) {
	q := url.Values{"why": {why}}
	if r.Method == http.MethodGet {
		q.Set("next", r.URL.RequestURI())
	} else if ref := localReferer(r); ref != "" {
		q.Set("next", ref)
	}
	target := Prefix + "signin?" + q.Encode()
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", target) // htmx: a full navigation, not a swapped fragment
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// localReferer is the path of the page a form was sent from, when it is a
// console page of this host.
func localReferer(r *http.Request) string {
	u, err := url.Parse(r.Referer())
	if err != nil || u.Host != r.Host {
		return ""
	}
	return safeNext(u.RequestURI())
}

// safeNext keeps next only when it is a console path on this host: never
// another site ("//evil.example", "https://…", "/\evil").
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	if strings.HasPrefix(next, Prefix+"signin") {
		return ""
	}
	return next
}
