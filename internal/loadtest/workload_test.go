package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dirsync/dirsync/api"
)

// loadDomain is the internal domain of the API clients' manual users: apart
// from the directory's, so the clients' writes never touch what the sync
// compares, while they contend for the same store.
const loadDomain = "loadtest.example"

// loadRoles are the roles the clients give their users ("*Admin*" roles
// would make them protected accounts, which changes nothing here but is not
// what a load test is about).
var loadRoles = []string{"Marketing", "Invoicing", "Deal Registration", "Prospects"}

// sample is one answered (or failed) request.
type sample struct {
	route  string // method and route pattern
	status int    // 0: no answer (transport error)
	took   time.Duration
	write  bool
	code   string // the error code of a refusal
	// problem says why the answer breaks the test's rules ("" = none).
	problem string
}

// want is what a client knows its manual user to be, from the answers it got.
type want struct {
	DisplayName string
	Title       string
	Enabled     bool
	Roles       []string
}

// client is one API client with its own users in loadDomain: it alone writes
// them, so the answers it got say exactly what the store must hold at the end.
type client struct {
	id int
	// reqCtx bounds the requests: it outlives the load window, so a request
	// sent just before the window closed is still waited for and judged.
	reqCtx  context.Context
	d       *daemon
	dir     *directory
	http    *http.Client
	rng     *rand.Rand
	users   map[string]want // by address
	next    int
	samples []sample
}

// op is one kind of request, and how often a client sends it.
type op struct {
	weight int
	do     func(c *client, ctx context.Context)
}

// ops is the mix: mostly reads (listing, searching, one user, status, runs),
// writes of the client's own users (create, update, disable, delete, roles),
// writes refused on purpose (a duplicate, an unknown domain, an unknown
// role), sign-in attempts and sync triggers.
var ops = []op{
	{18, (*client).listUsers},
	{8, (*client).searchUsers},
	{14, (*client).getSynced},
	{8, (*client).statusSynced},
	{5, (*client).listRuns},
	{12, (*client).create},
	{8, (*client).update},
	{3, (*client).disable},
	{3, (*client).purge},
	{6, (*client).setRoles},
	{4, (*client).refusedWrite},
	{5, (*client).login},
	{1, (*client).trigger},
}

// run sends requests until ctx ends.
func (c *client) run(ctx context.Context) {
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	for ctx.Err() == nil {
		n := c.rng.IntN(total)
		for _, o := range ops {
			if n < o.weight {
				o.do(c, ctx)
				break
			}
			n -= o.weight
		}
	}
}

// answer is one response: its status and JSON body.
type answer struct {
	status int
	body   []byte
}

// call sends one request and records it under route. ctx is the load
// window, which only stops new operations: the request itself runs on reqCtx
// (and the HTTP client's timeout), so a slow answer counts against the daemon.
func (c *client) call(_ context.Context, route, method, path string, body any, write bool) (answer, bool) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequestWithContext(c.reqCtx, method, c.d.base+path, rd)
	if err != nil {
		panic(err)
	}
	if !strings.HasPrefix(path, "/v1/auth/") {
		req.Header.Set("Authorization", "Bearer "+c.d.token)
	}
	req.Header.Set("Content-Type", "application/json")
	began := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.samples = append(c.samples, sample{route: route, took: time.Since(began), write: write,
			problem: fmt.Sprintf("%s %s: no answer: %v", method, path, err)})
		return answer{}, false
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	took := time.Since(began)
	if err != nil {
		c.samples = append(c.samples, sample{route: route, status: resp.StatusCode, took: took, write: write,
			problem: fmt.Sprintf("%s %s: body cut: %v", method, path, err)})
		return answer{}, false
	}
	s := sample{route: route, status: resp.StatusCode, took: took, write: write}
	s.code, s.problem = judge(method, path, resp, raw)
	c.samples = append(c.samples, s)
	return answer{status: resp.StatusCode, body: raw}, s.problem == ""
}

// judge applies the rules every answer must follow: no 5xx except a sign-in
// refused as busy (503 with Retry-After); every refusal (4xx, and that 503)
// carries the error shape with a code and a message, and a 429 a Retry-After.
// It returns the refusal's error code, and what is wrong ("" = nothing).
func judge(method, path string, resp *http.Response, raw []byte) (code, problem string) {
	status := resp.StatusCode
	if status < 400 {
		return "", ""
	}
	var e api.ErrorBody
	if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		return "", fmt.Sprintf("%s %s: %d without an error code and message: %q", method, path, status, raw)
	}
	code = e.Error.Code
	login := path == "/v1/auth/login"
	switch {
	case status == http.StatusServiceUnavailable && login && code == "busy":
		if resp.Header.Get("Retry-After") == "" {
			return code, fmt.Sprintf("%s %s: 503 busy without Retry-After", method, path)
		}
	case status >= 500:
		return code, fmt.Sprintf("%s %s: %d %s: %s", method, path, status, code, e.Error.Message)
	case status == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "":
		return code, fmt.Sprintf("%s %s: 429 without Retry-After", method, path)
	}
	return code, ""
}

