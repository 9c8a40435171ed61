package main

// dirsync admins create: the first console administrator. Like dirsync
// tokens it opens the configured store directly (the first administrator
// cannot come from a console that wants one), so it works whether or not the
// daemon runs; the logic is accounts.BootstrapAdmin.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/store"
)

// adminsActor is who the audit log says made the administrator.
var adminsActor = store.Actor{Kind: "cli", Name: "admins create"}

func cmdAdmins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "admins", "Make console administrators. This opens the store the configuration names\n"+
		"directly (no daemon, no token needed: this is how the first one is made).", []subcommand{
		{"create", "--config FILE --address ADDRESS [--name NAME] --password-file FILE|-", adminsCreate},
	}, args, stdout, stderr)
}

func adminsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("admins create", stderr)
	setUsage(fs, "admins create", "--config FILE --address ADDRESS [--name NAME] --password-file FILE|-")
	cfgPath := fs.String("config", "", "configuration file (its store gets the administrator)")
	address := fs.String("address", "", "the administrator's address, in an internal domain")
	name := fs.String("name", "", "display name of a user it creates")
	pw := addSecretFlag(fs, "password", "password", false) // --password-file - is --password-stdin
	plain := fs.String("password", "", "refused: use --password-file")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	switch {
	case *plain != "":
		return usageError("admins create: --password is refused: a command line is visible to every user of this machine " +
			"(ps) and stays in the shell's history; use --password-file FILE, or --password-file - to read it from standard input")
	case *cfgPath == "":
		return usageError("--config is required: the administrator is made in the store the configuration names")
	case strings.TrimSpace(*address) == "":
		return usageError("admins create: --address is required")
	case !pw.given():
		return usageError("admins create: give the password with --password-file FILE, or --password-file - (standard input)")
	}
	if pw.file == "-" {
		pw.file, pw.stdin = "", true
	}
	secret, err := pw.value(newStdinLines(stderr))
	if err != nil {
		return err
	}
	cs, err := openConfigStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer cs.close()
	svc := accounts.New(accounts.Options{Store: cs.st, Log: cs.log})
	res, err := svc.BootstrapAdmin(ctx, cs.st, accounts.BootstrapRequest{Address: *address, Name: *name,
		Password: secret, Actor: adminsActor})
	if err != nil {
		return adminsFail(err, cs.cfg, *cfgPath)
	}
	var did []string
	switch {
	case res.Created:
		did = append(did, "created "+res.Address)
	case res.Enabled:
		did = append(did, "enabled "+res.Address)
	default:
		did = append(did, res.Address+" exists")
	}
	did = append(did, map[bool]string{true: "set its password", false: "it already has that password"}[res.PasswordSet])
	did = append(did, map[bool]string{true: "granted " + accounts.AdminRole, false: "it already holds " + accounts.AdminRole}[res.Granted])
	if res.Unlocked {
		did = append(did, "cleared its lock")
	}
	fmt.Fprintf(stdout, "%s: sign in at %s\n", strings.Join(did, ", "), consoleURL(cs.cfg.Server))
	return nil
}

// adminsFail turns BootstrapAdmin's refusals into what to do about them.
func adminsFail(err error, cfg *config.Config, cfgPath string) error {
	var nie *store.NotInternalError
	var weak *password.WeakError
	var invalid *accounts.ValidationError
	var msg string
	switch {
	case errors.As(err, &nie) && slices.ContainsFunc(cfg.Domains, func(d string) bool { return strings.EqualFold(d, nie.Domain) }):
		msg = fmt.Sprintf("%s is listed under domains: in %s, but the store has not registered it yet: start the daemon "+
			"once (make run, or dirsync serve --config %s), then run this again", nie.Domain, cfgPath, cfgPath)
	case errors.As(err, &nie):
		msg = fmt.Sprintf("%v: add it under domains: in %s and restart the daemon (or send it SIGHUP), "+
			"or add it with: dirsync domains add %s", nie, cfgPath, nie.Domain)
	case errors.As(err, &weak):
		msg = fmt.Sprintf("the password was refused: %v", weak)
	case errors.As(err, &invalid):
		msg = invalid.Error()
	default:
		return fmt.Errorf("admins create: %w", err)
	}
	return &exitError{code: exitFailed, msg: msg}
}

// consoleURL is where the daemon configured by s serves the console.
func consoleURL(s config.Server) string {
	scheme := "http"
	if s.TLS.Enabled() {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return scheme + "://" + s.Listen + "/console/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/console/"
}
