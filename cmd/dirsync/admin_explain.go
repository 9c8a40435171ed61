package main

// dirsync explain: one source object through every stage of a sync.

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/clitext"
)

func cmdExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("explain", "--connector NAME --user ADDRESS|ANCHOR [--apply]", stderr)
	connector := f.String("connector", "", "the connector to read the object from (required)")
	user := f.String("user", "", "the object's address, alias or source anchor (required)")
	apply := f.Bool("apply", false, "apply the planned operations of this one object now")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *connector == "" || *user == "" {
		f.Usage()
		return usageError("explain: --connector and --user are required")
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	x, err := a.client.Explain(ctx, api.ExplainRequest{Connector: *connector, User: *user, Apply: *apply})
	return answer(a, x, err, func(w io.Writer, x *api.Explanation) error {
		renderExplanation(w, x)
		if x.Apply != nil && x.Apply.Status != api.RunOK {
			return &exitError{code: exitFailed, msg: fmt.Sprintf("apply: run %s ended %s", x.Apply.RunID, x.Apply.Status)}
		}
		return nil
	})
}

// renderExplanation prints the stages as numbered sections.
func renderExplanation(w io.Writer, x *api.Explanation) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("%s in connector %s", x.Key, x.Connector)
	p("")
	p("1. read       %s", x.Read.Query)
	for _, k := range slices.Sorted(maps.Keys(x.Read.Attributes)) {
		for _, v := range x.Read.Attributes[k] {
			p("               %s: %s", k, v)
		}
	}
	p("2. scope      %s", map[bool]string{true: "in scope", false: "OUT OF SCOPE"}[x.Scope.InScope])
	for _, c := range x.Scope.Checks {
		mark := map[bool]string{true: "admitted", false: "EXCLUDED"}[c.Admitted]
		line := fmt.Sprintf("               %-8s %s", mark, c.Rule)
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		p("%s", line)
	}
	n := x.Normalise
	if n.OK {
		p("3. normalise  ok")
		r := n.Record
		field := func(name, v string) {
			if v != "" {
				p("               %-13s %s", name+":", v)
			}
		}
		field("kind", r.Kind)
		field("anchor", r.Anchor)
		field("address", r.Address)
		field("aliases", strings.Join(r.Aliases, ", "))
		field("display name", r.DisplayName)
		field("given name", r.GivenName)
		field("surname", r.Surname)
		field("phone", r.Phone)
		field("department", r.Department)
		field("title", r.Title)
		field("enabled", fmt.Sprint(r.Enabled))
		field("members", strings.Join(r.Members, ", "))
		field("join anchor", r.JoinAnchor)
	} else {
		p("3. normalise  QUARANTINED")
	}
	for _, q := range n.Quarantined {
		p("               %s: %s (fix: %s)", q.Field, q.Reason, q.Fix)
	}
	for _, q := range n.Warnings {
		p("               warning: %s: %s (fix: %s)", q.Field, q.Reason, q.Fix)
	}
	p("4. join       by %s: %s", x.Join.By, x.Join.Detail)
	if u := x.Join.User; u != nil {
		p("               store object %s (%s, origin %s, %s)", u.Address, u.Kind, u.Origin, clitext.Enabled(u.Enabled))
		if u.Protected != "" {
			p("               protected: %s", u.Protected)
		}
	}
	if c := x.Join.Cached; c != nil {
		since := "unchanged since the last run"
		if x.Join.Changed {
			since = "changed since the last run"
		}
		if c.Missing > 0 {
			since += fmt.Sprintf(", counted missing in %d full run(s)", c.Missing)
		}
		p("               cached as %s: %s", c.Address, since)
	} else {
		p("               not in this connector's cached state")
	}
	p("5. plan       %s", x.Plan.Summary)
	for _, op := range x.Plan.Operations {
		p("               %s %s %s (%s)", op.Action, op.Kind, op.Address, op.Reason)
		for _, c := range op.Changes {
			if c.Before == nil {
				p("                 %s: %s", c.Field, show(c.After))
			} else {
				p("                 %s: %s -> %s", c.Field, show(c.Before), show(c.After))
			}
		}
		if op.Note != "" {
			p("                 %s", op.Note)
		}
	}
	for _, q := range x.Plan.Refused {
		p("               refused: %s (fix: %s)", q.Reason, q.Fix)
	}
	if r := x.Apply; r != nil {
		p("6. apply      run %s: %s", r.RunID, r.Status)
		for _, op := range r.Operations {
			line := fmt.Sprintf("               %s %s: %s", op.Action, op.Address, op.Outcome)
			if op.Error != "" {
				line += " (" + op.Error + ")"
			}
			p("%s", line)
		}
		for _, op := range r.Held {
			p("               %s %s: held", op.Action, op.Address)
		}
		for _, e := range r.Errors {
			p("               error: %s", e)
		}
	}
}

// show renders a field value: strings quoted, lists joined.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
