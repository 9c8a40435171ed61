package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/console"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
)

// The users page of a 100,000-user directory (issue 22, "Done when"): the first
// page and the page reached after 200 clicks on "next", sorted by department,
// a column without an index, must be rendered by the server in at most 300 ms,
// on SQLite and on PostgreSQL.
//
// BenchmarkUsersPage seeds each backend once (outside the timed loops), signs
// an administrator in, follows the page's a[rel=next] link 200 times to find
// the deep page, then times the console's handler (Console.ServeHTTP through
// an httptest recorder: no network, no browser) for each page. Its baseline,
// measured in the same loop with the timer stopped, is the bare store.Users
// call for the same page (same sort, cursor and size): what the listing costs
// before the service, the template and the session look-up are added.
//
// Metrics per page: ms/op (the handler), store-ms/op (the baseline) and
// x-store (their ratio). Run it with `make bench-console`;
// DIRSYNC_BENCH_USERS=n changes the size (a positive multiple of 1,000) and
// DIRSYNC_BENCH_CLICKS=n the depth.
func BenchmarkUsersPage(b *testing.B) {
	users := benchSize(b, "DIRSYNC_BENCH_USERS", 100_000, seedBatch)
	clicks := benchSize(b, "DIRSYNC_BENCH_CLICKS", 200, 1)
	if clicks >= users/usersPageSize {
		b.Fatalf("%d users make %d pages: too few for %d clicks on next", users, users/usersPageSize, clicks)
	}
	backends := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite", func(b *testing.B) store.Store { return testenv.SQLiteStore(b, benchDomain) }},
		{"postgres", func(b *testing.B) store.Store {
			st, err := postgres.OpenConfig(context.Background(), testenv.PostgresSchema(b), zap.NewNop())
			if err != nil {
				b.Fatalf("open the PostgreSQL store: %v", err)
			}
			b.Cleanup(func() { _ = st.Close() })
			if err := st.AddDomain(context.Background(), benchDomain, system); err != nil {
				b.Fatalf("add domain %s: %v", benchDomain, err)
			}
			return st
		}},
	}
	for _, be := range backends {
		// A benchmark with sub-benchmarks runs once, so each backend is
		// seeded once per run and its store reused by both pages.
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			start := time.Now()
			seedUsers(b, st, users)
			b.Logf("%s: seeded %d users in %s", be.name, users, time.Since(start).Round(time.Millisecond))
			e := newBenchConsole(b, st)
			first := "/console/users?registration=all&sort=department"
			deep := e.follow(b, first, clicks)
			for _, pg := range []struct{ name, path string }{
				{"first", first},
				{fmt.Sprintf("after-%d-next", clicks), deep},
			} {
				b.Run(pg.name, func(b *testing.B) { e.bench(b, pg.path) })
			}
		})
	}
}

const (
	benchDomain = "example.com"
	// seedBatch is the number of creates per store request while seeding.
	seedBatch = 1000
	// departments is how many distinct departments the seeded users spread
	// over: many ties, as in a real directory, so the sort's tie-break on the
	// address is exercised too.
	departments = 37
)

// benchSize is the environment variable's value when set (a positive
// multiple of unit), def otherwise.
func benchSize(b *testing.B, env string, def, unit int) int {
	b.Helper()
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n%unit != 0 {
		b.Fatalf("%s=%q: want a positive multiple of %d", env, v, unit)
	}
	return n
}

// seedUsers creates n manual users through the store's Apply, in requests of
// seedBatch creates. Their departments follow a permutation of the user
// number, so the department order is not the address order.
func seedUsers(b *testing.B, st store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	set := func(f string, v any) store.FieldChange { return store.FieldChange{Field: f, After: v} }
	for off := 0; off < n; off += seedBatch {
		changes := make([]store.Change, seedBatch)
		for i := range changes {
			j := off + i
			changes[i] = store.Change{Action: store.ActionCreate, Kind: store.KindUser,
				Address: fmt.Sprintf("user%06d@%s", j, benchDomain), Origin: "manual", Reason: "benchmark seed",
				Changes: []store.FieldChange{
					set(store.FieldDisplayName, fmt.Sprintf("User %06d", j)),
					set(store.FieldGivenName, "User"),
					set(store.FieldSurname, fmt.Sprintf("%06d", j)),
					set(store.FieldDepartment, fmt.Sprintf("Department %02d", (j*7919)%departments)),
					set(store.FieldTitle, "Engineer"),
				}}
		}
		out, err := st.Apply(ctx, store.ApplyRequest{Actor: system, Changes: changes})
		if err != nil {
			b.Fatalf("seed users %d-%d: %v", off, off+seedBatch-1, err)
		}
		for i, o := range out {
			if o.Err != nil || !o.Applied {
				b.Fatalf("seed %s: applied=%v, %v", changes[i].Address, o.Applied, o.Err)
			}
		}
	}
}

// benchConsole is the console over a seeded store, with a signed-in
// administrator's cookie.
type benchConsole struct {
	st     store.Store
	con    *console.Console
	cookie *http.Cookie
}

