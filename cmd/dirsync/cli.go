package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/dirsync/dirsync/config"
)

// Exit codes of the CLI.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitHeld    = 3
	exitPartial = 4
)

// exitError carries an exit code; its message (if any) has already been printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError is a command-line mistake: exit 2 with the message.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "dirsync:", ee.msg)
		}
		return ee.code
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintln(stderr, "dirsync:", ce.Error())
		return exitUsage
	}
	fmt.Fprintln(stderr, "dirsync:", err)
	return exitFailed
}

const usage = `dirsync keeps an email gateway's user directory in step with your directories.

Usage:
  dirsync serve   --config FILE        run the daemon: scheduled syncs, admin API, health endpoints
                                       (SIGHUP reloads the configuration, SIGTERM stops)
  dirsync sync    --config FILE [--connector NAME]... [--full] [--dry-run] [--output text|json] [--log-level LEVEL]
                                       run a sync now, in this process
  dirsync config check --config FILE [--offline]
                                       validate a configuration, resolve its secrets, test every connection
  dirsync version                      print the version

Admin commands, through a running daemon's admin API (--server URL, default
$DIRSYNC_SERVER or http://127.0.0.1:8080; the bearer token from $DIRSYNC_TOKEN;
--output table|json):
  dirsync users   list|show|status|create|update|disable|enable|unlock|register|unregister|invite|invitation|delete
  dirsync domains list|add NAME
  dirsync roles   list|add NAME --permission P...|assign ADDRESS ROLE...
  dirsync import  FILE.csv | --template    import users from CSV (at most 500 addresses)
  dirsync runs    list|show RUN-ID         sync run history and reports
  dirsync trigger [--connector NAME]... [--dry-run] [--full] [--no-wait]
                                       run a sync in the daemon now
  dirsync holds   list|approve|reject     destructive operations held for approval
  dirsync audit   [--address A] [--actor KIND[:NAME]] [--action X] [--connector C] [--run ID] [--since T] [--until T]
                                       the audit log: who changed what, before and after, newest first
  dirsync explain --connector NAME --user ADDRESS|ANCHOR [--apply]
                                       one object through every stage of a sync
  dirsync tokens  create|list|revoke --config FILE
                                       API tokens, straight in the store (no daemon needed)
  dirsync admins  create --config FILE --address ADDRESS --password-file FILE|-
                                       a console administrator, straight in the store (no daemon needed)
End-user commands, through a running daemon (--server URL as above; no token: each
asks for the user's own password, without echo, or reads it from --password-file F|-):
  dirsync account sign-in --address A   check a password; says when a temporary one must change
  dirsync account change-password --address A [--question Q]
                                       change it (a first change also sets a security question)
  dirsync account reset --address A    a forgotten password, with the security answer
  dirsync account register [--token-file F|-]
                                       register with an invitation's token
Run 'dirsync COMMAND --help' or 'dirsync COMMAND SUBCOMMAND --help' for details.

Exit codes: 0 ok or a dry run that would apply, 1 failed, 2 usage or configuration
error, 3 held (or a dry run that would hold operations), 4 partial.
`

// command is a command (or a group's subcommand) given its arguments.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands are the commands run dispatches to, by name. explain and config
// are not interruptible: an interrupt ends them at once.
var commands = map[string]command{
	"serve":   interruptible(cmdServe),
	"sync":    interruptible(cmdSync),
	"users":   interruptible(cmdUsers),
	"domains": interruptible(cmdDomains),
	"roles":   interruptible(cmdRoles),
	"import":  interruptible(cmdImport),
	"runs":    interruptible(cmdRuns),
	"trigger": interruptible(cmdTrigger),
	"holds":   interruptible(cmdHolds),
	"audit":   interruptible(cmdAudit),
	"explain": cmdExplain,
	"tokens":  interruptible(cmdTokens),
	"admins":  interruptible(cmdAdmins),
	"account": interruptible(cmdAccount),
	"config":  cmdConfig,
}

// interruptible runs cmd with a context that ends on an interrupt or SIGTERM,
// so that the command stops in order (the daemon drains its runs, a sync
// stops before its next step, a request is cancelled) instead of being killed.
func interruptible(cmd command) command {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return cmd(ctx, args, stdout, stderr)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: exitUsage}
	}
	if cmd, ok := commands[args[0]]; ok {
		return cmd(ctx, args[1:], stdout, stderr)
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, "dirsync", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError("unknown command %q", args[0])
	}
}

// newFlagSet returns a flag set that reports mistakes as usage errors.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: exitOK}
		}
		return &exitError{code: exitUsage}
	}
	if fs.NArg() > 0 {
		return usageError("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// version is set at build time with -ldflags "-X main.buildVersion=..."; otherwise
// the module and VCS information the Go toolchain embeds is used.
var buildVersion = ""

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
