package ldap_test

// The benchmark's own slapd: 100k generated users bulk-loaded with slapadd.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// ---------------------------------------------------------------- slapd

// benchSlapd is the benchmark's own slapd, stopped when the benchmark ends.
type benchSlapd struct {
	dir, url, password, pwFile string
	pid                        int
}

// startBenchSlapd writes a slapd.conf like scripts/testenv.sh's, bulk-loads the
// generated directory with slapadd and starts slapd on a free loopback port.
func startBenchSlapd(b *testing.B) *benchSlapd {
	b.Helper()
	for _, bin := range []string{slapdBin, slapaddBin} {
		if _, err := os.Stat(bin); err != nil {
			b.Skipf("%s is missing: `make test` (scripts/testenv.sh) installs slapd and ldap-utils", bin)
		}
	}
	if _, err := exec.LookPath("ldapsearch"); err != nil {
		b.Skip("ldapsearch is missing: `make test` (scripts/testenv.sh) installs slapd and ldap-utils")
	}
	// OpenLDAP's tools must not read the machine's or the user's ldap.conf.
	b.Setenv("LDAPCONF", "/dev/null")
	b.Setenv("LDAPRC", "/dev/null")

	s := &benchSlapd{dir: b.TempDir()}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	s.password = hex.EncodeToString(pw)
	s.pwFile = filepath.Join(s.dir, "password")
	must(b, os.WriteFile(s.pwFile, []byte(s.password), 0o600))
	must(b, os.MkdirAll(filepath.Join(s.dir, "data"), 0o700))
	must(b, os.WriteFile(filepath.Join(s.dir, "slapd.conf"), []byte(slapdConf(s.dir, s.password)), 0o600))

	start := time.Now()
	ldif := filepath.Join(s.dir, "directory.ldif")
	must(b, writeDirectoryLDIF(ldif))
	gen := time.Since(start)
	start = time.Now()
	if out, err := exec.Command(slapaddBin, "-q", "-w", "-f", filepath.Join(s.dir, "slapd.conf"), "-l", ldif).CombinedOutput(); err != nil {
		b.Fatalf("slapadd: %v\n%s", err, out)
	}
	b.Logf("generated %d users + %d groups in %v; slapadd -q loaded them in %v", benchUsers, benchGroups, gen.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	_ = os.Remove(ldif)

	// A free port can be taken between probing and binding: try a few.
	for attempt := 1; ; attempt++ {
		err := s.start(b)
		if err == nil {
			return s
		}
		if attempt == 3 {
			b.Fatal(err)
		}
	}
}

func slapdConf(dir, password string) string {
	return fmt.Sprintf(`# BenchmarkLDAPSync: a throwaway, test-only OpenLDAP.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema

pidfile  %[1]s/slapd.pid
argsfile %[1]s/slapd.args

modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov

database  mdb
suffix    "%[2]s"
rootdn    "%[3]s"
rootpw    %[4]s
directory %[1]s/data
maxsize   4294967296
# Test only: no fsync per write.
dbnosync

index objectClass eq
index uid         eq
index mail        eq
index cn          eq
index entryUUID   eq
index entryCSN    eq
index member      eq

access to * by * read

overlay syncprov
syncprov-checkpoint 100 10
syncprov-sessionlog 10000
`, dir, benchSuffix, benchRootDN, password)
}

// writeDirectoryLDIF writes the suffix, ou=people with benchUsers inetOrgPersons
// (12 attributes each, as in notes/test-servers.md's read figure) and ou=groups with
// benchGroups mail-enabled groups of membersPerGroup members spread over the users.
// entryUUIDs are random (seeded), as in a directory filled over time: slapadd's own
// are time-based and, loaded in seconds, would all share their first hex digit,
// which the connector's parallel read partitions on.
func writeDirectoryLDIF(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // on an early return only; the last line checks Close
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "dn: %s\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n", benchSuffix)
	fmt.Fprintf(w, "dn: %s\nobjectClass: top\nobjectClass: organizationalUnit\nou: people\n\n", benchPeople)
	fmt.Fprintf(w, "dn: %s\nobjectClass: top\nobjectClass: organizationalUnit\nou: groups\n\n", benchGroupsOU)
	rng := mrand.New(mrand.NewPCG(1, 2))
	uuid := func() string {
		var u [16]byte
		for i := range u {
			u[i] = byte(rng.Uint32())
		}
		u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80
		h := hex.EncodeToString(u[:])
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	}
	titles := []string{"Engineer", "Manager", "Analyst", "Designer", "Consultant"}
	for i := range benchUsers {
		fmt.Fprintf(w, "dn: uid=u%06d,%s\n"+
			"objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\n"+
			"uid: u%06d\ncn: User %06d\nsn: Surname%06d\ngivenName: Given%d\ndisplayName: Given%d Surname%06d\n"+
			"mail: u%06d@example.com\ntelephoneNumber: +1 555 %07d\nmobile: +1 666 %07d\ntitle: %s\n"+
			"departmentNumber: D%03d\nemployeeNumber: %d\nl: City %d\nentryUUID: %s\n\n",
			i, benchPeople, i, i, i, i%1000, i%1000, i, i, i, i, titles[i%len(titles)], i%200, i, i%50, uuid())
	}
	for g := range benchGroups {
		fmt.Fprintf(w, "dn: cn=group%03d,%s\nobjectClass: top\nobjectClass: groupOfNames\nobjectClass: extensibleObject\n"+
			"cn: group%03d\nmail: group%03d@example.com\nentryUUID: %s\n", g, benchGroupsOU, g, g, uuid())
		for m := range membersPerGroup {
			fmt.Fprintf(w, "member: uid=u%06d,%s\n", (m*benchUsers/membersPerGroup+g)%benchUsers, benchPeople)
		}
		_, _ = w.WriteString("\n") // bufio errors stick: Flush below reports them
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// start runs slapd in the foreground on a free port and waits until a bind works.
func (s *benchSlapd) start(b *testing.B) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.url = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	logPath := filepath.Join(s.dir, "slapd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }() // slapd has its own descriptor; ours is only for starting it
	// -d none: foreground, errors only (to the log).
	cmd := exec.Command(slapdBin, "-d", "none", "-f", filepath.Join(s.dir, "slapd.conf"), "-h", s.url+"/")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := goldap.DialURL(s.url)
		if err == nil {
			err = conn.Bind(benchRootDN, s.password)
			conn.Close()
			if err == nil {
				break
			}
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("slapd on %s exited during startup (AppArmor may confine %s: aa-complain it):\n%s", s.url, slapdBin, out)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("slapd on %s not answering after 30s: %w\n%s", s.url, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.pid = cmd.Process.Pid
	b.Cleanup(stop)
	return nil
}

// ldapsearch times `ldapsearch -E pr=1000/noprompt` of base over the same plain
// ldap:// connection the connector uses, with its output thrown away: once to check
// it returns want entries and warm the cache, then twice timed; the faster counts.
func (s *benchSlapd) ldapsearch(b *testing.B, base, filter string, attrs []string, want int) phase {
	b.Helper()
	args := append([]string{"-x", "-LLL", "-H", s.url, "-D", benchRootDN, "-w", s.password,
		"-b", base, "-E", "pr=1000/noprompt", filter}, attrs...)
	check := exec.Command("ldapsearch", args...)
	out, err := check.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	check.Stderr = &stderr
	must(b, check.Start())
	n := 0
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "dn: ") {
			n++
		}
	}
	if err := check.Wait(); err != nil {
		b.Fatalf("ldapsearch %s: %v\n%s", base, err, stderr.String())
	}
	if n != want {
		b.Fatalf("ldapsearch %s returned %d entries, want %d", base, n, want)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = devnull.Close() }() // nothing written through it is kept
	var best phase
	for range 2 {
		cmd := exec.Command("ldapsearch", args...)
		cmd.Stdout = devnull // a file: ldapsearch writes to it directly, no copy through this process
		cmd.Stderr = &stderr
		start := time.Now()
		s0 := procCPU(s.pid)
		if err := cmd.Run(); err != nil {
			b.Fatalf("ldapsearch %s: %v\n%s", base, err, stderr.String())
		}
		p := phase{wall: time.Since(start), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), slapdCPU: procCPU(s.pid) - s0}
		if best.wall == 0 || p.wall < best.wall {
			best = p
		}
	}
	return best
}

// changeTitles modifies the title of n users spread over the directory, as the
// rootdn through go-ldap (not timed).
func (s *benchSlapd) changeTitles(b *testing.B, n, round int) {
	b.Helper()
	conn, err := goldap.DialURL(s.url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	must(b, conn.Bind(benchRootDN, s.password))
	step := benchUsers / n
	for i := range n {
		m := goldap.NewModifyRequest(fmt.Sprintf("uid=u%06d,%s", i*step+round+1, benchPeople), nil)
		m.Replace("title", []string{fmt.Sprintf("Engineer, round %d", round+1)})
		if err := conn.Modify(m); err != nil {
			b.Fatalf("modify title: %v", err)
		}
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
