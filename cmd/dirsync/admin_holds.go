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
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *status == "all" {
		*status = ""
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	list, err := a.client.Holds(ctx, *connector, *status)
	if err != nil {
		return a.fail(err)
	}
	if list.Holds == nil {
		list.Holds = []api.Hold{}
	}
	if a.json {
		return printJSON(stdout, list)
	}
	t := newTable(stdout, "HOLD ID", "CONNECTOR", "RUN ID", "ACTION", "ADDRESS", "STATUS", "REASON")
	for _, h := range list.Holds {
		st := h.Status
		if h.By != "" {
			st += " (" + h.By + ")"
		}
		t.row(h.ID, h.Connector, h.RunID, h.Action, h.Address, st, h.Reason)
	}
	return t.flush()
}

// holdsDecider approves or rejects by IDs, run or connector; it fails (exit 1)
// when any selected operation was refused, after printing every result.
func holdsDecider(approve bool) func(context.Context, []string, io.Writer, io.Writer) error {
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
		if err != nil {
			return a.fail(err)
		}
		if a.json {
			if err := printJSON(stdout, res); err != nil {
				return err
			}
		} else {
			t := newTable(stdout, "HOLD ID", "STATUS", "ERROR")
			for _, r := range res.Results {
				t.row(r.ID, r.Status, r.Error)
			}
			if err := t.flush(); err != nil {
				return err
			}
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
