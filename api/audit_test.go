package api_test

import (
	"encoding/base64"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// Locks are audited at the instant of the failed logins, so the time filters
// are tested at exact times, long before everything else in the log.
var (
	auditDay1 = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	auditDay2 = auditDay1.AddDate(0, 0, 1)
)

// auditFixture fills the log: ann and bob created and changed by an admin
// through the API, by the syncs of connectors corp and hr, ann locked on day 1
// and bob on day 2.
func auditFixture(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, nil, nil)
	h.createUser(api.CreateUser{Address: "ann@example.com", Aliases: []string{"annie@example.com"}})
	title := "CEO"
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Title: &title}).ok(http.StatusOK, nil)
	apply := func(actor store.Actor, ch store.Change) {
		t.Helper()
		out, err := h.st.Apply(t.Context(), store.ApplyRequest{Actor: actor, Changes: []store.Change{ch}})
		require.NoError(t, err)
		require.NoError(t, out[0].Err)
		require.True(t, out[0].Applied)
	}
	corp1 := store.Actor{Kind: "sync", Name: "corp", RunID: "run-1"}
	corp2 := store.Actor{Kind: "sync", Name: "corp", RunID: "run-2"}
	hr := store.Actor{Kind: "sync", Name: "hr", RunID: "run-3"}
	apply(corp1, store.Change{Action: store.ActionCreate, Kind: store.KindUser, Address: "bob@example.com",
		Origin: "corp", Anchor: "B-1", Reason: "new in source"})
	apply(corp2, store.Change{Action: store.ActionUpdate, Address: "bob@example.com", Origin: "corp",
		Changes: []store.FieldChange{{Field: store.FieldDisplayName, After: "Bob"}}, Reason: "changed in source"})
	apply(hr, store.Change{Action: store.ActionCreate, Kind: store.KindUser, Address: "cat@example.com",
		Origin: "hr", Anchor: "C-1", Reason: "new in source"})
	for _, l := range []struct {
		addr string
		at   time.Time
	}{{"ann@example.com", auditDay1}, {"bob@example.com", auditDay2}} {
		for range store.LockAfter {
			_, err := h.st.LoginFailed(t.Context(), l.addr, "wrong password", l.at)
			require.NoError(t, err)
		}
	}
	return h
}

// auditGet is GET /v1/audit with q as the read-only token.
func (h *harness) auditGet(q url.Values) api.AuditList {
	h.t.Helper()
	var out api.AuditList
	h.call("GET", "/v1/audit?"+q.Encode(), h.read, nil).ok(http.StatusOK, &out)
	require.NotNil(h.t, out.Entries, "entries is [] when empty, never null")
	return out
}

// auditKey is an entry's action and address, for comparisons.
func auditKeys(entries []api.AuditEntry) []string {
	out := []string{}
	for _, e := range entries {
		out = append(out, string(e.Action)+" "+e.Address)
	}
	return out
}

