// Package benchdir builds the benchmarks' own throwaway OpenLDAP: a generated
// directory of N users and mail-enabled groups, streamed straight into
// `slapadd -q` (never held in memory nor written to disk as LDIF, so a million
// users load like a thousand), slapd started on a free loopback port, and
// `ldapsearch` of the same entries as the baseline every benchmark reports
// against. connectors/ldap's BenchmarkLDAPSync and internal/benchsync's
// BenchmarkSyncTable use it; nothing in the product imports it.
//
// It needs /usr/sbin/slapd, /usr/sbin/slapadd and ldapsearch (`make test`, through
// scripts/testenv.sh, installs them) but none of the shared test servers.
package benchdir

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// The generated directory's names.
const (
	Suffix   = "dc=example,dc=com"
	People   = "ou=people," + Suffix
	GroupsOU = "ou=groups," + Suffix
	RootDN   = "cn=admin," + Suffix

	SlapdBin   = "/usr/sbin/slapd"
	SlapaddBin = "/usr/sbin/slapadd"
)

// Directory is the shape of a generated directory.
type Directory struct {
	Users, Groups, MembersPerGroup int
}

// Entries is the number of users and groups (the OUs and the suffix not counted).
func (d Directory) Entries() int { return d.Users + d.Groups }

// Missing reports which of slapd, slapadd and ldapsearch is not installed (nil
// when all are), with how to install them.
func Missing() error {
	for _, bin := range []string{SlapdBin, SlapaddBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s is missing: `make test` (scripts/testenv.sh) installs slapd and ldap-utils", bin)
		}
	}
	if _, err := exec.LookPath("ldapsearch"); err != nil {
		return errors.New("ldapsearch is missing: `make test` (scripts/testenv.sh) installs slapd and ldap-utils")
	}
	return nil
}

// Server is a running throwaway slapd holding a generated Directory.
type Server struct {
	Directory
	// Dir holds slapd.conf, the database, the log and the password file.
	Dir string
	// URL is ldap://127.0.0.1:PORT (plain: the benchmarks compare against
	// ldapsearch over the same connection).
	URL string
	// Password is RootDN's password; PasswordFile holds it (for file: secrets).
	Password, PasswordFile string
	// PID is slapd's process id (for its CPU time in /proc).
	PID int
	// Generated is how long generating and loading the directory took.
	Generated time.Duration

	stop func()
}

// Start writes a slapd.conf like scripts/testenv.sh's into dir (an empty
// directory the caller removes), streams d into slapadd -q and starts slapd on
// a free loopback port. Stop it with Stop.
func Start(dir string, d Directory) (*Server, error) {
	if err := Missing(); err != nil {
		return nil, err
	}
	if d.Users < 1 || d.Groups < 0 || d.MembersPerGroup < 0 || (d.Groups > 0 && d.MembersPerGroup > d.Users) {
		return nil, fmt.Errorf("benchdir: directory %+v: want at least 1 user and at most Users members per group", d)
	}
	s := &Server{Directory: d, Dir: dir}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw) // crypto/rand.Read never fails (Go 1.24)
	s.Password = hex.EncodeToString(pw)
	s.PasswordFile = filepath.Join(dir, "password")
	if err := os.WriteFile(s.PasswordFile, []byte(s.Password), 0o600); err != nil {
		return nil, fmt.Errorf("benchdir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("benchdir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "slapd.conf"), []byte(slapdConf(dir, s.Password, d)), 0o600); err != nil {
		return nil, fmt.Errorf("benchdir: %w", err)
	}
	start := time.Now()
	if err := s.load(); err != nil {
		return nil, err
	}
	s.Generated = time.Since(start)
	// A free port can be taken between probing and binding: try a few times.
	var err error
	for range 3 {
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// load streams the generated LDIF into slapadd's standard input.
func (s *Server) load() error {
	cmd := exec.Command(SlapaddBin, "-q", "-w", "-f", filepath.Join(s.Dir, "slapd.conf"))
	cmd.Env = toolEnv()
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("slapadd: %w", err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapadd: %w", err)
	}
	genErr := s.WriteLDIF(in)
	closeErr := in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("slapadd of the generated directory: %w\n%s", err, out.Bytes())
	}
	if err := errors.Join(genErr, closeErr); err != nil {
		return fmt.Errorf("benchdir: writing the LDIF to slapadd: %w", err)
	}
	return nil
}

// toolEnv keeps OpenLDAP's tools away from the machine's and the user's ldap.conf.
func toolEnv() []string {
	return append(os.Environ(), "LDAPCONF=/dev/null", "LDAPRC=/dev/null")
}

