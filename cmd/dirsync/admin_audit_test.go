package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/store"
)

// TestAdminAudit: `dirsync audit` reads the audit log through the API, as text
// and JSON, with the API's filters, and with the API's refusals.
func TestAdminAudit(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	// A sync creates and updates alice; an administrator retitles her; bob is
	// created through the CLI; a password is set (redacted in the log).
	sync := store.Actor{Kind: "sync", Name: "corp", RunID: "run-7"}
	_, err := e.st.Apply(ctx, store.ApplyRequest{Actor: sync, Changes: []store.Change{{Action: store.ActionCreate, Kind: "user",
		Address: "alice@example.com", Origin: "corp", Anchor: "a-1", Reason: "new in the source",
		Changes: []store.FieldChange{{Field: "display_name", After: "Alice"}, {Field: "title", After: "Engineer"}}}}})
	require.NoError(t, err)
	_, err = e.st.Apply(ctx, store.ApplyRequest{Actor: sync, Changes: []store.Change{{Action: store.ActionUpdate, Kind: "user",
		Address: "alice@example.com", Origin: "corp", Anchor: "a-1", Reason: "changed in the source",
		Changes: []store.FieldChange{{Field: "title", Before: "Engineer", After: "Lead <b>"}}}}})
	require.NoError(t, err)
	e.ok("users", "create", "bob@example.com", "--name", "Bob")
	e.ok("users", "update", "bob@example.com", "--title", "Ops")

	// Text: newest first, a line per entry and an indented line per change.
	res := e.ok("audit", "--address", "alice@example.com")
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  sync:corp \(run run-7\)  update  alice@example\.com  changed in the source$`, lines[0])
	require.Equal(t, `    title: Engineer → Lead <b>`, lines[1], res.stdout)
	require.Regexp(t, `  sync:corp \(run run-7\)  create  alice@example\.com  new in the source$`, lines[2])
	require.Contains(t, lines[3:], `    display_name: - → Alice`)
	require.Contains(t, lines[3:], `    title: - → Engineer`)
	require.Contains(t, lines[3:], `    enabled: - → true`)
	require.Len(t, regexp.MustCompile(`(?m)^\S`).FindAllString(res.stdout, -1), 2, res.stdout)
	require.Empty(t, res.stderr)

	// Filters go to the API: actor, action, connector; an alias-free address.
	res = e.ok("audit", "--actor", "sync", "--action", "create")
	require.Equal(t, 1, strings.Count(res.stdout, "create  alice@example.com"), res.stdout)
	require.NotContains(t, res.stdout, "bob@example.com")
	res = e.ok("audit", "--address", "bob@example.com")
	require.Regexp(t, `(?m)^\S+ \S+  admin:test-admin  update  bob@example\.com  changed through the admin API$`, res.stdout)
	require.Contains(t, res.stdout, `    title: "" → Ops`)
	res = e.ok("audit", "--connector", "corp", "--since", "2000-01-01T00:00:00Z")
	require.Equal(t, 2, len(regexp.MustCompile(`(?m)^\S`).FindAllString(res.stdout, -1)), res.stdout)
	res = e.ok("audit", "--address", "nobody@example.com")
	require.Empty(t, res.stdout)

	// JSON: the API's list, with a cursor while there is more.
	var l api.AuditList
	e.jsonOf(&l, "audit", "--address", "alice@example.com", "--limit", "1")
	require.Len(t, l.Entries, 1)
	require.Equal(t, "update", l.Entries[0].Action)
	require.Equal(t, api.AuditActor{Kind: "sync", Name: "corp", RunID: "run-7"}, l.Entries[0].Actor)
	require.Equal(t, []api.FieldChange{{Field: "title", Before: "Engineer", After: "Lead <b>"}}, l.Entries[0].Changes)
	require.NotEmpty(t, l.NextCursor)
	var next api.AuditList
	e.jsonOf(&next, "audit", "--address", "alice@example.com", "--limit", "1", "--cursor", l.NextCursor)
	require.Len(t, next.Entries, 1)
	require.Equal(t, "create", next.Entries[0].Action)
	require.Empty(t, next.NextCursor)
	// In text, the cursor is offered on stderr.
	res = e.ok("audit", "--address", "alice@example.com", "--limit", "1")
	require.Equal(t, "more entries: add --cursor "+l.NextCursor+"\n", res.stderr)
	var empty map[string]any
	e.jsonOf(&empty, "audit", "--address", "nobody@example.com")
	require.Equal(t, []any{}, empty["entries"])

	// The API's refusals: message, code, exit 1; usage errors exit 2.
	res = e.fails(exitFailed, "audit", "--since", "yesterday")
	require.Contains(t, res.stderr, "since")
	res = e.fails(exitFailed, "audit", "--limit", "0")
	require.Contains(t, res.stderr, "limit")
	e.fails(exitUsage, "audit", "extra")
	e.fails(exitUsage, "audit", "--output", "yaml")
	res = e.ok("audit", "--help")
	require.Contains(t, res.stderr, "--connector")
}