func newBenchConsole(b *testing.B, st store.Store) *benchConsole {
	b.Helper()
	ctx := context.Background()
	svc := api.NewService(api.Options{Store: st, Log: zap.NewNop(), PasswordParams: fast})
	con, err := console.New(console.Options{Service: svc, Store: st, Log: zap.NewNop()})
	if err != nil {
		b.Fatalf("console.New: %v", err)
	}
	const admin = "bench-admin@" + benchDomain
	if _, err := svc.CreateUser(ctx, system, api.CreateUser{Address: admin, DisplayName: "Bench Admin"}); err != nil {
		b.Fatalf("create %s: %v", admin, err)
	}
	if _, err := svc.Register(ctx, system, admin, api.Register{Password: adminPassword,
		Question: "First pet?", Answer: "Rex"}); err != nil {
		b.Fatalf("register %s: %v", admin, err)
	}
	if _, err := svc.SetRoles(ctx, system, admin, []string{"Administrator"}); err != nil {
		b.Fatalf("roles of %s: %v", admin, err)
	}
	e := &benchConsole{st: st, con: con}
	req := httptest.NewRequest(http.MethodPost, "/console/signin",
		strings.NewReader(url.Values{"address": {admin}, "password": {adminPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	con.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("sign in: %d, want 303: %s", rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Value != "" {
			e.cookie = c
		}
	}
	if e.cookie == nil {
		b.Fatal("sign in set no session cookie")
	}
	return e
}

// get serves one GET through the console's handler.
func (e *benchConsole) get(path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.AddCookie(e.cookie)
	rec := httptest.NewRecorder()
	e.con.ServeHTTP(rec, req)
	return rec
}

// page reads a users page that must be 200 with at least one user row.
func (e *benchConsole) page(b *testing.B, path string) *goquery.Document {
	b.Helper()
	rec := e.get(path)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d, want 200: %.500s", path, rec.Code, rec.Body)
	}
	doc, err := goquery.NewDocumentFromReader(rec.Body)
	if err != nil {
		b.Fatalf("parse %s: %v", path, err)
	}
	return doc
}

// follow clicks "next" (a[rel=next]) clicks times from path and returns the
// path of the page reached.
func (e *benchConsole) follow(b *testing.B, path string, clicks int) string {
	b.Helper()
	for i := range clicks {
		href, ok := e.page(b, path).Find(`a[rel="next"]`).First().Attr("href")
		if !ok {
			b.Fatalf("click %d: no a[rel=next] on %.200s…", i+1, path)
		}
		u, err := url.Parse(href)
		if err != nil {
			b.Fatalf("click %d: next href %q: %v", i+1, href, err)
		}
		path = (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).String()
		if !strings.HasPrefix(path, "/console/users") {
			b.Fatalf("click %d: next href %q leaves the users page", i+1, href)
		}
	}
	return path
}

// usersPageSize is the users page's size when its URL sets no limit.
const usersPageSize = 50

// bench times the handler for path; the baseline is the store's listing of
// the same page, timed in the same loop with the benchmark's timer stopped.
func (e *benchConsole) bench(b *testing.B, path string) {
	ctx := context.Background()
	u, err := url.Parse(path)
	if err != nil {
		b.Fatalf("path %q: %v", path, err)
	}
	q := u.Query()
	lq := store.ListQuery{Sort: q.Get("sort"), Desc: q.Get("order") == "desc", Cursor: q.Get("cursor"), Limit: usersPageSize}
	if v := q.Get("limit"); v != "" {
		if lq.Limit, err = strconv.Atoi(v); err != nil {
			b.Fatalf("limit=%q in %s: %v", v, path, err)
		}
	}
	// The baseline must list the page the console shows: every one of its
	// users is on it.
	want, _, err := e.st.Users(ctx, lq)
	if err != nil {
		b.Fatalf("store.Users: %v", err)
	}
	if len(want) != lq.Limit {
		b.Fatalf("store.Users listed %d users, want a full page of %d", len(want), lq.Limit)
	}
	rec := e.get(path)
	b.Logf("%d-byte URL, %d-byte page", len(path), rec.Body.Len())
	html := e.page(b, path).Text()
	for _, w := range want {
		if !strings.Contains(html, w.Address) {
			b.Fatalf("%s does not show %s, which the store lists on that page", path, w.Address)
		}
	}

	var handler, baseline time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		rec := e.get(path)
		handler += time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d", path, rec.Code)
		}
		b.StopTimer()
		start = time.Now()
		if _, _, err := e.st.Users(ctx, lq); err != nil {
			b.Fatalf("store.Users: %v", err)
		}
		baseline += time.Since(start)
		b.StartTimer()
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
	b.ReportMetric(ms(handler), "ms/op")
	b.ReportMetric(ms(baseline), "store-ms/op")
	b.ReportMetric(handler.Seconds()/baseline.Seconds(), "x-store")
	if ms(handler) > usersPageBudget {
		b.Logf("over budget: %s took %.1f ms, the issue allows %d ms", path, ms(handler), usersPageBudget)
	}
}

// usersPageBudget is issue 22's limit for the server's time on a users page,
// in milliseconds.
const usersPageBudget = 300
