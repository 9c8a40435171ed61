package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/clitext"
)

// cmdAudit is "dirsync audit": the audit log through GET /v1/audit, newest first; every flag is the API's parameter.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, q := newAdminFlags("audit", "[--address A] [--actor KIND[:NAME]] [--action X] [--connector C] [--run ID] [--since T] [--until T] [--limit N] [--cursor C]", stderr), url.Values{}
	for _, fl := range []string{"address: changes to this user (address or alias)", "actor: who: sync, admin, import, system, ... or KIND:NAME",
		"action: create, update, disable, enable, delete, register, ...", "connector: changes by this connector's syncs", "run: changes of this sync run",
		"since: from (RFC 3339)", "until: up to (RFC 3339)", "limit: entries per page (1-1000)", "cursor: the next page (next_cursor)"} {
		name, usage, _ := strings.Cut(fl, ": ")
		f.Func(name, usage, func(v string) error { q.Set(name, v); return nil })
	}
	a, _, err := f.start(args, 0, 0, stdout)
	if err != nil {
		return err
	}
	page, err := a.client.Audit(ctx, q)
	if err = answer(a, page, err, printAudit); err == nil && !a.json && page.NextCursor != "" {
		fmt.Fprintf(stderr, "more entries: add --cursor %s\n", page.NextCursor)
	}
	return err
}

// printAudit writes a line per entry (time, actor, action, address, reason), an indented one per field change.
func printAudit(w io.Writer, l api.AuditList) error {
	val := func(v any) string { return cmp.Or(strings.Replace(fmt.Sprint(v), "<nil>", "-", 1), `""`) } // "-": no value
	for _, e := range l.Entries {
		who := strings.TrimSuffix(e.Actor.Kind+":"+e.Actor.Name, ":") + strings.TrimSuffix(" (run "+e.Actor.RunID+")", " (run )")
		fmt.Fprintln(w, strings.TrimSpace(strings.Join([]string{clitext.Time(e.Time), who, e.Action, e.Address, e.Reason}, "  ")))
		for _, c := range e.Changes {
			fmt.Fprintf(w, "    %s: %s → %s\n", c.Field, val(c.Before), val(c.After))
		}
	}
	return nil
}
