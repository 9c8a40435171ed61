package main

// The admin commands (users, domains, roles, import, runs, trigger) are clients
// of a running daemon's admin API (api/client). This file holds what they
// share: the --server and --output flags, the token from the environment,
// flags mixed with positional arguments, and turning API errors into messages
// and exit codes.

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/api/client"
)

// Environment variables of the admin commands.
const (
	envServer = "DIRSYNC_SERVER"
	envToken  = "DIRSYNC_TOKEN"
	// defaultServer matches config's default server.listen.
	defaultServer = "http://127.0.0.1:8080"
)

// subcommand is one verb of a command group (users list, users show, ...).
type subcommand struct {
	name     string
	synopsis string // the arguments and main flags, for the group's usage
	run      command
}

// dispatch runs the subcommand args[0] of group, or prints the group's usage.
func dispatch(ctx context.Context, group, about string, subs []subcommand, args []string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "%s\n\nUsage:\n", about)
		for _, s := range subs {
			fmt.Fprintf(w, "  dirsync %s %s %s\n", group, s.name, s.synopsis)
		}
		fmt.Fprintf(w, "\nRun 'dirsync %s COMMAND --help' for a command's flags.\n", group)
	}
	if len(args) == 0 {
		usage(stderr)
		return usageError("%s: name a command", group)
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return usageError("%s: unknown command %q", group, args[0])
}

// adminFlags is an admin command's flag set with the flags every admin command
// has: --server and --output.
type adminFlags struct {
	*flag.FlagSet
	server string
	output string
}

// newAdminFlags returns the flag set of "dirsync <name> <args>".
func newAdminFlags(name, args string, stderr io.Writer) *adminFlags {
	f := &adminFlags{FlagSet: newFlagSet(name, stderr)}
	f.StringVar(&f.server, "server", cmp.Or(os.Getenv(envServer), defaultServer), "the daemon's URL ($"+envServer+" sets the default)")
	f.StringVar(&f.output, "output", "table", "output format: table or json")
	setUsage(f.FlagSet, name, args)
	return f
}

// setUsage makes --help print the command line and the flags.
func setUsage(fs *flag.FlagSet, name, args string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: dirsync %s %s\n\nFlags (before or after the arguments):\n", name, args)
		fs.PrintDefaults()
	}
}

// parse parses args and checks the number of positional arguments is within
// [lo, hi] (hi < 0: no upper bound).
func (f *adminFlags) parse(args []string, lo, hi int) ([]string, error) {
	pos, err := parseArgs(f.FlagSet, args, lo, hi)
	if err != nil {
		return nil, err
	}
	if err := checkOutput(f.output); err != nil {
		return nil, err
	}
	return pos, nil
}

// start is parse, then connect: for the commands that check nothing of
// their own before they call the daemon.
func (f *adminFlags) start(args []string, lo, hi int, stdout io.Writer) (*admin, []string, error) {
	pos, err := f.parse(args, lo, hi)
	if err != nil {
		return nil, nil, err
	}
	a, err := f.connect(stdout)
	return a, pos, err
}

// checkOutput checks an --output value of the commands that print tables.
func checkOutput(output string) error {
	if output != "table" && output != "json" {
		return usageError("--output %q: use table or json", output)
	}
	return nil
}

// parseArgs is parseMixed, then a check that the number of positional
// arguments is within [lo, hi] (hi < 0: no upper bound).
func parseArgs(fs *flag.FlagSet, args []string, lo, hi int) ([]string, error) {
	pos, err := parseMixed(fs, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) < lo:
		fs.Usage()
		return nil, usageError("%s: missing argument", fs.Name())
	case hi >= 0 && len(pos) > hi:
		return nil, usageError("%s: unexpected argument %q", fs.Name(), pos[hi])
	}
	return pos, nil
}

// parseMixed parses flags that may come before, between or after positional
// arguments (the flag package alone stops at the first positional), so
// "users show alice@example.com --output json" works. Everything after "--"
// is positional.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &exitError{code: exitOK}
			}
			return nil, &exitError{code: exitUsage}
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// admin is an admin command connected to the daemon.
type admin struct {
	client *client.Client
	json   bool
	stdout io.Writer
}

// connect builds the API client from the flags and $DIRSYNC_TOKEN.
func (f *adminFlags) connect(stdout io.Writer) (*admin, error) {
	token := strings.TrimSpace(os.Getenv(envToken))
	if token == "" {
		return nil, usageError("%s is not set: create an admin token with\n"+
			"  dirsync tokens create --config FILE --name NAME --scope admin\n"+
			"and export %s=<the token it prints>", envToken, envToken)
	}
	c, err := client.New(f.server, token, nil)
	if err != nil {
		return nil, usageError("--server: %v", err)
	}
	return &admin{client: c, json: f.output == "json", stdout: stdout}, nil
}

// fail turns an error of the API client into what the user reads: the API's
// message and code (with every detail on its own line), or where the daemon
// is when it cannot be reached. Both exit 1.
func (a *admin) fail(err error) error {
	if err == nil {
		return nil
	}
	var ae *client.Error
	if errors.As(err, &ae) {
		code := cmp.Or(ae.Code, fmt.Sprintf("HTTP %d", ae.Status))
		var b strings.Builder
		fmt.Fprintf(&b, "%s (%s)", ae.Summary(), code)
		for _, line := range ae.DetailLines() {
			b.WriteString("\n  " + line)
		}
		switch ae.Code {
		case api.CodeUnauthorized:
			fmt.Fprintf(&b, "\n  check %s; create a token with: dirsync tokens create --config FILE --name NAME --scope admin", envToken)
		case api.CodeForbidden:
			b.WriteString("\n  the token lacks the scope for this; list the tokens' scopes with: dirsync tokens list --config FILE")
		}
		return &exitError{code: exitFailed, msg: b.String()}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("the dirsync daemon is not reachable at %s (%v)\n"+
			"  start it with 'make run' (the quickstart) or 'dirsync serve --config FILE',\n"+
			"  or point --server or $%s at it", a.client.BaseURL(), op.Err, envServer)}
	}
	if errors.Is(err, context.Canceled) {
		return &exitError{code: exitFailed, msg: "interrupted"}
	}
	return err
}