// expect records a problem when a request the client knows to be valid (or
// invalid) is answered otherwise.
func (c *client) expect(a answer, route string, ok bool, codes ...int) {
	if !ok || slices.Contains(codes, a.status) {
		return
	}
	c.samples[len(c.samples)-1].problem = fmt.Sprintf("%s: answered %d, want one of %v: %s", route, a.status, codes, a.body)
}

func (c *client) listUsers(ctx context.Context) {
	q := url.Values{"registration": {"all"}, "limit": {"50"}}
	switch c.rng.IntN(4) {
	case 0:
		q.Set("domain", "example.com")
	case 1:
		q.Set("domain", loadDomain)
	case 2:
		q.Set("letter", string(rune('a'+c.rng.IntN(26))))
	case 3:
		q.Set("sort", "display_name")
		q.Set("order", "desc")
	}
	a, ok := c.call(ctx, "GET /v1/users", "GET", "/v1/users?"+q.Encode(), nil, false)
	c.expect(a, "GET /v1/users", ok, http.StatusOK)
	// Follow one more page when there is one, as a client paging through.
	var page api.UserList
	if ok && json.Unmarshal(a.body, &page) == nil && page.NextCursor != "" {
		q.Set("cursor", page.NextCursor)
		a, ok = c.call(ctx, "GET /v1/users", "GET", "/v1/users?"+q.Encode(), nil, false)
		c.expect(a, "GET /v1/users (page 2)", ok, http.StatusOK)
	}
}

func (c *client) searchUsers(ctx context.Context) {
	q := url.Values{"registration": {"all"}, "q": {fmt.Sprintf("number%d", c.rng.IntN(c.dir.users))}}
	a, ok := c.call(ctx, "GET /v1/users?q", "GET", "/v1/users?"+q.Encode(), nil, false)
	c.expect(a, "GET /v1/users?q", ok, http.StatusOK)
}

// getSynced reads a directory user, who exists once the sync created them.
func (c *client) getSynced(ctx context.Context) {
	addr := c.dir.userMail(c.rng.IntN(c.dir.users))
	a, ok := c.call(ctx, "GET /v1/users/{address}", "GET", "/v1/users/"+addr, nil, false)
	c.expect(a, "GET /v1/users/{address}", ok, http.StatusOK, http.StatusNotFound)
}

func (c *client) statusSynced(ctx context.Context) {
	addr := c.dir.userMail(c.rng.IntN(c.dir.users))
	a, ok := c.call(ctx, "GET /v1/users/{address}/status", "GET", "/v1/users/"+addr+"/status", nil, false)
	c.expect(a, "GET /v1/users/{address}/status", ok, http.StatusOK, http.StatusNotFound)
}

func (c *client) listRuns(ctx context.Context) {
	a, ok := c.call(ctx, "GET /v1/runs", "GET", "/v1/runs?limit=20", nil, false)
	c.expect(a, "GET /v1/runs", ok, http.StatusOK)
}