func slapdConf(dir, password string, d Directory) string {
	// The map must hold the whole database (about 4 KB an entry with its
	// indexes); it is sparse, so a generous size costs nothing.
	size := max(int64(4)<<30, int64(d.Entries())*16<<10)
	return fmt.Sprintf(`# A throwaway, benchmark-only OpenLDAP (internal/benchdir).
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema

pidfile  %[1]s/slapd.pid
argsfile %[1]s/slapd.args

modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov

# slapadd -q indexes with this many threads.
tool-threads %[6]d

database  mdb
suffix    "%[2]s"
rootdn    "%[3]s"
rootpw    %[4]s
directory %[1]s/data
maxsize   %[5]d
# Benchmark only: no fsync per write.
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
`, dir, Suffix, RootDN, password, size, max(1, min(4, runtime.NumCPU())))
}

// WriteLDIF writes the suffix, ou=people with d.Users inetOrgPersons (12
// attributes each, as in notes/test-servers.md's read figure) and ou=groups with
// d.Groups mail-enabled groups of d.MembersPerGroup members spread over the
// users, one entry at a time (memory does not grow with d.Users). entryUUIDs are
// random (seeded, so every run generates the same directory), as in a directory
// filled over time: slapadd's own are time-based and, loaded in seconds, would
// all share their first hex digit, which the connector's parallel read
// partitions on.
func (d Directory) WriteLDIF(out io.Writer) error {
	w := bufio.NewWriterSize(out, 1<<20)
	fmt.Fprintf(w, "dn: %s\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n", Suffix)
	fmt.Fprintf(w, "dn: %s\nobjectClass: top\nobjectClass: organizationalUnit\nou: people\n\n", People)
	fmt.Fprintf(w, "dn: %s\nobjectClass: top\nobjectClass: organizationalUnit\nou: groups\n\n", GroupsOU)
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
	for i := range d.Users {
		fmt.Fprintf(w, "dn: %s\n"+
			"objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\n"+
			"uid: u%06d\ncn: User %06d\nsn: Surname%06d\ngivenName: Given%d\ndisplayName: Given%d Surname%06d\n"+
			"mail: u%06d@example.com\ntelephoneNumber: +1 555 %07d\nmobile: +1 666 %07d\ntitle: %s\n"+
			"departmentNumber: D%03d\nemployeeNumber: %d\nl: City %d\nentryUUID: %s\n\n",
			UserDN(i), i, i, i, i%1000, i%1000, i, i, i, i, titles[i%len(titles)], i%200, i, i%50, uuid())
	}
	for g := range d.Groups {
		fmt.Fprintf(w, "dn: cn=group%03d,%s\nobjectClass: top\nobjectClass: groupOfNames\nobjectClass: extensibleObject\n"+
			"cn: group%03d\nmail: group%03d@example.com\nentryUUID: %s\n", g, GroupsOU, g, g, uuid())
		for m := range d.MembersPerGroup {
			fmt.Fprintf(w, "member: %s\n", UserDN((m*d.Users/d.MembersPerGroup+g)%d.Users))
		}
		_, _ = w.WriteString("\n") // bufio errors stick: Flush below reports them
	}
	return w.Flush()
}

// UserDN is the DN of generated user i.
func UserDN(i int) string { return fmt.Sprintf("uid=u%06d,%s", i, People) }

