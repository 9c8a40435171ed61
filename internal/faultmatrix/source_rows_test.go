package faultmatrix_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
)

// sourceRows are the faults of the sources (LDAP, and the file connector where
// a fault is easier to shape there).
//
// Every row runs two dirsync installations against its own OU of the test
// OpenLDAP: the subject, which meets the fault, and a reference, which reads
// the same directory without it. Both start with a good full run; then the
// directory changes (sourceChanges) and the subject meets the fault. The row
// counts the people the source still has enabled whom the subject's store
// then shows disabled or gone, clears the fault, lets the reference make its
// own healthy run, and counts the subject's healthy runs until its store
// equals the reference's exactly; changes not in the store after the first
// of them are lost.
func sourceRows() []row {
	const wrongPassword = "FM_WRONG_PASSWORD"
	return []row{
		{"LDAP unreachable", func(t *testing.T) outcome {
			return connectivityRow(t, "unreach", func(d *ldapDir, _ *faultProxy, _ int64) (string, string) {
				return d.connector("ldaps://"+closedPort(t), testenv.EnvLDAPPassword, "      timeout: 10s\n"), "connection refused"
			})
		}},
		{"LDAP bind refused (wrong password)", func(t *testing.T) outcome {
			return connectivityRow(t, "bind", func(d *ldapDir, p *faultProxy, _ int64) (string, string) {
				return d.connector("ldaps://"+p.Addr(), wrongPassword, "      timeout: 10s\n"), "credentials"
			})
		}},
		{"LDAPS certificate name mismatch", func(t *testing.T) outcome {
			return connectivityRow(t, "tlsname", func(d *ldapDir, p *faultProxy, _ int64) (string, string) {
				return d.connector("ldaps://"+p.Addr(), testenv.EnvLDAPPassword, "      timeout: 10s\n      server_name: fm-mismatch.invalid\n"), "server_name"
			})
		}},
		{"LDAP connection cut mid-page (parallel 4)", func(t *testing.T) outcome {
			return connectivityRow(t, "cut", func(d *ldapDir, p *faultProxy, healthy int64) (string, string) {
				p.set(proxyCut, healthy/2)
				return d.connector("ldaps://"+p.Addr(), testenv.EnvLDAPPassword, "      timeout: 10s\n"), ""
			})
		}},
		{"LDAP slower than the timeout", func(t *testing.T) outcome {
			return connectivityRow(t, "slow", func(d *ldapDir, p *faultProxy, healthy int64) (string, string) {
				p.set(proxyStall, healthy/2)
				return d.connector("ldaps://"+p.Addr(), testenv.EnvLDAPPassword, "      timeout: 2s\n"), ""
			})
		}},
		{"LDAP empty result (base emptied)", emptyRow},
		{"LDAP result shrunk by 30 %", shrink30Row},
		{"LDAP shrinks 8 % per run, 5 runs", shrink8Row},
		{"LDIF export read half written (file)", truncatedFileRow},
	}
}