func TestAuditFilters(t *testing.T) {
	h := auditFixture(t)
	get := func(kv ...string) []api.AuditEntry {
		t.Helper()
		q := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		out := h.auditGet(q)
		require.Empty(t, out.NextCursor, "one page")
		for i, e := range out.Entries {
			if i > 0 {
				require.Greater(t, out.Entries[i-1].ID, e.ID, "newest first")
			}
		}
		return out.Entries
	}

	all := get()
	require.Equal(t, []string{"lock bob@example.com", "lock ann@example.com", "create cat@example.com",
		"update bob@example.com", "create bob@example.com", "update ann@example.com", "create ann@example.com"},
		auditKeys(all)[:7])

	t.Run("Address", func(t *testing.T) {
		want := []string{"lock ann@example.com", "update ann@example.com", "create ann@example.com"}
		require.Equal(t, want, auditKeys(get("address", "ann@example.com")))
		require.Equal(t, want, auditKeys(get("address", "ANN@Example.com")), "normalised")
		require.Equal(t, want, auditKeys(get("address", "annie@example.com")), "an alias reads as its primary address")
		require.Empty(t, get("address", "nobody@example.com"))
		require.Equal(t, []string{"create_token read-token"}, auditKeys(get("address", "read-token")), "a token's name")
	})
	t.Run("Actor", func(t *testing.T) {
		require.Equal(t, []string{"update ann@example.com", "create ann@example.com"}, auditKeys(get("actor", "admin")))
		upd := get("actor", "admin:admin-token")
		require.Equal(t, []string{"update ann@example.com", "create ann@example.com"}, auditKeys(upd))
		require.Equal(t, api.AuditActor{Kind: "admin", Name: "admin-token"}, upd[0].Actor)
		require.Empty(t, get("actor", "admin:read-token"))
		require.Equal(t, []string{"create cat@example.com", "update bob@example.com", "create bob@example.com"},
			auditKeys(get("actor", "sync")))
		corp := get("actor", "sync:corp")
		require.Equal(t, []string{"update bob@example.com", "create bob@example.com"}, auditKeys(corp))
		require.Equal(t, api.AuditActor{Kind: "sync", Name: "corp", RunID: "run-2"}, corp[0].Actor)
		require.Equal(t, []string{"lock bob@example.com", "lock ann@example.com"}, auditKeys(get("actor", "system:login")))
		require.Empty(t, get("actor", "import"))
	})
	t.Run("Connector", func(t *testing.T) {
		require.Equal(t, []string{"update bob@example.com", "create bob@example.com"}, auditKeys(get("connector", "corp")))
		require.Equal(t, []string{"create cat@example.com"}, auditKeys(get("connector", "hr")))
		require.Equal(t, []string{"create cat@example.com"}, auditKeys(get("connector", "hr", "actor", "sync:hr")))
		require.Equal(t, []string{"create cat@example.com"}, auditKeys(get("connector", "hr", "actor", "sync")))
		require.Empty(t, get("connector", "admin-token"), "only syncs")
	})
	t.Run("Run", func(t *testing.T) {
		require.Equal(t, []string{"update bob@example.com"}, auditKeys(get("run", "run-2")))
		require.Empty(t, get("run", "run-2", "address", "ann@example.com"))
	})
	t.Run("Action", func(t *testing.T) {
		require.Equal(t, []string{"update bob@example.com", "update ann@example.com"}, auditKeys(get("action", "update")))
		require.Equal(t, []string{"create ann@example.com"}, auditKeys(get("action", "create", "actor", "admin")))
		require.Equal(t, []string{"lock bob@example.com", "lock ann@example.com"}, auditKeys(get("action", "lock")))
		require.Empty(t, get("action", "delete"))
	})
	t.Run("TimeRange", func(t *testing.T) {
		day1, day2 := auditDay1.Format(time.RFC3339), auditDay2.Format(time.RFC3339)
		require.Equal(t, []string{"lock ann@example.com"}, auditKeys(get("since", day1, "until", day2)), "since in, until out")
		require.Equal(t, []string{"lock ann@example.com"}, auditKeys(get("until", day2)))
		require.Equal(t, []string{"lock ann@example.com"}, auditKeys(get("since", "2001-01-01T01:00:00+01:00", "until", "2001-01-01T00:00:00.5Z")),
			"offsets and fractions")
		require.Equal(t, []string{"lock bob@example.com"}, auditKeys(get("since", day2, "until", "2001-01-03T00:00:00Z")))
		require.Empty(t, get("until", day1))
		recent := get("since", "2001-01-03T00:00:00Z")
		require.NotContains(t, auditKeys(recent), "lock ann@example.com")
		require.NotContains(t, auditKeys(recent), "lock bob@example.com")
		require.Len(t, recent, len(all)-2)
	})

	t.Run("Entry", func(t *testing.T) {
		upd := get("address", "bob@example.com", "action", "update")
		require.Len(t, upd, 1)
		e := upd[0]
		require.Equal(t, "changed in source", e.Reason)
		require.Equal(t, []api.FieldChange{{Field: store.FieldDisplayName, Before: "", After: "Bob"}}, e.Changes)
		require.False(t, e.Time.IsZero())
		// The JSON: changes is a list even when empty, empty fields are left out.
		body := string(h.call("GET", "/v1/audit?actor=system:login&limit=1", h.read, nil).ok(http.StatusOK, nil).Body)
		require.Contains(t, body, `"actor":{"kind":"system","name":"login"}`)
		require.Contains(t, body, `"time":"2001-01-02T00:00:00Z"`)
		require.NotContains(t, body, `"run_id"`)
		require.NotContains(t, body, `null`)
	})
}