// own picks one of the client's users ("" when it has none).
func (c *client) own() string {
	if len(c.users) == 0 {
		return ""
	}
	keys := make([]string, 0, len(c.users))
	for k := range c.users {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a seeded choice, whatever the map's order
	return keys[c.rng.IntN(len(keys))]
}

func (c *client) create(ctx context.Context) {
	addr := fmt.Sprintf("c%d-%d@%s", c.id, c.next, loadDomain)
	c.next++
	name := fmt.Sprintf("Client %d user %d", c.id, c.next)
	a, ok := c.call(ctx, "POST /v1/users", "POST", "/v1/users", api.CreateUser{Address: addr, DisplayName: name}, true)
	c.expect(a, "POST /v1/users", ok, http.StatusCreated)
	if ok && a.status == http.StatusCreated {
		c.users[addr] = want{DisplayName: name, Enabled: true}
	}
}

func (c *client) update(ctx context.Context) {
	addr := c.own()
	if addr == "" {
		return
	}
	title := fmt.Sprintf("Title %d", c.rng.IntN(1000))
	a, ok := c.call(ctx, "PATCH /v1/users/{address}", "PATCH", "/v1/users/"+addr, api.UpdateUser{Title: &title}, true)
	c.expect(a, "PATCH /v1/users/{address}", ok, http.StatusOK)
	if ok && a.status == http.StatusOK {
		w := c.users[addr]
		w.Title = title
		c.users[addr] = w
	}
}

func (c *client) disable(ctx context.Context) {
	addr := c.own()
	if addr == "" {
		return
	}
	a, ok := c.call(ctx, "DELETE /v1/users/{address}", "DELETE", "/v1/users/"+addr, nil, true)
	c.expect(a, "DELETE /v1/users/{address}", ok, http.StatusOK)
	if ok && a.status == http.StatusOK {
		w := c.users[addr]
		w.Enabled = false
		c.users[addr] = w
	}
}

func (c *client) purge(ctx context.Context) {
	addr := c.own()
	if addr == "" {
		return
	}
	a, ok := c.call(ctx, "DELETE /v1/users/{address}?purge", "DELETE", "/v1/users/"+addr+"?purge=true", nil, true)
	c.expect(a, "DELETE /v1/users/{address}?purge", ok, http.StatusNoContent)
	if ok && a.status == http.StatusNoContent {
		delete(c.users, addr)
	}
}

func (c *client) setRoles(ctx context.Context) {
	addr := c.own()
	if addr == "" {
		return
	}
	roles := []string{loadRoles[c.rng.IntN(len(loadRoles))]}
	a, ok := c.call(ctx, "PUT /v1/users/{address}/roles", "PUT", "/v1/users/"+addr+"/roles", api.SetRoles{Roles: roles}, true)
	c.expect(a, "PUT /v1/users/{address}/roles", ok, http.StatusOK)
	if ok && a.status == http.StatusOK {
		w := c.users[addr]
		w.Roles = roles
		c.users[addr] = w
	}
}

// refusedWrite sends a write the daemon must refuse with a reason (a 4xx
// and an error code) and that must change nothing.
func (c *client) refusedWrite(ctx context.Context) {
	switch addr := c.own(); {
	case addr != "" && c.rng.IntN(3) == 0:
		a, ok := c.call(ctx, "POST /v1/users (refused)", "POST", "/v1/users", api.CreateUser{Address: addr, DisplayName: "Duplicate"}, true)
		c.expect(a, "POST /v1/users (duplicate)", ok, http.StatusConflict)
	case addr != "" && c.rng.IntN(2) == 0:
		a, ok := c.call(ctx, "PUT /v1/users/{address}/roles (refused)", "PUT", "/v1/users/"+addr+"/roles",
			api.SetRoles{Roles: []string{"No Such Role"}}, true)
		c.expect(a, "PUT roles (unknown role)", ok, http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity)
	default:
		a, ok := c.call(ctx, "POST /v1/users (refused)", "POST", "/v1/users",
			api.CreateUser{Address: fmt.Sprintf("c%d@not-internal.example", c.id)}, true)
		c.expect(a, "POST /v1/users (unknown domain)", ok, http.StatusBadRequest, http.StatusUnprocessableEntity)
	}
}

// login tries a password for a synced address that has none: refused (401,
// or 429/503 from the bounded sign-in path), never let in.
func (c *client) login(ctx context.Context) {
	addr := c.dir.userMail(c.rng.IntN(c.dir.users))
	a, ok := c.call(ctx, "POST /v1/auth/login", "POST", "/v1/auth/login", api.Login{Address: addr, Password: "Wrong-Guess-" + addr}, false)
	c.expect(a, "POST /v1/auth/login", ok, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable)
}

// trigger asks for a sync without waiting: it starts, or joins the pending run.
func (c *client) trigger(ctx context.Context) {
	a, ok := c.call(ctx, "POST /v1/syncs", "POST", "/v1/syncs", api.TriggerSync{Connectors: []string{"corp"}}, true)
	c.expect(a, "POST /v1/syncs", ok, http.StatusAccepted, http.StatusOK)
}

// crowd runs n clients against d until window ends (requests then in flight
// are still answered, within reqCtx) and returns their samples and the users
// they wrote, as the answers they got describe them.
func crowd(window, reqCtx context.Context, d *daemon, dir *directory, n int) ([]sample, map[string]want) {
	transport := &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: time.Minute}
	clients := make([]*client, n)
	var wg sync.WaitGroup
	for i := range n {
		clients[i] = &client{id: i, reqCtx: reqCtx, d: d, dir: dir, http: hc, rng: rand.New(rand.NewPCG(uint64(i), 20)), users: map[string]want{}}
		wg.Go(func() { clients[i].run(window) })
	}
	wg.Wait()
	var all []sample
	users := map[string]want{}
	for _, c := range clients {
		all = append(all, c.samples...)
		for k, v := range c.users {
			users[k] = v
		}
	}
	return all, users
}