// connectivityRow is a fault between dirsync and the server: fault arms it
// (on the proxy the subject always goes through, or in the config it
// returns) and says what the run's error must mention. The faulty run is a
// full one at the default parallel 4; the healthy runs after are the regular
// (syncrepl) ones, so a cursor the failed run moved would lose changes.
// The brakes are open (openBrakes): here only the invariant "never act on a
// partial read" may stand between the fault and a mass disable.
func connectivityRow(t *testing.T, name string, fault func(d *ldapDir, p *faultProxy, healthyBytes int64) (connector, wantErr string)) outcome {
	d := newLDAPDir(t, name, 60)
	p := newFaultProxy(t, d.hostPort())
	healthy := baseConfig(openBrakes, d.connector("ldaps://"+p.Addr(), testenv.EnvLDAPPassword, "      timeout: 10s\n"))
	ref := newInstance(t)
	ref.writeConfig(baseConfig(openBrakes, d.connector(d.ldaps, testenv.EnvLDAPPassword, "      timeout: 10s\n")))
	subj := newInstance(t, "FM_WRONG_PASSWORD=not-the-password-"+d.tag)
	subj.writeConfig(healthy)
	ref.mustSync(true, "ok")
	p.set(proxyPass, 0)
	subj.mustSync(true, "ok")
	healthyBytes := p.Served()
	require.Empty(t, ref.listing().diff(subj.listing()), "both start from the same store")

	changes := d.sourceChanges()
	mustStay := stillEnabled(subj.listing(), d.addr("u5"))
	connector, wantErr := fault(d, p, healthyBytes)
	subj.writeConfig(baseConfig(openBrakes, connector))
	res := subj.sync(true)
	// Checked, not required: the row goes on to measure what the run did.
	if errs := strings.Join(res.Errors, "\n"); res.Status != "failed" || !strings.Contains(errs, wantErr) {
		t.Errorf("the fault must fail the run with an error naming %q: status %s, errors %s", wantErr, res.Status, errs)
	}
	o := outcome{Status: res.Status, WronglyDisabled: subj.listing().wronglyDisabled(mustStay)}

	changes = append(changes, d.changeDuring(d.dir))
	p.set(proxyPass, 0)
	subj.writeConfig(healthy)
	ref.mustSync(false, "ok")
	o.RunsToConverge, o.Lost, o.Note = settle(t, subj, ref.listing(), false, changes)
	if o.Note == "" {
		errs := strings.Join(res.Errors, "; ")
		if m := afterRecords.FindStringSubmatch(errs); m != nil {
			o.Note = "after " + m[1] + " records; "
		}
		o.Note += "error: " + errTail(errs, 80)
	}
	return o
}

// emptyRow: everything leaves the base DN (an OU moved, a base emptied by
// mistake), for two full runs, the default missing_runs.
func emptyRow(t *testing.T) outcome {
	d := newLDAPDir(t, "empty", 60)
	ref, subj := contentPair(t, d)
	changes := d.sourceChanges()
	mustStay := stillEnabled(subj.listing(), d.addr("u5"))
	all := append(people(0, d.n), "uid=new1", "uid=new2", "cn=staff", "cn=ops")
	d.moveOut(all...)
	runs := []runResult{subj.sync(true), subj.sync(true)}
	o := outcome{Status: joinStatuses(runs), WronglyDisabled: subj.listing().wronglyDisabled(mustStay)}
	changes = append(changes, d.changeDuring(d.away))
	d.moveIn(all...)
	ref.mustSync(true, "ok")
	o.RunsToConverge, o.Lost, o.Note = settle(t, subj, ref.listing(), true, changes)
	if o.Note == "" {
		o.Note = "hold: " + shorten(runs[len(runs)-1].HoldReason, 90)
	}
	return o
}

// shrink30Row: 30 of 100 people leave the scope for three full runs (the
// default missing_runs is 2, so the last two plan their disables), brakes at
// their defaults; nobody approves.
func shrink30Row(t *testing.T) outcome {
	d := newLDAPDir(t, "shrink30", 100)
	ref, subj := contentPair(t, d)
	changes := d.sourceChanges()
	mustStay := stillEnabled(subj.listing(), d.addr("u5"))
	gone := people(40, 70)
	d.moveOut(gone...)
	runs := []runResult{subj.sync(true), subj.sync(true), subj.sync(true)}
	o := outcome{Status: joinStatuses(runs), WronglyDisabled: subj.listing().wronglyDisabled(mustStay)}
	changes = append(changes, d.changeDuring(d.dir))
	d.moveIn(gone...)
	ref.mustSync(true, "ok")
	o.RunsToConverge, o.Lost, o.Note = settle(t, subj, ref.listing(), true, changes)
	if o.Note == "" {
		o.Note = fmt.Sprintf("%d operations held, none applied", runs[len(runs)-1].Counts["held"])
	}
	return o
}

