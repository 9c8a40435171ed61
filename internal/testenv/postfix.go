package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Postfix is a throwaway Postfix instance: its own configuration, queue and
// data directories under t.TempDir(), its SMTP server on a free loopback port,
// nothing delivered anywhere (every transport is discard), asking the policy
// service at the address given to StartPostfix about every RCPT.
//
// Isolation. Everything an instance reads or writes is named by its own
// main.cf (config_directory, queue_directory, data_directory, maillog_file all
// under Dir), so /etc/postfix's main.cf and master.cf are neither used nor
// changed, and two instances, or a system Postfix, never share a queue, a
// lock, a pid file or a port. Only Postfix's package metadata is read from
// the shared meta_directory (/etc/postfix/postfix-files, dynamicmaps.cf), and
// postfix-script reads the default main.cf's multi_instance_directories.
// Root may point the postfix command at any directory with -c: the
// alternate_config_directories list only guards the set-gid commands
// (postdrop, postqueue), which an instance fed over SMTP never runs, so no
// system file needs editing and no mount namespace is needed.
//
// Lifetime. `postfix -c DIR start` creates the queue and data directories
// with Postfix's own owners and modes, checks the configuration and starts the
// master daemon; t.Cleanup stops it. The daemonised master is not this
// process's child, so a test binary that dies without running its cleanups
// (a -timeout panic skips them; so does SIGKILL) would leave it running: a
// watchdog shell, whose stdin is a pipe only this process writes to, sees EOF
// when this process is gone however it ended, then runs `postfix stop` and
// removes Dir (and its parent, the test's temporary root, if empty). A
// parent-death signal on a foreground master would not do: the kernel clears
// it when the master changes its effective IDs.
type Postfix struct {
	// SMTPAddr is the SMTP server's address, 127.0.0.1:PORT.
	SMTPAddr string
	// Dir holds the instance: etc/ (main.cf, master.cf), queue/, data/ and
	// postfix.log.
	Dir string

	postfix  string    // the postfix command
	pid      int       // the master daemon's, which leads its process group
	watchdog *exec.Cmd // stops the instance if this process dies
	// watchdogPipe is the write end of the watchdog's stdin: held (and kept
	// reachable by the cleanup, so no finalizer closes it) until stop.
	watchdogPipe *os.File
	// masterCF, if set, writes master.cf for a start on SMTP port port
	// (StartPostfixMailbox's); nil: postfixMasterCF.
	masterCF func(port int) (string, error)
}

// baseMainCF is what every throwaway instance's main.cf starts with: its
// own directories and log under {{DIR}}, loopback only, nothing delivered
// unless an instance says otherwise.
const baseMainCF = `compatibility_level = 3.6
config_directory = {{DIR}}/etc
queue_directory = {{DIR}}/queue
data_directory = {{DIR}}/data
maillog_file = {{DIR}}/postfix.log
maillog_file_prefixes = {{DIR}}
myhostname = mail.test.invalid
mydomain = test.invalid
myorigin = $myhostname
mydestination =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
default_transport = discard
relay_transport = discard
local_transport = discard
alias_maps =
alias_database =
biff = no
smtpd_peername_lookup = no
`

// Postfix settings: the policy service is asked at RCPT time about the
// envelope sender (smtpd_delay_reject defaults to yes), and answers quickly or
// not at all in tests, so its timeout is short.
const postfixMainCF = `# Written by internal/testenv.StartPostfix: a throwaway test instance.
` + baseMainCF + `smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_sender_restrictions = check_policy_service inet:{{POLICY}}
smtpd_policy_service_timeout = 10s
`

