package ldap_test

// This file is a benchmark only (BenchmarkLDAPSync); it holds no test.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
	"github.com/dirsync/dirsync/connectors/ldap"
	"github.com/dirsync/dirsync/internal/benchdir"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/sync/engine"
)

const (
	benchUsers      = 100_000
	benchGroups     = 100
	membersPerGroup = 100
	benchSuffix     = benchdir.Suffix
	benchPeople     = benchdir.People
	benchGroupsOU   = benchdir.GroupsOU
	benchRootDN     = benchdir.RootDN
)

// Targets, as multiples of their baselines (and MB of peak RSS).
const (
	targetReadX     = 2.5 // full read / ldapsearch
	targetInitialX  = 4.0 // initial sync / ldapsearch
	targetRSSMB     = 200 // peak RSS of the initial sync
	targetResyncX   = 1.2 // no-change full resync / our full read
	benchParallelOf = 4   // the connector's default parallel: used by the engine runs
)

// BenchmarkLDAPSync is a benchmark, not a test: it builds its own throwaway slapd
// holding 100,000 generated users and 100 groups, then times the LDAP connector and
// full syncs through the real engine against ldapsearch reading the same entries
// over the same plain ldap:// connection. Run it alone, once:
//
//	make bench-ldap
//	go test -run '^$' -bench LDAPSync -benchtime 1x -timeout 30m -v ./connectors/ldap/
//
// Every figure goes to b.ReportMetric (seconds, x-ratios, MB, counts) and, with -v,
// to a table in the log. Each phase runs under a pprof label (phase=...), so a CPU
// profile can be cut per phase:
//
//	go test -run '^$' -bench LDAPSync -benchtime 1x -cpuprofile cpu.out ./connectors/ldap/
//	go tool pprof -tagfocus phase=read-p4 -top cpu.out
//	go tool pprof -tagfocus phase=initial-sync -top cpu.out
//
// With -memprofile mem.out it also writes mem.out.initial-sync, the heap right
// after the initial sync (go tool pprof -sample_index=inuse_space -top).
//
// It needs /usr/sbin/slapd, /usr/sbin/slapadd and ldapsearch (`make test`, through
// scripts/testenv.sh, installs them) but none of the shared test servers.
func BenchmarkLDAPSync(b *testing.B) {
	// One scenario per call, whatever b.N: every phase depends on the one before
	// (initial sync → resync → incremental), and each takes seconds, so the
	// framework never asks for a second iteration unless -benchtime says so. The
	// timer runs only around the initial sync, so -benchmem's B/op and allocs/op
	// are the initial sync's; ns/op is set to it at the end.
	b.StopTimer()
	srv := startBenchSlapd(b)
	preset, err := dirmap.Preset("openldap")
	must(b, err)
	attrs := preset.Attributes() // what the connector requests: ldapsearch asks for the same
	tab := &table{}

	// Baseline: ldapsearch, warm (the faster of two runs).
	people := srv.ldapsearch(b, benchPeople, "(objectClass=inetOrgPerson)", attrs, benchUsers)
	groups := srv.ldapsearch(b, benchGroupsOU, "(objectClass=groupOfNames)", attrs, benchGroups)
	tab.add("ldapsearch people (baseline)", people, "%d entries, -E pr=1000", benchUsers)
	tab.add("ldapsearch groups", groups, "%d entries, %d member values", benchGroups, benchGroups*membersPerGroup)
	b.ReportMetric(people.wall.Seconds(), "ldapsearch_s")
	b.ReportMetric(groups.wall.Seconds(), "ldapsearch_groups_s")

	// Our full read, no engine, at parallel 1, 2 and 4 (the faster of two runs).
	var readAtDefault phase
	for _, p := range []int{1, 2, 4} {
		name := fmt.Sprintf("read-p%d", p)
		src := srv.source(b, func(c *ldap.Config) { c.Parallel = p })
		var best phase
		for range 2 {
			var n int
			ph := measure(name, srv.pid, func(ctx context.Context) {
				n = countRead(b, ctx, src)
			})
			if n != benchUsers+benchGroups {
				b.Fatalf("%s read %d records, want %d", name, n, benchUsers+benchGroups)
			}
			if best.wall == 0 || ph.wall < best.wall {
				best = ph
			}
		}
		if p == benchParallelOf {
			readAtDefault = best
		}
		x := ratio(best, people)
		tab.add(fmt.Sprintf("connector Read, parallel %d", p), best, "%.2fx ldapsearch (target <= %.1fx)%s", x, targetReadX, miss(x > targetReadX))
		b.ReportMetric(best.wall.Seconds(), fmt.Sprintf("read_p%d_s", p))
		b.ReportMetric(x, fmt.Sprintf("read_p%d_x_ldapsearch", p))
	}

	// Initial full sync into an empty SQLite store with local state.
	env := newLDAPSyncEnv(b, srv.source(b, nil))
	mem := startMemWatch()
	b.StartTimer()
	var rep *engine.Report
	var stages stageClock
	initial := measure("initial-sync", srv.pid, func(ctx context.Context) {
		rep = env.run(b, ctx, stages.options(false))
		stages.stop()
	})
	b.StopTimer()
	peak := mem.stop()
	writeHeapProfile(b, "initial-sync") // with -memprofile: what the finished run still holds
	if c := rep.Counts; c.Create != benchUsers+benchGroups || !rep.Full || c.Quarantined != 0 || c.Held != 0 {
		b.Fatalf("initial sync: full=%v counts %+v, want %d creates", rep.Full, c, benchUsers+benchGroups)
	}
	x := ratio(initial, people)
	tab.add("initial sync (engine, SQLite)", initial, "%.2fx ldapsearch (target <= %.1fx)%s; %d creates", x, targetInitialX, miss(x > targetInitialX), rep.Counts.Create)
	tab.note("  initial sync stages", "%s", stages)
	b.ReportMetric(stages.read.Seconds(), "initial_sync_read_s")
	b.ReportMetric(stages.apply.Seconds(), "initial_sync_plan_apply_s")
	b.ReportMetric(stages.commitStage.Seconds(), "initial_sync_commit_s")
	tab.note("  initial sync memory", "peak RSS %.0f MB (target <= %d MB)%s, RSS before %.0f MB",
		peak.hwmMB, targetRSSMB, miss(peak.hwmMB > targetRSSMB), peak.rssBeforeMB)
	tab.note("  initial sync Go heap", "in use: peak %.0f MB, after %.0f MB; live after a GC: peak %.0f MB (during %s); Go Sys %.0f MB",
		peak.heapInusePeakMB, peak.heapInuseAfterMB, peak.liveHeapPeakMB, stages.at(peak.liveHeapPeakAt), peak.sysMB)
	b.ReportMetric(initial.wall.Seconds(), "initial_sync_s")
	b.ReportMetric(x, "initial_sync_x_ldapsearch")
	b.ReportMetric(peak.hwmMB, "initial_sync_peak_rss_MB")
	b.ReportMetric(peak.heapInusePeakMB, "initial_sync_peak_heap_inuse_MB")
	b.ReportMetric(peak.liveHeapPeakMB, "initial_sync_peak_live_heap_MB")
	b.ReportMetric(peak.sysMB, "initial_sync_go_sys_MB")

	// No-change full resync: reads everything, must write nothing.
	resync := measure("resync", srv.pid, func(ctx context.Context) {
		rep = env.run(b, ctx, stages.options(true))
		stages.stop()
	})
	if c := rep.Counts; c.Create+c.Update+c.Disable+c.Enable+c.Delete+c.Quarantined+c.Held != 0 ||
		len(rep.Operations) != 0 || c.Unchanged != benchUsers+benchGroups {
		b.Fatalf("no-change resync wrote or planned something: counts %+v, %d operations", c, len(rep.Operations))
	}
	x = ratio(resync, readAtDefault)
	tab.add("no-change full resync", resync, "%.2fx our read p%d (target <= %.1fx)%s; 0 writes, %d unchanged",
		x, benchParallelOf, targetResyncX, miss(x > targetResyncX), rep.Counts.Unchanged)
	tab.note("  resync stages", "%s", stages)
	b.ReportMetric(resync.wall.Seconds(), "resync_s")
	b.ReportMetric(x, "resync_x_read")

	// Incremental (syncrepl cookie) runs after 1,000 and then 100 changes.
	for round, n := range []int{1000, 100} {
		srv.changeTitles(b, n, round)
		name := fmt.Sprintf("incremental-%d", n)
		ph := measure(name, srv.pid, func(ctx context.Context) {
			rep = env.run(b, ctx, stages.options(false))
			stages.stop()
		})
		if rep.Full || rep.Counts.Update != n || rep.Counts.Create+rep.Counts.Disable+rep.Counts.Delete != 0 {
			b.Fatalf("%s: full=%v counts %+v, want %d updates from the syncrepl cursor", name, rep.Full, rep.Counts, n)
		}
		x := ratio(ph, readAtDefault)
		tab.add(fmt.Sprintf("incremental after %d changes", n), ph, "%.3fx our read p%d; %d updates", x, benchParallelOf, rep.Counts.Update)
		tab.note(fmt.Sprintf("  incremental-%d stages", n), "%s", stages)
		b.ReportMetric(ph.wall.Seconds(), fmt.Sprintf("incr%d_s", n))
		b.ReportMetric(float64(rep.Counts.Update), fmt.Sprintf("incr%d_updates", n))
		b.ReportMetric(x, fmt.Sprintf("incr%d_x_read", n))
	}

	// ns/op is the initial sync, the headline figure.
	b.ReportMetric(float64(initial.wall.Nanoseconds()), "ns/op")
	tab.log(b)
}

