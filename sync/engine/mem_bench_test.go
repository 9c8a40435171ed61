package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/sync/engine"
)

// genSource generates n users and one group per 100 users as they are read:
// it holds nothing, so what a run's memory grows by is the engine's (and the
// store's and state's) own.
type genSource struct{ n int }

func (s genSource) Close() error { return nil }

func (s genSource) Read(ctx context.Context, emit connectors.Emit) error {
	for i := range s.n {
		rec := connectors.Record{Kind: connectors.KindUser, Ref: fmt.Sprintf("uid=u%d,ou=people,dc=example,dc=com", i),
			Anchor: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Mail: fmt.Sprintf("u%d@example.com", i),
			Aliases: []string{fmt.Sprintf("alias%d@example.com", i)}, DisplayName: fmt.Sprintf("User %d", i), GivenName: "User",
			Surname: fmt.Sprintf("U%d", i), Phone: fmt.Sprintf("+1 555 %04d", i%10000), Department: fmt.Sprintf("D%d", i%50), Title: "Engineer"}
		if err := emit(rec); err != nil {
			return err
		}
	}
	for g := 0; g < s.n/100; g++ {
		members := make([]string, 0, 100)
		for m := g * 100; m < (g+1)*100; m++ {
			members = append(members, fmt.Sprintf("uid=u%d,ou=people,dc=example,dc=com", m))
		}
		rec := connectors.Record{Kind: connectors.KindGroup, Ref: fmt.Sprintf("cn=g%d,ou=groups,dc=example,dc=com", g),
			Anchor: fmt.Sprintf("10000000-0000-4000-8000-%012d", g), Mail: fmt.Sprintf("g%d@example.com", g), Members: members}
		if err := emit(rec); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// vmHWM reads the process's peak resident set (kB) from /proc/self/status.
func vmHWM(b *testing.B) int {
	b.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, err := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))))
			if err != nil {
				b.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// resetHWM returns memory to the OS and resets the peak RSS to the current RSS
// (Linux clear_refs 5), so the next vmHWM is the peak of what runs in between.
func resetHWM(b *testing.B) {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// vmRSS reads the current resident set (kB).
func vmRSS(b *testing.B) int {
	b.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, _ := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))))
			return kb
		}
	}
	return 0
}

// heapAt writes a heap profile to $BENCH_MEM_PROFILE when the run reaches
// its commit: what is live at the run's peak.
func heapAt(b *testing.B) func(engine.Progress) {
	path := os.Getenv("BENCH_MEM_PROFILE")
	if path == "" {
		return nil
	}
	runtime.MemProfileRate = 4096
	return func(p engine.Progress) {
		if p.Stage != "commit" {
			return
		}
		f, err := os.Create(path)
		if err != nil {
			b.Error(err)
			return
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Error(err)
		}
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// BenchmarkSyncMemory measures the peak RSS an initial sync of generated users
// (and one group per 100) adds to the process, into a fresh SQLite store and
// local state file: peak_MB is the OS's peak resident set during the run minus
// the resident set just before it (the generator holds nothing).
// BENCH_MEM_USERS sets the size (default 100,000).
//
//	go test -run '^$' -bench SyncMemory -benchtime 1x ./sync/engine/
func BenchmarkSyncMemory(b *testing.B) {
	n := 100000
	if v := os.Getenv("BENCH_MEM_USERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("BENCH_MEM_USERS=%q: %v", v, err)
		}
	}
	for range b.N {
		log := zap.NewNop()
		st := testenv.SQLiteStore(b, "example.com")
		sb := testenv.LocalState(b)
		pol := config.Policy{BatchSize: 500, MaxDestructive: 500, MaxDestructivePercent: 10, MinSourcePercent: 50, MissingRuns: 2, SoftMatch: true}
		eng := engine.New(st, sb, nil, log)
		job := engine.Job{Name: "bench", Source: genSource{n: n}, Policy: pol}
		resetHWM(b)
		before := vmRSS(b)
		stop := sampleMem(b)
		rep := eng.Run(context.Background(), job, engine.Options{Progress: heapAt(b)})
		peak := vmHWM(b)
		stop()
		if rep.Status != engine.StatusOK || rep.Counts.Create != n+n/100 {
			b.Fatalf("status %s, %d created: %v", rep.Status, rep.Counts.Create, rep.Errors)
		}
		b.ReportMetric(float64(peak-before)/1024, "peak_MB")
		b.ReportMetric(float64(before)/1024, "base_MB")
		runtime.KeepAlive(rep)
	}
}

// sampleMem logs, when stopped, the largest Go heap and anonymous and
// file-backed resident sets seen every 50 ms: where the peak is.
func sampleMem(b *testing.B) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var heap, sys uint64
		var anon, file int
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap, sys = max(heap, ms.HeapInuse), max(sys, ms.Sys-ms.HeapReleased)
			raw, _ := os.ReadFile("/proc/self/status")
			for _, line := range bytes.Split(raw, []byte("\n")) {
				f := bytes.Fields(line)
				if len(f) < 2 {
					continue
				}
				v, _ := strconv.Atoi(string(f[1]))
				switch string(f[0]) {
				case "RssAnon:":
					anon = max(anon, v)
				case "RssFile:":
					file = max(file, v)
				}
			}
			select {
			case <-done:
				b.Logf("max Go heap in use %d MB, Go sys %d MB, RssAnon %d MB, RssFile %d MB", heap>>20, sys>>20, anon/1024, file/1024)
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
