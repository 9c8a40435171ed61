package faultmatrix_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// outcome is what one row of the matrix found.
type outcome struct {
	// Status is the status of the run under the fault (failed, held, partial, ok...).
	Status string
	// WronglyDisabled counts users disabled or deleted that a fault-free run
	// would have left enabled (must be 0).
	WronglyDisabled int
	// Lost counts changes of the source that never reached the store once the
	// fault cleared (must be 0).
	Lost int
	// RunsToConverge is how many healthy runs after the fault cleared it took
	// to reach exactly the state a fault-free run produces (-1: never).
	RunsToConverge int
	// Note says anything the table reader should know (optional, short).
	Note string
}

// row is one fault of the matrix.
type row struct {
	Fault string
	Run   func(t *testing.T) outcome
}

var (
	tableMu sync.Mutex
	table   []string
)

// TestFaultMatrix runs every row and prints the matrix. A row fails when it
// wrongly disabled anyone or lost anything, or never converged.
func TestFaultMatrix(t *testing.T) {
	var rows []row
	rows = append(rows, sourceRows()...)
	rows = append(rows, infraRows()...)
	t.Cleanup(func() { printTable(t) })
	for _, r := range rows {
		t.Run(strings.ReplaceAll(r.Fault, " ", "_"), func(t *testing.T) {
			o := r.Run(t)
			line := fmt.Sprintf("| %s | %s | %d | %d | %s | %s |", r.Fault, o.Status, o.WronglyDisabled, o.Lost, converge(o.RunsToConverge), o.Note)
			tableMu.Lock()
			table = append(table, line)
			tableMu.Unlock()
			if o.WronglyDisabled != 0 || o.Lost != 0 || o.RunsToConverge < 0 {
				t.Errorf("%s: wrongly disabled %d, lost %d, runs to converge %s", r.Fault, o.WronglyDisabled, o.Lost, converge(o.RunsToConverge))
			}
		})
	}
}

func converge(n int) string {
	if n < 0 {
		return "never"
	}
	return fmt.Sprint(n)
}

// printTable writes the matrix to the test log, and to the file named by
// DIRSYNC_FAULT_MATRIX_OUT if set (docs/fault-matrix.md is refreshed from it).
func printTable(t *testing.T) {
	tableMu.Lock()
	defer tableMu.Unlock()
	out := "| fault | run status | wrongly disabled | lost | runs to converge | note |\n|---|---|---|---|---|---|\n" + strings.Join(table, "\n") + "\n"
	t.Logf("fault matrix:\n%s", out)
	if p := os.Getenv("DIRSYNC_FAULT_MATRIX_OUT"); p != "" {
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Errorf("write %s: %v", p, err)
		}
	}
}