// start runs slapd in the foreground on a free port and waits until a bind works.
func (s *Server) start() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("benchdir: free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close() // only probed for a free port
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	logPath := filepath.Join(s.Dir, "slapd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("benchdir: %w", err)
	}
	defer func() { _ = logf.Close() }() // slapd has its own descriptor; ours is only for starting it
	// -d none: foreground, errors only (to the log).
	cmd := exec.Command(SlapdBin, "-d", "none", "-f", filepath.Join(s.Dir, "slapd.conf"), "-h", s.URL+"/")
	cmd.Env = toolEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // the exit is seen through exited
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // an already gone slapd is stopped
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill() // it ignored SIGTERM; the database is throwaway
			<-exited
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := goldap.DialURL(s.URL)
		if err == nil {
			err = conn.Bind(RootDN, s.Password)
			_ = conn.Close() // a probe
			if err == nil {
				break
			}
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath) // best effort: the log explains the exit
			return fmt.Errorf("slapd on %s exited during startup (AppArmor may confine %s: aa-complain it):\n%s", s.URL, SlapdBin, out)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			out, _ := os.ReadFile(logPath) // best effort, as above
			return fmt.Errorf("slapd on %s not answering after 30s: %w\n%s", s.URL, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.PID = cmd.Process.Pid
	s.stop = stop
	return nil
}

// Stop stops slapd (SIGTERM, then SIGKILL after 15 s). It is safe to call twice.
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Run is one measured child process: wall time, its CPU time, slapd's CPU time
// meanwhile, and its peak resident set size from the kernel.
type Run struct {
	Wall, CPU, SlapdCPU time.Duration
	// MaxRSSKB is the child's getrusage maxrss, unless Sampled.
	MaxRSSKB int64
	// Sampled: the child's peak RSS was below this process's own, which is all
	// getrusage can report for a child that Go starts (Linux counts the address
	// space a process leaves at exec, here the parent's, shared through vfork),
	// so MaxRSSKB is the child's VmHWM from /proc/PID/status, read every 5 ms
	// (a lower bound: growth in its last 5 ms is not seen).
	Sampled bool
}

// MaxRSSMB is the peak RSS in MB (2^20 bytes).
func (r Run) MaxRSSMB() float64 { return float64(r.MaxRSSKB) / 1024 }

// RunChild runs cmd to its end and measures it; slapdPID (0: none) is the
// server whose CPU time is counted meanwhile.
func RunChild(cmd *exec.Cmd, slapdPID int) (Run, error) {
	floor := procStatusKB("self", "VmHWM")
	s0 := ProcCPU(slapdPID)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Run{}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	done, sampled := make(chan struct{}), make(chan int64)
	go func() {
		pid, peak := strconv.Itoa(cmd.Process.Pid), int64(0)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, procStatusKB(pid, "VmHWM"))
			select {
			case <-done:
				sampled <- peak
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	r := Run{Wall: time.Since(start), SlapdCPU: ProcCPU(slapdPID) - s0}
	peak := <-sampled
	if cmd.ProcessState != nil {
		r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSSKB = ru.Maxrss // kilobytes on Linux
		}
	}
	if r.MaxRSSKB <= floor {
		r.MaxRSSKB, r.Sampled = peak, true
	}
	return r, err
}

// procStatusKB reads a "VmXXX:  1234 kB" line of /proc/PID/status (0 if unknown).
func procStatusKB(pid, field string) int64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// SearchArgs are ldapsearch's arguments for base and filter over the same plain
// ldap:// connection the connector uses, in pages of 1000, as the root DN.
func (s *Server) SearchArgs(base, filter string, attrs []string) []string {
	return append([]string{"-x", "-LLL", "-H", s.URL, "-D", RootDN, "-y", s.PasswordFile,
		"-b", base, "-E", "pr=1000/noprompt", filter}, attrs...)
}

// LDAPSearch times `ldapsearch -E pr=1000/noprompt` of base, its output thrown
// away: once to check that it returns want entries (and to warm slapd's cache),
// then twice timed; the faster run counts.
func (s *Server) LDAPSearch(base, filter string, attrs []string, want int) (Run, error) {
	args := s.SearchArgs(base, filter, attrs)
	if n, err := s.count(args); err != nil {
		return Run{}, err
	} else if n != want {
		return Run{}, fmt.Errorf("ldapsearch -b %s %s returned %d entries, want %d", base, filter, n, want)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return Run{}, fmt.Errorf("benchdir: %w", err)
	}
	defer func() { _ = devnull.Close() }() // nothing written through it is kept
	var best Run
	for range 2 {
		var stderr bytes.Buffer
		cmd := exec.Command("ldapsearch", args...)
		cmd.Env = toolEnv()
		cmd.Stdout = devnull // a file: ldapsearch writes to it directly, no copy through this process
		cmd.Stderr = &stderr
		r, err := RunChild(cmd, s.PID)
		if err != nil {
			return Run{}, fmt.Errorf("ldapsearch -b %s: %w\n%s", base, err, stderr.Bytes())
		}
		if best.Wall == 0 || r.Wall < best.Wall {
			best = r
		}
	}
	return best, nil
}

// count runs ldapsearch and counts the entries it prints.
func (s *Server) count(args []string) (int, error) {
	cmd := exec.Command("ldapsearch", args...)
	cmd.Env = toolEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("ldapsearch: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start ldapsearch: %w", err)
	}
	n := 0
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "dn: ") {
			n++
		}
	}
	scanErr := sc.Err()
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("ldapsearch: %w\n%s", err, stderr.Bytes())
	}
	if scanErr != nil {
		return 0, fmt.Errorf("reading ldapsearch's output: %w", scanErr)
	}
	return n, nil
}

// ChangeTitles replaces the title of n users spread evenly over the directory,
// as the root DN through go-ldap; round (0, 1, ...) shifts which users and what
// title, so successive rounds are n fresh changes each.
func (s *Server) ChangeTitles(n, round int) error {
	if n < 1 || n > s.Users {
		return fmt.Errorf("benchdir: %d changes in a directory of %d users", n, s.Users)
	}
	conn, err := goldap.DialURL(s.URL)
	if err != nil {
		return fmt.Errorf("dial %s: %w", s.URL, err)
	}
	defer func() { _ = conn.Close() }() // every modify's result is already checked
	if err := conn.Bind(RootDN, s.Password); err != nil {
		return fmt.Errorf("bind %s: %w", RootDN, err)
	}
	step := s.Users / n
	for i := range n {
		dn := UserDN((i*step + round + 1) % s.Users)
		m := goldap.NewModifyRequest(dn, nil)
		m.Replace("title", []string{fmt.Sprintf("Engineer, round %d", round+1)})
		if err := conn.Modify(m); err != nil {
			return fmt.Errorf("modify title of %s: %w", dn, err)
		}
	}
	return nil
}

// ProcCPU is a process's user+system CPU time from /proc/PID/stat (0 if unknown).
func ProcCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)        // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)        // stime, field 15
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}