func TestAuditPaging(t *testing.T) {
	h := auditFixture(t)
	for i := range 7 {
		title := "T" + strconv.Itoa(i)
		h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Title: &title}).ok(http.StatusOK, nil)
	}
	for _, filter := range []url.Values{{}, {"address": {"ann@example.com"}}, {"actor": {"admin"}, "action": {"update"}}} {
		all := h.auditGet(url.Values{"address": filter["address"], "actor": filter["actor"], "action": filter["action"],
			"limit": {"1000"}})
		require.Empty(t, all.NextCursor)
		require.Greater(t, len(all.Entries), 5)
		for _, size := range []int{1, 2, 3, len(all.Entries) - 1, len(all.Entries)} {
			var paged []api.AuditEntry
			q := url.Values{"limit": {strconv.Itoa(size)}}
			for k, v := range filter {
				q[k] = v
			}
			pages := 0
			for {
				page := h.auditGet(q)
				pages++
				require.LessOrEqual(t, len(page.Entries), size)
				paged = append(paged, page.Entries...)
				if page.NextCursor == "" {
					break
				}
				require.Len(t, page.Entries, size, "a page with a next one is full")
				require.LessOrEqual(t, pages, len(all.Entries), "paging ends")
				q.Set("cursor", page.NextCursor)
			}
			require.Equal(t, all.Entries, paged, "filter %v, pages of %d: no gap, no overlap", filter, size)
			require.Equal(t, (len(all.Entries)+size-1)/size, pages, "no empty last page")
		}
	}

	// Entries written between pages are newer: the pages go on where they were.
	first := h.auditGet(url.Values{"limit": {"3"}})
	rest := h.auditGet(url.Values{"limit": {"1000"}, "cursor": {first.NextCursor}})
	title := "new"
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Title: &title}).ok(http.StatusOK, nil)
	again := h.auditGet(url.Values{"limit": {"1000"}, "cursor": {first.NextCursor}})
	require.Equal(t, rest, again)
}

func TestAuditBadParameters(t *testing.T) {
	h := auditFixture(t)
	for _, tc := range []struct{ query, param string }{
		{"addres=ann@example.com", "addres"},
		{"actor=admin&actor=sync", "actor"},
		{"address=ann@@example.com", "address"},
		{"actor=robot", "actor"},
		{"actor=sync:", "actor"},
		{"actor=Sync", "actor"},
		{"connector=corp&actor=admin", "connector"},
		{"connector=corp&actor=sync:hr", "connector"},
		{"action=frobnicate", "action"},
		{"action=CREATE", "action"},
		{"since=yesterday", "since"},
		{"since=2001-01-01", "since"},
		{"until=2001-01-01T00:00:00", "until"},
		{"since=2001-01-02T00:00:00Z&until=2001-01-01T00:00:00Z", "until"},
		{"since=2001-01-01T00:00:00Z&until=2001-01-01T00:00:00Z", "until"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"cursor=not-a-cursor!", "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"before_id":0}`)), "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"before_id":-3}`)), "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"after":3}`)), "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"before_id":3}{}`)), "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`12`)), "cursor"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			info := h.call("GET", "/v1/audit?"+tc.query, h.read, nil).apiErr(http.StatusBadRequest, api.CodeBadRequest)
			require.Contains(t, info.Message, tc.param, "the message names the parameter")
		})
	}
	// The service itself checks its parameters as the route does.
	_, err := api.NewService(api.Options{Store: h.st}).Audit(t.Context(), url.Values{"limit": {"0"}})
	status, info, _ := api.Classify(err)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, info.Message, "limit")
}

func TestAuditSecretsRedacted(t *testing.T) {
	h := newHarness(t, nil, nil)
	const answer = "Snowball-the-Cat"
	h.secret(answer)
	h.createUser(api.CreateUser{Address: "ann@example.com", Password: goodPass})
	pw := otherPass
	h.call("PATCH", "/v1/users/ann@example.com", h.admin, api.UpdateUser{Password: &pw}).ok(http.StatusOK, nil)
	h.call("POST", "/v1/users/ann@example.com/register", h.admin, api.Register{Password: goodPass,
		Question: "First pet?", Answer: answer}).ok(http.StatusOK, nil)

	// raw checks each answer for the harness's secrets (the passwords, the
	// answer, every token and hash).
	resp := h.call("GET", "/v1/audit?address=ann@example.com", h.read, nil)
	var out api.AuditList
	resp.ok(http.StatusOK, &out)
	require.NotContains(t, strings.ToLower(string(resp.Body)), strings.ToLower(answer))
	redacted := 0
	for _, e := range out.Entries {
		for _, c := range e.Changes {
			if c.Field == store.AuditPassword || c.Field == store.AuditAnswer {
				require.Equal(t, store.Redacted, c.After, "%s %s", e.Action, c.Field)
				redacted++
			}
		}
	}
	require.GreaterOrEqual(t, redacted, 4, "the three passwords and the answer: %s", resp.Body)
	require.Contains(t, auditKeys(out.Entries), "set_password ann@example.com")
	require.Contains(t, auditKeys(out.Entries), "register ann@example.com")

	tokens := h.call("GET", "/v1/audit?action=create_token", h.read, nil).ok(http.StatusOK, nil)
	require.Contains(t, string(tokens.Body), store.Redacted)
}

