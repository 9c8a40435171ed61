package api

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/accounts/password"
)

// LoginOptions bound the public sign-in routes (/v1/auth/*), which need no
// token: how much argon2 work runs at once, and how often one client address
// and one account may try. Zero values take the defaults of config.Login.
type LoginOptions struct {
	// MaxConcurrentVerifications: argon2 runs at once (0: password.DefaultSlots).
	MaxConcurrentVerifications int
	// MaxWaiting and MaxWait bound the attempts waiting for a run; beyond
	// them the answer is 503 busy.
	MaxWaiting int
	MaxWait    time.Duration
	// PerClient and PerAccount are attempts per second (rate.Limit) and bursts.
	PerClient, PerAccount           rate.Limit
	PerClientBurst, PerAccountBurst int
	// Tracked bounds each limiter table (least recently seen forgotten first).
	Tracked int
	// TrustedProxies: from these, X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
}

// Defaults when LoginOptions leave a value zero; config.Login documents the
// same (as attempts per minute).
const (
	defaultPerClient       = 30.0 / 60
	defaultPerClientBurst  = 10
	defaultPerAccount      = 10.0 / 60
	defaultPerAccountBurst = 10
	defaultTracked         = 10000
)

func (o LoginOptions) withDefaults(p password.Params) LoginOptions {
	if o.MaxConcurrentVerifications <= 0 {
		o.MaxConcurrentVerifications = password.DefaultSlots(p)
	}
	if o.MaxWaiting <= 0 {
		o.MaxWaiting = accounts.DefaultMaxWaiting
	}
	if o.MaxWait <= 0 {
		o.MaxWait = accounts.DefaultMaxWait
	}
	if o.PerClient <= 0 {
		o.PerClient = defaultPerClient
	}
	if o.PerClientBurst <= 0 {
		o.PerClientBurst = defaultPerClientBurst
	}
	if o.PerAccount <= 0 {
		o.PerAccount = defaultPerAccount
	}
	if o.PerAccountBurst <= 0 {
		o.PerAccountBurst = defaultPerAccountBurst
	}
	if o.Tracked <= 0 {
		o.Tracked = defaultTracked
	}
	return o
}

// loginGuard holds the rate limiters of the sign-in routes. Each table is an
// LRU of bounded size, so a flood of new addresses costs bounded memory (and
// only forgets the quietest clients).
type loginGuard struct {
	o          LoginOptions
	mu         sync.Mutex // get-or-create must be one step
	perClient  *lru.Cache[string, *rate.Limiter]
	perAccount *lru.Cache[string, *rate.Limiter]
}

func newLoginGuard(o LoginOptions) *loginGuard {
	// lru.New fails only for a size below 1, which withDefaults rules out.
	c, _ := lru.New[string, *rate.Limiter](o.Tracked)
	a, _ := lru.New[string, *rate.Limiter](o.Tracked)
	return &loginGuard{o: o, perClient: c, perAccount: a}
}

// limiter returns key's limiter in table, made on first sight.
func (g *loginGuard) limiter(table *lru.Cache[string, *rate.Limiter], key string, r rate.Limit, burst int) *rate.Limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l, ok := table.Get(key); ok {
		return l
	}
	l := rate.NewLimiter(r, burst)
	table.Add(key, l)
	return l
}

// allow takes one attempt from the client's allowance and, when account is
// not empty, from the account's: nil, or a 429 answer saying when to retry.
// The account's allowance is the same whether it exists, so it reveals
// nothing.
func (g *loginGuard) allow(r *http.Request, account string) error {
	now := time.Now()
	cl := g.limiter(g.perClient, g.client(r), g.o.PerClient, g.o.PerClientBurst)
	if res := cl.ReserveN(now, 1); res.DelayFrom(now) > 0 {
		res.CancelAt(now)
		return tooMany(res.DelayFrom(now), "too many sign-in attempts from your address")
	}
	if account == "" {
		return nil
	}
	al := g.limiter(g.perAccount, strings.ToLower(strings.TrimSpace(account)), g.o.PerAccount, g.o.PerAccountBurst)
	if res := al.ReserveN(now, 1); res.DelayFrom(now) > 0 {
		res.CancelAt(now)
		return tooMany(res.DelayFrom(now), "too many sign-in attempts on this address")
	}
	return nil
}

// client is the rate-limiting key of the request's client: the connection's
// address, or the last X-Forwarded-For entry not added by a trusted proxy
// when the connection comes from one. An IPv6 client is its /64, which one
// host can fill at will.
func (g *loginGuard) client(r *http.Request) string {
	addr := remoteAddr(r)
	if addr.IsValid() && g.trusted(addr) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a malformed entry: trust nothing further left
			}
			addr = hop.Unmap()
			if !g.trusted(addr) {
				break
			}
		}
	}
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func (g *loginGuard) trusted(a netip.Addr) bool {
	for _, p := range g.o.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// remoteAddr is the connection's peer address (invalid when unknown).
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// tooMany is the 429 answer with Retry-After in whole seconds (at least 1).
func tooMany(after time.Duration, what string) error {
	secs := retrySeconds(after)
	return &apiError{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
		RetryAfter: time.Duration(secs) * time.Second,
		Message:    fmt.Sprintf("%s: try again in %d s", what, secs)}
}

func retrySeconds(d time.Duration) int {
	if d == rate.InfDuration || d > time.Hour {
		return 3600
	}
	return max(1, int(math.Ceil(d.Seconds())))
}

// loginAnswer turns a full argon2 limiter into 503 busy with Retry-After;
// other errors pass unchanged.
func (s *Service) loginAnswer(err error) error {
	if !errors.Is(err, password.ErrBusy) {
		return err
	}
	secs := retrySeconds(s.guard.o.MaxWait)
	return &apiError{Status: http.StatusServiceUnavailable, Code: CodeBusy, Err: err,
		RetryAfter: time.Duration(secs) * time.Second,
		Message:    fmt.Sprintf("the daemon is checking too many passwords at once: try again in %d s", secs)}
}

// SignIn is POST /v1/auth/login for any caller with the request (the
// console's sign-in form too): the client's and the account's rate limits,
// then the password check under the argon2 limiter. The refusals are the
// API's: 429 and 503 busy with RetryAfter, 401, 403, 423.
func (s *Service) SignIn(r *http.Request, address, pass string) (LoginResult, error) {
	if err := s.guard.allow(r, address); err != nil {
		return LoginResult{}, err
	}
	res, err := s.acct.Login(r.Context(), address, pass)
	if err != nil {
		return LoginResult{}, s.loginAnswer(err)
	}
	return loginResult(res), nil
}

// ChangePassword is POST /v1/auth/password: SignIn's limits, then the
// change of a user's own password.
func (s *Service) ChangePassword(r *http.Request, in ChangePassword) (LoginResult, error) {
	if err := s.guard.allow(r, in.Address); err != nil {
		return LoginResult{}, err
	}
	res, err := s.acct.ChangePassword(r.Context(), accounts.Change{Address: in.Address, Current: in.CurrentPassword,
		Next: in.NewPassword, Question: in.Question, Answer: in.Answer})
	if err != nil {
		return LoginResult{}, s.loginAnswer(err)
	}
	return loginResult(res), nil
}
