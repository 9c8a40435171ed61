package ldap_test

// The benchmark's own slapd: internal/benchdir's generated directory (100k users),
// bulk-loaded with slapadd -q.

import (
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/benchdir"
)

// benchSlapd is the benchmark's own slapd, stopped when the benchmark ends.
type benchSlapd struct {
	*benchdir.Server
	url, pwFile string
	pid         int
}

// startBenchSlapd starts internal/benchdir's slapd with benchUsers users and
// benchGroups groups; it skips when slapd is not installed.
func startBenchSlapd(b *testing.B) *benchSlapd {
	b.Helper()
	if err := benchdir.Missing(); err != nil {
		b.Skip(err)
	}
	srv, err := benchdir.Start(b.TempDir(), benchdir.Directory{Users: benchUsers, Groups: benchGroups, MembersPerGroup: membersPerGroup})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Stop)
	b.Logf("generated %d users + %d groups and loaded them with slapadd -q in %v", benchUsers, benchGroups, srv.Generated.Round(time.Millisecond))
	return &benchSlapd{Server: srv, url: srv.URL, pwFile: srv.PasswordFile, pid: srv.PID}
}

// ldapsearch times ldapsearch of base (the faster of two warm runs) and checks
// that it returns want entries.
func (s *benchSlapd) ldapsearch(b *testing.B, base, filter string, attrs []string, want int) phase {
	b.Helper()
	r, err := s.LDAPSearch(base, filter, attrs, want)
	if err != nil {
		b.Fatal(err)
	}
	return phase{wall: r.Wall, cpu: r.CPU, slapdCPU: r.SlapdCPU}
}

// changeTitles modifies the title of n users spread over the directory (not timed).
func (s *benchSlapd) changeTitles(b *testing.B, n, round int) {
	b.Helper()
	if err := s.ChangeTitles(n, round); err != nil {
		b.Fatal(err)
	}
}

// procCPU is a process's user+system CPU time (0 if unknown).
func procCPU(pid int) time.Duration { return benchdir.ProcCPU(pid) }

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