// The services an SMTP-fed, discard-only instance needs, none chrooted
// (chroot would need copies of /etc files in the queue directory). postlog
// carries the daemons' logging to maillog_file.
const postfixMasterCF = `# Written by internal/testenv.StartPostfix: a throwaway test instance.
127.0.0.1:{{PORT}} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// postfixReadyTimeout bounds the wait for the SMTP banner.
const postfixReadyTimeout = 15 * time.Second

// StartPostfix starts a Postfix instance for the test and stops it in
// t.Cleanup (postfix stop, then SIGKILL to the master's process group if
// needed; it waits until its processes are gone). It skips or fails the test like Addr
// when EnvPostfix is unset, and likewise when the test does not run as root
// (Postfix's master must). policyAddr is the policy server's host:port
// (check_policy_service inet:policyAddr). A start failure fails the test with
// the end of the instance's log.
func StartPostfix(t testing.TB, policyAddr string) *Postfix {
	t.Helper()
	p := newPostfix(t, "StartPostfix")
	mainCF := strings.NewReplacer("{{DIR}}", p.Dir, "{{POLICY}}", policyAddr).Replace(postfixMainCF)
	p.startWith(t, mainCF)
	return p
}

// newPostfix checks that Postfix can run (skipping or failing like Addr) and
// makes the instance's directory with its etc/ and queue/ folders. who names
// the caller in the message when not root.
func newPostfix(t testing.TB, who string) *Postfix {
	t.Helper()
	postfix := Addr(t, EnvPostfix)
	if os.Geteuid() != 0 {
		unavailable(t, who+" needs root: Postfix's master daemon runs as root")
	}
	dir := t.TempDir()
	if err := reachable(dir); err != nil {
		t.Fatalf("postfix: %v", err)
	}
	p := &Postfix{Dir: dir, postfix: postfix}
	for _, sub := range []string{"etc", "queue"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatalf("postfix: %v", err)
		}
	}
	return p
}

// startWith writes main.cf and starts the instance (master.cf from
// p.masterCF, or the policy instance's), failing the test if it cannot.
func (p *Postfix) startWith(t testing.TB, mainCF string) {
	t.Helper()
	dir := p.Dir
	if err := os.WriteFile(filepath.Join(dir, "etc", "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatalf("postfix: %v", err)
	}

	// A port picked by the kernel may be taken again before master binds
	// it: then master exits at once, and another port is tried.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = p.start(t); !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		t.Fatalf("postfix: %v\n----- %s (end) -----\n%s", err, filepath.Join(dir, "postfix.log"), tail(p.Log(), 30))
	}
}

var errPortTaken = errors.New("SMTP port already in use")

// start writes master.cf for a fresh port, starts Postfix and waits for its
// SMTP banner. On success the cleanup that stops it is registered.
func (p *Postfix) start(t testing.TB) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	masterCF := strings.ReplaceAll(postfixMasterCF, "{{PORT}}", strconv.Itoa(port))
	if p.masterCF != nil {
		if masterCF, err = p.masterCF(port); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(p.Dir, "etc", "master.cf"), []byte(masterCF), 0o644); err != nil {
		return err
	}
	p.SMTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := p.startWatchdog(); err != nil {
		return err
	}
	logStart := len(p.Log())
	if out, err := p.run(60*time.Second, "start"); err != nil {
		p.stop(t)
		if strings.Contains(p.Log()[logStart:], "Address already in use") {
			return errPortTaken
		}
		return fmt.Errorf("postfix -c %s start: %w: %s", filepath.Join(p.Dir, "etc"), err, bytes.TrimSpace(out))
	}
	pidFile := filepath.Join(p.Dir, "queue", "pid", "master.pid")
	b, err := os.ReadFile(pidFile)
	if err == nil {
		p.pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if err != nil {
		p.stop(t)
		return fmt.Errorf("read %s: %w", pidFile, err)
	}
	if err := p.waitReady(); err != nil {
		p.stop(t)
		return err
	}
	t.Cleanup(func() { p.stop(t) })
	return nil
}

// startWatchdog starts the shell that stops the instance once its stdin, a
// pipe whose write end stays in this process, reaches EOF. It runs in its own
// session, so a Ctrl-C that ends the tests does not end it first.
func (p *Postfix) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }() // the watchdog holds its own copy of the read end
	cmd := exec.Command("/bin/sh", "-c", `read -r _; "$0" -c "$1/etc" stop; sleep 1; rm -rf "$1"; rmdir "${1%/*}"`, p.postfix, p.Dir)
	cmd.Dir = "/"
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		_ = w.Close() // the start error is the one to report
		return fmt.Errorf("start postfix watchdog: %w", err)
	}
	p.watchdog, p.watchdogPipe = cmd, w
	return nil
}

// run runs the postfix command on this instance.
func (p *Postfix) run(timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.postfix, append([]string{"-c", filepath.Join(p.Dir, "etc")}, args...)...)
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

// waitReady dials the SMTP port until Postfix greets with 220.
func (p *Postfix) waitReady() error {
	deadline := time.Now().Add(postfixReadyTimeout)
	var last error
	for time.Now().Before(deadline) {
		if !alive(p.pid) {
			return fmt.Errorf("postfix master (pid %d) exited during startup", p.pid)
		}
		if last = greet(p.SMTPAddr); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no SMTP banner on %s after %v: %w", p.SMTPAddr, postfixReadyTimeout, last)
}

func greet(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read banner: %w", err)
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("banner %q", strings.TrimSpace(line))
	}
	_, _ = conn.Write([]byte("QUIT\r\n"))
	return nil
}

// stop ends the watchdog, runs postfix stop, kills the master's process
// group if it is still there after 10 s, and returns once no process of the
// instance is alive, so that t.TempDir's cleanup can remove Dir.
func (p *Postfix) stop(t testing.TB) {
	if p.watchdog != nil {
		_ = p.watchdog.Process.Kill()
		_ = p.watchdog.Wait()
		_ = p.watchdogPipe.Close()
		p.watchdog, p.watchdogPipe = nil, nil
	}
	if p.pid == 0 {
		// postfix start failed, or its master never wrote its PID: stop
		// whatever may have come up. "not running" is fine.
		_, _ = p.run(15*time.Second, "stop")
		return
	}
	pgid := p.pid
	p.pid = 0
	if alive(pgid) {
		if out, err := p.run(15*time.Second, "stop"); err != nil {
			t.Logf("postfix -c %s stop: %v: %s", filepath.Join(p.Dir, "etc"), err, bytes.TrimSpace(out))
		}
	}
	// postfix stop TERMs the master, which passes it on to its children;
	// wait for them all. A process group outlives its leader only while a
	// member lives, so -pgid cannot reach a stranger.
	deadline := time.Now().Add(15 * time.Second)
	killed := false
	for alive(pgid) || groupAlive(pgid) {
		if !killed && time.Now().After(deadline.Add(-5*time.Second)) {
			t.Logf("postfix master (pid %d) or its children still running after 10s: killing the process group", pgid)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			killed = true
		}
		if time.Now().After(deadline) {
			t.Errorf("postfix processes of group %d still alive after 15s", pgid)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether process pid exists and is not a zombie (a daemon's
// zombie lingers until init reaps it).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := statFields(stat)
	return len(f) > 0 && f[0] != "Z"
}

// statFields returns the fields of /proc/PID/stat after "pid (comm)":
// state, ppid, pgrp, ... (comm may hold spaces and parentheses).
func statFields(stat []byte) []string {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(stat[i+1:]))
}

// groupAlive reports whether a process of group pgid lives (zombies do not
// count).
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := statFields(stat); len(f) >= 3 && f[2] == want && f[0] != "Z" {
			return true
		}
	}
	return false
}

// Send submits one message over SMTP (no authentication, no TLS) from → to
// and returns the SMTP error if any, as a *textproto.Error when the server
// answered (for instance 451 4.3.5 when the policy service is down, or a 5xx
// at RCPT when it rejects the sender).
func (p *Postfix) Send(from, to, subject string) error {
	conn, err := net.DialTimeout("tcp", p.SMTPAddr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", p.SMTPAddr, err)
	}
	// Generous: a policy server under test may be slow or retried.
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp greeting: %w", err)
	}
	// After QUIT this only drops the connection; after a failed step, that
	// step's error is the one to report.
	defer func() { _ = c.Close() }()
	if err := c.Hello("client.test.invalid"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM:<%s>: %w", from, err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO:<%s>: %w", to, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@client.test.invalid>\r\n\r\nA test message from internal/testenv.\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano())
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("QUIT: %w", err)
	}
	return nil
}

// Log returns the instance's log so far (for test failure messages).
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "postfix.log"))
	return string(b)
}

// freePort returns a loopback TCP port free at the time of the call.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// reachable lets Postfix's unprivileged daemons (user postfix) traverse the
// path to dir: the testing package makes the test's temporary root mode 0700,
// so the folders from dir up to os.TempDir() get o+x; anything above must
// allow it already.
func reachable(dir string) error {
	top := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if d != top && strings.HasPrefix(d, top+string(filepath.Separator)) {
				if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
					return err
				}
			} else {
				return fmt.Errorf("user postfix cannot traverse %s (mode %v): point TMPDIR elsewhere", d, fi.Mode().Perm())
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// unavailable skips the test, or fails it under CI=true (as Addr does).
func unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so a missing test server is a failure", msg)
	}
	t.Skipf("%s", msg)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
