package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-ldap/ldif"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/file"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
)

// writeLDIF writes an OpenLDAP-style export of n users and one group per 100 users.
func writeLDIF(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "dir.ldif")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintf(w, "dn: uid=u%d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: u%d\ncn: User %d\nsn: U%d\n"+
			"givenName: User\nmail: u%d@example.com\nmailAlternateAddress: alias%d@example.com\ntitle: Engineer\n"+
			"telephoneNumber: +1 555 %04d\ndepartmentNumber: D%d\nentryUUID: 00000000-0000-4000-8000-%012d\n\n",
			i, i, i, i, i, i, i%10000, i%50, i)
	}
	for g := 0; g < n/100; g++ {
		fmt.Fprintf(w, "dn: cn=g%d,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: g%d\nmail: g%d@example.com\nentryUUID: 10000000-0000-4000-8000-%012d\n", g, g, g, g)
		for m := g * 100; m < (g+1)*100; m++ {
			fmt.Fprintf(w, "member: uid=u%d,ou=people,dc=example,dc=com\n", m)
		}
		_, _ = w.WriteString("\n") // a bufio.Writer keeps its first error: Flush reports it
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// parseOnly is the baseline: go-ldap/ldif decoding every entry of the same file,
// which any LDIF-fed sync has to do at the least.
func parseOnly(b *testing.B, path string) time.Duration {
	b.Helper()
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		var l ldif.LDIF
		for _, err := range ldif.UnmarshalEntries(f, &l) {
			if err != nil {
				b.Fatal(err)
			}
		}
		_ = f.Close() // only read: the decode's errors are what count
		best = min(best, time.Since(start))
	}
	return best
}

type benchEnv struct {
	eng *engine.Engine
	job engine.Job
}

func newBenchEnv(b *testing.B, path string) *benchEnv {
	b.Helper()
	return newBenchEnvWith(b, path, testenv.LocalState(b))
}

// newBenchEnvWith is a file connector on path, a fresh SQLite store and sb.
func newBenchEnvWith(b *testing.B, path string, sb state.Backend) *benchEnv {
	b.Helper()
	dir := b.TempDir()
	log := zap.NewNop()
	st := testenv.SQLiteStore(b, "example.com")
	cfg := &file.Config{Path: path}
	if errs := cfg.Prepare(dir); len(errs) > 0 {
		b.Fatal(errs)
	}
	src, err := cfg.Open("bench", log)
	if err != nil {
		b.Fatal(err)
	}
	pol := config.Policy{BatchSize: 500, MaxDestructive: 500, MaxDestructivePercent: 10, MinSourcePercent: 50, MissingRuns: 2, SoftMatch: true}
	return &benchEnv{eng: engine.New(st, sb, nil, log), job: engine.Job{Name: "bench", Source: src, Policy: pol}}
}

func (e *benchEnv) run(b *testing.B, want string) *engine.Report {
	rep := e.eng.Run(context.Background(), e.job, engine.Options{})
	if rep.Status != want {
		b.Fatalf("status %s, want %s: %v", rep.Status, want, rep.Errors)
	}
	return rep
}

// BenchmarkSync measures full runs of the file connector against the embedded
// backends, each reported as a multiple of parsing the same LDIF with go-ldap/ldif
// (x_parse): the cost of everything dirsync adds on top of reading the source.
//
//	make bench   (or: go test -run '^$' -bench Sync ./sync/engine/)
func BenchmarkSync(b *testing.B) {
	const n = 10000
	path := writeLDIF(b, n)
	base := parseOnly(b, path)
	b.Logf("baseline: go-ldap/ldif parse of %d users + %d groups: %v", n, n/100, base)
	ratio := func(b *testing.B, elapsed time.Duration) {
		b.ReportMetric(float64(elapsed)/float64(b.N)/float64(base), "x_parse")
	}

	b.Run("initial-10k-creates", func(b *testing.B) {
		var elapsed time.Duration
		for range b.N {
			b.StopTimer()
			env := newBenchEnv(b, path)
			b.StartTimer()
			start := time.Now()
			rep := env.run(b, engine.StatusOK)
			elapsed += time.Since(start)
			if rep.Counts.Create != n+n/100 {
				b.Fatalf("created %d", rep.Counts.Create)
			}
		}
		ratio(b, elapsed)
	})
	b.Run("resync-10k-unchanged", func(b *testing.B) {
		env := newBenchEnv(b, path)
		env.run(b, engine.StatusOK)
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			rep := env.run(b, engine.StatusOK)
			if rep.Counts.Unchanged != n+n/100 {
				b.Fatalf("unchanged %d", rep.Counts.Unchanged)
			}
		}
		ratio(b, time.Since(start))
	})
}