func TestAuditAccess(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.call("GET", "/v1/audit", h.read, nil).ok(http.StatusOK, nil)
	h.call("GET", "/v1/audit", h.admin, nil).ok(http.StatusOK, nil)
	h.call("GET", "/v1/audit", "", nil).apiErr(http.StatusUnauthorized, api.CodeUnauthorized)
	h.call("GET", "/v1/audit", "dst_"+strings.Repeat("A", 43), nil).apiErr(http.StatusUnauthorized, api.CodeUnauthorized)
	h.call("GET", "/v1/audit", h.sync, nil).apiErr(http.StatusForbidden, api.CodeForbidden)
	h.call("GET", "/v1/audit", h.senders, nil).apiErr(http.StatusForbidden, api.CodeForbidden)
	h.call("POST", "/v1/audit", h.admin, nil).apiErr(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
}

// TestAuditActionsAreTheStores reads the store package's source: every
// store.Action constant must be a value of the action parameter, so a new
// action cannot be recorded and yet refused by the filter.
func TestAuditActionsAreTheStores(t *testing.T) {
	fset := token.NewFileSet()
	var declared []store.Action
	matches, err := filepath.Glob("../store/*.go")
	require.NoError(t, err)
	for _, path := range matches {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok || spec.Type == nil || typeName(spec.Type) != "Action" {
				return true
			}
			for _, v := range spec.Values {
				lit, ok := v.(*ast.BasicLit)
				require.True(t, ok, "%s: an Action constant that is not a literal", path)
				s, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				declared = append(declared, store.Action(s))
			}
			return true
		})
	}
	require.NotEmpty(t, declared)
	require.ElementsMatch(t, declared, api.AuditActions)
}

func typeName(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// TestOpenAPIAudit checks the audit route's documented parameter values and
// schemas against the code.
func TestOpenAPIAudit(t *testing.T) {
	raw, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	var doc struct {
		Paths      map[string]map[string]yaml.Node `yaml:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `yaml:"enum"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	node, ok := doc.Paths["/v1/audit"]["get"]
	require.True(t, ok)
	var op struct {
		Parameters []struct {
			Name   string `yaml:"name"`
			Schema struct {
				Enum    []string `yaml:"enum"`
				Pattern string   `yaml:"pattern"`
			} `yaml:"schema"`
		} `yaml:"parameters"`
	}
	require.NoError(t, node.Decode(&op))
	var names []string
	actions := make([]string, len(api.AuditActions))
	for i, a := range api.AuditActions {
		actions[i] = string(a)
	}
	for _, p := range op.Parameters {
		names = append(names, p.Name)
		switch p.Name {
		case "action":
			require.ElementsMatch(t, actions, p.Schema.Enum)
		case "actor":
			require.Contains(t, p.Schema.Pattern, "("+strings.Join(api.AuditActorKinds, "|")+")")
		}
	}
	require.ElementsMatch(t, []string{"address", "actor", "action", "connector", "run", "since", "until", "limit", "cursor"}, names)
	require.Equal(t, api.AuditActorKinds, doc.Components.Schemas["AuditActor"].Properties["kind"].Enum)

	for name, v := range map[string]any{"AuditActor": api.AuditActor{}, "AuditEntry": api.AuditEntry{}, "AuditList": api.AuditList{}} {
		var props []string
		for p := range doc.Components.Schemas[name].Properties {
			props = append(props, p)
		}
		var fields []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			fields = append(fields, tag)
		}
		slices.Sort(props)
		slices.Sort(fields)
		require.Equal(t, fields, props, "schema %s", name)
	}
}