// openBrakes lets every disable through and counts an object missing after
// one full run: nothing but the engine's refusal to act on a failed read
// protects the directory.
const openBrakes = "max_destructive_percent: 100, min_source_percent: 0, missing_runs: 1"

// shrink8Row: 8 more of 100 people leave the scope before each of five full
// runs (40 % in all), brakes and sync.max_destructive_window at their
// defaults. The first step's disables come due on the second run
// (missing_runs is 2), when the second step is already missing behind them:
// the brakes count both (Brakes.Pending) and hold them, and every later
// step's. Without the window all 32 would be disabled; with the window but
// without counting the pending ones, the first 8.
func shrink8Row(t *testing.T) outcome {
	d := newLDAPDir(t, "shrink8", 100)
	ref, subj := contentPair(t, d)
	changes := d.sourceChanges()
	before := subj.listing()
	mustStay := stillEnabled(before, d.addr("u5"))
	var runs []runResult
	var applied []int
	for k := range 5 {
		d.moveOut(people(40+8*k, 48+8*k)...)
		r := subj.sync(true)
		runs = append(runs, r)
		applied = append(applied, r.Counts["disable"])
	}
	o := outcome{Status: joinStatuses(runs), WronglyDisabled: subj.listing().wronglyDisabled(mustStay)}
	changes = append(changes, d.changeDuring(d.dir))
	d.moveIn(people(40, 80)...)
	ref.mustSync(true, "ok")
	o.RunsToConverge, o.Lost, o.Note = settle(t, subj, ref.listing(), true, changes)
	if o.Note == "" {
		o.Note = fmt.Sprintf("disables per run %v, %d held at the end", applied, runs[len(runs)-1].Counts["held"])
	}
	return o
}

// contentPair is a subject and a reference reading d directly over LDAPS
// with every setting at its default, after their first good full run.
func contentPair(t *testing.T, d *ldapDir) (ref, subj *instance) {
	cfg := baseConfig("", d.connector(d.ldaps, testenv.EnvLDAPPassword, "      timeout: 10s\n"))
	ref, subj = newInstance(t), newInstance(t)
	ref.writeConfig(cfg)
	subj.writeConfig(cfg)
	ref.mustSync(true, "ok")
	subj.mustSync(true, "ok")
	require.Empty(t, ref.listing().diff(subj.listing()), "both start from the same store")
	return ref, subj
}

// settle runs the subject's healthy runs after the fault cleared and
// measures convergence to the reference and the changes lost; the note
// carries the difference when it never converged.
func settle(t *testing.T, subj *instance, want listing, full bool, changes []change) (runs, lostN int, note string) {
	runs, first, diff := subj.converge(want, full, 4)
	lostN, names := lost(first, changes)
	if lostN > 0 {
		note = "lost: " + strings.Join(names, ", ")
	}
	if runs < 0 {
		t.Logf("never converged; store vs reference:\n%s", strings.Join(diff, "\n"))
		note = strings.TrimPrefix(note+"; ", "; ") + fmt.Sprintf("%d objects differ", len(diff))
	}
	return runs, lostN, note
}

// stillEnabled is who must stay enabled through the fault: the users enabled
// in l, but for those the source itself disabled meanwhile.
func stillEnabled(l listing, disabledBySource ...string) []string {
	return slices.DeleteFunc(l.enabledUsers(), func(a string) bool { return slices.Contains(disabledBySource, a) })
}

// afterRecords finds how far a failed read got, in the engine's error.
var afterRecords = regexp.MustCompile(`after (\d+) records`)

// errTail keeps the end of an error, where the cause and the fix are.
func errTail(s string, n int) string {
	s = strings.ReplaceAll(s, "|", "/")
	if r := []rune(s); len(r) > n {
		return "…" + string(r[len(r)-n:])
	}
	return s
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "|", "/") // the note lands in a Markdown table
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