// ---------------------------------------------------------------- timing

// phase is one measured step: wall time, and the CPU time spent meanwhile by the
// client (this process, or ldapsearch for the baseline) and by slapd.
type phase struct {
	wall, cpu, slapdCPU time.Duration
}

// measure runs f under the pprof label phase=name and times it.
func measure(name string, slapdPID int, f func(ctx context.Context)) phase {
	cpu0, s0 := selfCPU(), procCPU(slapdPID)
	start := time.Now()
	pprof.Do(context.Background(), pprof.Labels("phase", name), f)
	return phase{wall: time.Since(start), cpu: selfCPU() - cpu0, slapdCPU: procCPU(slapdPID) - s0}
}

func ratio(p, base phase) float64 { return float64(p.wall) / float64(base.wall) }

func miss(missed bool) string {
	if missed {
		return "  MISSED"
	}
	return ""
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// table collects the figures for one -v summary.
type table struct{ rows []string }

func (t *table) add(what string, p phase, format string, args ...any) {
	t.rows = append(t.rows, fmt.Sprintf("%-32s %7.2fs %10.2fs %9.2fs  %s",
		what, p.wall.Seconds(), p.cpu.Seconds(), p.slapdCPU.Seconds(), fmt.Sprintf(format, args...)))
}

func (t *table) note(what, format string, args ...any) {
	t.rows = append(t.rows, fmt.Sprintf("%-32s %s", what, fmt.Sprintf(format, args...)))
}

func (t *table) log(b *testing.B) {
	b.Logf("LDAP sync benchmark: %d users + %d groups (%d members each), slapd over ldap://, %d CPUs\n%-32s %8s %11s %10s  %s\n%s",
		benchUsers, benchGroups, membersPerGroup, runtime.NumCPU(), "phase", "wall", "client cpu", "slapd cpu", "notes", strings.Join(t.rows, "\n"))
}

// stageClock splits an engine run's wall time by the stages its Progress reports:
// read (the source read and the store lookups, until "plan"), plan and apply (until
// "commit"), then the state commit and run history.
type stageClock struct {
	start, plan, commit      time.Time
	read, apply, commitStage time.Duration
}

// options returns engine options (Full as asked) whose Progress feeds the clock,
// reset for a new run.
func (c *stageClock) options(full bool) engine.Options {
	*c = stageClock{start: time.Now()}
	return engine.Options{Full: full, Progress: func(p engine.Progress) {
		switch {
		case p.Stage == "plan" && c.plan.IsZero():
			c.plan = time.Now()
		case p.Stage == "commit" && c.commit.IsZero():
			c.commit = time.Now()
		}
	}}
}

// stop closes the clock at the end of the run.
func (c *stageClock) stop() {
	end := time.Now()
	c.read = c.plan.Sub(c.start)
	c.apply = c.commit.Sub(c.plan)
	c.commitStage = end.Sub(c.commit)
}

// at names the stage that was running at t.
func (c stageClock) at(t time.Time) string {
	switch {
	case t.Before(c.plan):
		return "read"
	case t.Before(c.commit):
		return "plan+apply"
	default:
		return "state commit"
	}
}

func (c stageClock) String() string {
	return fmt.Sprintf("read+lookups %.2fs, plan+apply %.2fs, state commit %.2fs",
		c.read.Seconds(), c.apply.Seconds(), c.commitStage.Seconds())
}

// writeHeapProfile writes, when -memprofile is set, a heap profile of what is live
// right now beside it (mem.out → mem.out.NAME), for `go tool pprof -sample_index=inuse_space`.
func writeHeapProfile(b *testing.B, name string) {
	f := flag.Lookup("test.memprofile")
	if f == nil || f.Value.String() == "" {
		return
	}
	path := f.Value.String() + "." + name
	if dir := flag.Lookup("test.outputdir"); dir != nil && dir.Value.String() != "" && !filepath.IsAbs(path) {
		path = filepath.Join(dir.Value.String(), path)
	}
	runtime.GC()
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	must(b, pprof.Lookup("heap").WriteTo(out, 0))
	must(b, out.Close())
	b.Logf("heap profile after %s: %s", name, path)
}

// ---------------------------------------------------------------- memory

// memWatch measures the process's peak RSS (VmHWM, reset through
// /proc/self/clear_refs) and samples the Go heap while a phase runs: the heap in
// use, and the live heap (what the last GC kept), with the moment of its peak.
type memWatch struct {
	rssBeforeMB float64
	done        chan struct{}
	result      chan memFigures
}

type memFigures struct {
	hwmMB, rssBeforeMB              float64
	heapInusePeakMB, liveHeapPeakMB float64
	heapInuseAfterMB, sysMB         float64
	liveHeapPeakAt                  time.Time
}

const mb = 1 << 20

func startMemWatch() *memWatch {
	runtime.GC()
	debug.FreeOSMemory()                                      // what earlier phases left must not count
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM to the current RSS
	w := &memWatch{rssBeforeMB: procStatusMB("VmRSS"), done: make(chan struct{}), result: make(chan memFigures)}
	go func() {
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/unused:bytes"}, {Name: "/gc/heap/live:bytes"}}
		var f memFigures
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			f.heapInusePeakMB = max(f.heapInusePeakMB, float64(samples[0].Value.Uint64()+samples[1].Value.Uint64())/mb)
			if live := float64(samples[2].Value.Uint64()) / mb; live > f.liveHeapPeakMB {
				f.liveHeapPeakMB, f.liveHeapPeakAt = live, time.Now()
			}
			select {
			case <-w.done:
				w.result <- f
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *memWatch) stop() memFigures {
	close(w.done)
	f := <-w.result
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.hwmMB, f.rssBeforeMB = procStatusMB("VmHWM"), w.rssBeforeMB
	f.heapInuseAfterMB, f.sysMB = float64(ms.HeapInuse)/mb, float64(ms.Sys)/mb
	return f
}

// procStatusMB reads a "VmXXX:  1234 kB" line of /proc/self/status, in MB.
func procStatusMB(field string) float64 {
	data, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// ---------------------------------------------------------------- the connector and the engine

// source opens the connector on srv: preset openldap over the whole suffix, pages of
// 1000, syncrepl, plain ldap:// like the baseline; edit adjusts the config.
func (s *benchSlapd) source(b *testing.B, edit func(*ldap.Config)) connectors.Source {
	b.Helper()
	pw, err := config.ParseSecret("file:" + s.pwFile)
	if err != nil {
		b.Fatal(err)
	}
	cfg := &ldap.Config{URL: s.url, BindDN: benchRootDN, BindPassword: pw, AllowPlaintextBind: true, Preset: "openldap",
		BaseDNs: []string{benchSuffix}, PageSize: 1000, Incremental: ldap.ModeSyncrepl}
	if edit != nil {
		edit(cfg)
	}
	if errs := cfg.Prepare(b.TempDir()); len(errs) > 0 {
		b.Fatal(errors.Join(errs...))
	}
	src, err := cfg.Open("bench", zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = src.Close() }) // the benchmark's result is already measured
	return src
}

// countRead is a full Read() that only counts records.
func countRead(b *testing.B, ctx context.Context, src connectors.Source) int {
	n := 0
	if err := src.Read(ctx, func(connectors.Record) error { n++; return nil }); err != nil {
		b.Fatalf("read: %v", err)
	}
	return n
}

type ldapSyncEnv struct {
	eng *engine.Engine
	job engine.Job
}

// newLDAPSyncEnv is sync/engine/bench_test.go's setup with the LDAP connector as
// the source: a fresh SQLite store and local state, domain example.com.
func newLDAPSyncEnv(b *testing.B, src connectors.Source) *ldapSyncEnv {
	b.Helper()
	log := zap.NewNop()
	st, sb := testenv.SQLiteStore(b, "example.com"), testenv.LocalState(b)
	pol := config.Policy{BatchSize: 500, MaxDestructive: 500, MaxDestructivePercent: 10, MinSourcePercent: 50, MissingRuns: 2, SoftMatch: true}
	return &ldapSyncEnv{eng: engine.New(st, sb, nil, log), job: engine.Job{Name: "bench-ldap", Source: src, Policy: pol}}
}

func (e *ldapSyncEnv) run(b *testing.B, ctx context.Context, opts engine.Options) *engine.Report {
	rep := e.eng.Run(ctx, e.job, opts)
	if rep.Status != engine.StatusOK {
		b.Fatalf("sync status %s: %v (%s)", rep.Status, rep.Errors, rep.HoldReason)
	}
	return rep
}
