package main

// dirsync holds: list, approve and reject held operations.

import (
	"context"
	"fmt"
	"io"

	"github.com/dirsync/dirsync/api"
)

func cmdHolds(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "holds", "List, approve and reject the destructive operations runs held for approval.", []subcommand{
		{"list", "[--connector NAME] [--status pending|applied|rejected|expired|all]", holdsList},
		{"approve", "HOLD-ID... | --run RUN-ID | --connector NAME", holdsDecider(true)},
		{"reject", "HOLD-ID... | --run RUN-ID | --connector NAME", holdsDecider(false)},
	}, args, stdout, stderr)
}

func holdsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("holds list", "[--connector NAME] [--status STATUS]", stderr)
	connector := f.String("connector", "", "only this connector's holds")
	status := f.String("status", "pending", "pending, applied, rejected, expired or all")
	a, _, err := f.start(args, 0, 0, stdout)
	if err != nil {
		return err
	}
	if *status == "all" {
		*status = ""
	}
	l, err := a.client.Holds(ctx, *connector, *status)
	l.Holds = orEmpty(l.Holds)
	return list(a, l, err, []string{"HOLD ID", "CONNECTOR", "RUN ID", "ACTION", "ADDRESS", "STATUS", "REASON"}, l.Holds,
		func(h api.Hold) []string {
			st := string(h.Status)
			if h.By != "" {
				st += " (" + h.By + ")"
			}
			return []string{h.ID, h.Connector, h.RunID, h.Action, h.Address, st, h.Reason}
		})
}

// holdsDecider approves or rejects by IDs, run or connector; it fails (exit 1)
// when any selected operation was refused, after printing every result.
func holdsDecider(approve bool) command {
	verb := map[bool]string{true: "approve", false: "reject"}[approve]
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		f := newAdminFlags("holds "+verb, "HOLD-ID... | --run RUN-ID | --connector NAME", stderr)
		run := f.String("run", "", "every pending operation this run held")
		connector := f.String("connector", "", "every pending operation of this connector")
		ids, err := f.parse(args, 0, -1)
		if err != nil {
			return err
		}
		if len(ids) == 0 && *run == "" && *connector == "" {
			f.Usage()
			return usageError("holds %s: name the holds (IDs from `dirsync holds list`), or give --run or --connector", verb)
		}
		a, err := f.connect(stdout)
		if err != nil {
			return err
		}
		res, err := a.client.DecideHolds(ctx, api.DecideHolds{IDs: ids, RunID: *run, Connector: *connector}, approve)
		err = list(a, res, err, []string{"HOLD ID", "STATUS", "ERROR"}, res.Results, func(r api.HoldResult) []string {
			return []string{r.ID, string(r.Status), r.Error}
		})
		if err != nil {
			return err
		}
		refused := 0
		for _, r := range res.Results {
			if r.Code != "" {
				refused++
			}
		}
		if len(res.Results) == 0 {
			fmt.Fprintln(stderr, "no pending held operation matched")
		}
		if refused > 0 {
			return &exitError{code: 1, msg: fmt.Sprintf("%d of %d held operations were not %sd", refused, len(res.Results), verb)}
		}
		return nil
	}
}
