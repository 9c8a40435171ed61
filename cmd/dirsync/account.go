package main

// dirsync account: an end user's own portal login through a running daemon's
// public routes (/v1/auth/*), with no token. Secrets are asked at the
// terminal without echo, or read from --NAME-file FILE or --NAME-file -
// (standard input, one line each, in the order the flags are listed), never
// from a flag's value: a command line is visible to every user of the machine.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/api/client"
	"github.com/dirsync/dirsync/internal/clitext"
)

func cmdAccount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "account", "Your own portal login, through the daemon (--server URL, default $DIRSYNC_SERVER;\n"+
		"no token needed). Passwords and answers are asked without echo on a terminal, or read\n"+
		"from --*-file FILE (its first line) or --*-file - (standard input, one line each).", []subcommand{
		{"sign-in", "--address A [--password-file F|-]", accountSignIn},
		{"change-password", "--address A [--password-file F|-] [--new-password-file F|-] [--question Q --answer-file F|-]", accountChangePassword},
		{"reset", "--address A [--answer-file F|-] [--new-password-file F|-]   (a forgotten password)", accountReset},
		{"register", "[--token-file F|-] [--password-file F|- --question Q --answer-file F|-]   (with an invitation)", accountRegister},
	}, args, stdout, stderr)
}

// accountSecret is one secret of an account command: --NAME-file F (the
// file's first line), --NAME-file - (the next line of standard input), or
// without the flag asked at the terminal.
type accountSecret struct {
	flag  string // e.g. "password-file"
	label string // the prompt, e.g. "Current password"
	file  string
	// choose: a secret being chosen, asked twice on a terminal.
	choose bool
	// stdinDefault: without the flag, read standard input even when it is
	// not a terminal (the invitation token).
	stdinDefault bool
}

func addAccountSecret(f *adminFlags, flag, label, what string, choose bool) *accountSecret {
	s := &accountSecret{flag: flag, label: label, choose: choose}
	f.StringVar(&s.file, flag, "", "read "+what+" from this file (its first line), or - for a line of standard input;\n"+
		"without it, asked on the terminal without echo")
	return s
}

func (s *accountSecret) given() bool { return s.file != "" }

// check says, before anything is sent, whether the secret can be had: a
// usage error when it is neither given nor can be asked for.
func (s *accountSecret) check(in *clitext.Input) error {
	if s.file == "" && !in.Interactive() && !s.stdinDefault {
		return usageError("give the %s with --%s FILE, or --%s - to read it from standard input "+
			"(standard input is not a terminal to ask on)", strings.ToLower(s.label), s.flag, s.flag)
	}
	return nil
}

// read returns the secret; "" is refused.
func (s *accountSecret) read(in *clitext.Input) (string, error) {
	if err := s.check(in); err != nil {
		return "", err
	}
	what := strings.ToLower(s.label)
	var v string
	var err error
	switch {
	case s.file == "" || s.file == "-":
		if s.choose {
			v, err = in.NewSecret(s.label)
		} else {
			v, err = in.Secret(s.label)
		}
		if err != nil {
			return "", usageError("%v", err)
		}
	default:
		if v, err = readSecretFile(s.file, strings.TrimSuffix(s.flag, "-file")); err != nil {
			return "", err
		}
	}
	if strings.TrimSpace(v) == "" {
		return "", usageError("the %s is empty", what)
	}
	return v, nil
}

// accountFlags are the flags of every account command: --server, --output
// and --address (but for register).
type accountFlags struct {
	*adminFlags
	address string
}

func newAccountFlags(name, args string, withAddress bool, stderr io.Writer) *accountFlags {
	f := &accountFlags{adminFlags: newAdminFlags("account "+name, args, stderr)}
	if withAddress {
		f.StringVar(&f.address, "address", "", "your address (your primary address or an alias)")
	}
	return f
}

// parse parses the flags and, for the commands that take one, checks the
// address is given.
func (f *accountFlags) parse(args []string, withAddress bool) error {
	if _, err := f.adminFlags.parse(args, 0, 0); err != nil {
		return err
	}
	if withAddress && strings.TrimSpace(f.address) == "" {
		return usageError("%s: --address is required", f.Name())
	}
	return nil
}

// connectPublic builds the API client without a token: the end user's
// routes need none.
func (f *adminFlags) connectPublic(stdout io.Writer) (*admin, error) {
	c, err := client.New(f.server, "", nil)
	if err != nil {
		return nil, usageError("--server: %v", err)
	}
	return &admin{client: c, json: f.output == "json", stdout: stdout}, nil
}

// accountFail is admin.fail with, for a refusal, what the user can do.
func accountFail(a *admin, err error, hint string) error {
	failed := a.fail(err)
	var ee *exitError
	var ae *client.Error
	if hint == "" || !errors.As(err, &ae) || ae.Code != api.CodeInvalidCredentials || !errors.As(failed, &ee) {
		return failed
	}
	ee.msg += "\n  " + hint
	return ee
}

// problemFields are the fields a validation error names.
func problemFields(err error) []string {
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeValidation || len(ae.Details) == 0 {
		return nil
	}
	var ps []api.FieldProblem
	if json.Unmarshal(ae.Details, &ps) != nil {
		return nil
	}
	var fields []string
	for _, p := range ps {
		fields = append(fields, p.Field)
	}
	return fields
}

func lockHint(address string) string {
	return "three failed attempts in a row lock the account, and then only an administrator can clear the lock;\n" +
		"  forgot the password? dirsync account reset --address " + address
}

func accountSignIn(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAccountFlags("sign-in", "--address A [--password-file F|-]", true, stderr)
	pw := addAccountSecret(f.adminFlags, "password-file", "Password", "the password", false)
	if err := f.parse(args, true); err != nil {
		return err
	}
	secret, err := pw.read(clitext.NewInput(adminStdin, stderr))
	if err != nil {
		return err
	}
	a, err := f.connectPublic(stdout)
	if err != nil {
		return err
	}
	res, err := a.client.SignIn(ctx, f.address, secret)
	if err != nil {
		return accountFail(a, err, lockHint(f.address))
	}
	return answer(a, res, nil, func(w io.Writer, res api.LoginResult) error {
		clitext.SignedIn(w, res)
		return nil
	})
}

func accountChangePassword(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAccountFlags("change-password", "--address A [--password-file F|-] [--new-password-file F|-] [--question Q --answer-file F|-]", true, stderr)
	cur := addAccountSecret(f.adminFlags, "password-file", "Current password", "your current (or temporary) password", false)
	next := addAccountSecret(f.adminFlags, "new-password-file", "New password", "the new password", true)
	question := f.String("question", "", "a security question to set: required on the first change of a temporary password\n"+
		"(asked for on a terminal), else it replaces the current one")
	ans := addAccountSecret(f.adminFlags, "answer-file", "Security answer", "the answer to --question (case and spaces do not matter)", true)
	if err := f.parse(args, true); err != nil {
		return err
	}
	if ans.given() && *question == "" {
		return usageError("account change-password: --answer-file answers --question; give both")
	}
	in := clitext.NewInput(adminStdin, stderr)
	req := api.ChangePassword{Address: f.address, Question: strings.TrimSpace(*question)}
	var err error
	if req.CurrentPassword, err = cur.read(in); err != nil {
		return err
	}
	if req.NewPassword, err = next.read(in); err != nil {
		return err
	}
	if req.Question != "" {
		if req.Answer, err = ans.read(in); err != nil {
			return err
		}
	}
	a, err := f.connectPublic(stdout)
	if err != nil {
		return err
	}
	res, err := a.client.ChangePassword(ctx, req)
	if req.Question == "" && slices.Contains(problemFields(err), "security_question") {
		if !in.Interactive() {
			failed := a.fail(err)
			var ee *exitError
			if errors.As(failed, &ee) {
				ee.msg += "\n  this login needs a security question: add --question Q --answer-file F"
			}
			return failed
		}
		fmt.Fprintln(stderr, "This login has no security question yet: choose one only you can answer; it resets a forgotten password.")
		if req.Question, req.Answer, err = askQuestion(in); err != nil {
			return err
		}
		res, err = a.client.ChangePassword(ctx, req)
	}
	if err != nil {
		return accountFail(a, err, lockHint(f.address))
	}
	return answer(a, res, nil, func(w io.Writer, res api.LoginResult) error {
		fmt.Fprintf(w, "Password changed for %s.", res.Address)
		if req.Question != "" {
			fmt.Fprint(w, " Security question set.")
		}
		fmt.Fprintln(w)
		return nil
	})
}

// askQuestion asks at the terminal for a security question and its answer.
func askQuestion(in *clitext.Input) (question, answer string, err error) {
	if question, err = in.Line("Security question"); err != nil {
		return "", "", usageError("%v", err)
	}
	if question = strings.TrimSpace(question); question == "" {
		return "", "", usageError("the security question is empty")
	}
	if answer, err = in.NewSecret("Security answer"); err != nil {
		return "", "", usageError("%v", err)
	}
	if strings.TrimSpace(answer) == "" {
		return "", "", usageError("the security answer is empty")
	}
	return question, answer, nil
}

func accountReset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAccountFlags("reset", "--address A [--answer-file F|-] [--new-password-file F|-]", true, stderr)
	ans := addAccountSecret(f.adminFlags, "answer-file", "Security answer", "the answer to your security question", false)
	next := addAccountSecret(f.adminFlags, "new-password-file", "New password", "the new password", true)
	if err := f.parse(args, true); err != nil {
		return err
	}
	in := clitext.NewInput(adminStdin, stderr)
	for _, s := range []*accountSecret{ans, next} {
		if err := s.check(in); err != nil {
			return err // before the question is asked for
		}
	}
	a, err := f.connectPublic(stdout)
	if err != nil {
		return err
	}
	q, err := a.client.SecurityQuestion(ctx, f.address)
	if err != nil {
		return a.fail(err)
	}
	fmt.Fprintf(stderr, "Security question: %s\n", q)
	req := api.Reset{Address: f.address}
	if req.Answer, err = ans.read(in); err != nil {
		return err
	}
	if req.NewPassword, err = next.read(in); err != nil {
		return err
	}
	res, err := a.client.ResetPassword(ctx, req)
	if err != nil {
		return accountFail(a, err, "three wrong answers or passwords in a row lock the account; then ask an administrator to clear the lock")
	}
	return answer(a, res, nil, func(w io.Writer, res api.LoginResult) error {
		fmt.Fprintf(w, "Password reset for %s: sign in with the new password.\n", res.Address)
		return nil
	})
}

func accountRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAccountFlags("register", "[--token-file F|-] [--password-file F|- --question Q --answer-file F|-]", false, stderr)
	tok := addAccountSecret(f.adminFlags, "token-file", "Invitation token", "the invitation's token (default: standard input)", false)
	tok.stdinDefault = true
	pw := addAccountSecret(f.adminFlags, "password-file", "Password", "your new password", true)
	question := f.String("question", "", "your security question (not for an invitation whose registration is preset)")
	ans := addAccountSecret(f.adminFlags, "answer-file", "Security answer", "the answer to --question (case and spaces do not matter)", true)
	if err := f.parse(args, false); err != nil {
		return err
	}
	in := clitext.NewInput(adminStdin, stderr)
	var req api.Redeem
	var err error
	if req.Token, err = tok.read(in); err != nil {
		return err
	}
	req.Token = strings.TrimSpace(req.Token)
	if pw.given() || *question != "" || ans.given() {
		if *question == "" {
			return usageError("account register: give all three, --password-file, --question and --answer-file, " +
				"or none for an invitation whose registration is preset")
		}
		req.Question = strings.TrimSpace(*question)
		if req.Password, err = pw.read(in); err != nil {
			return err
		}
		if req.Answer, err = ans.read(in); err != nil {
			return err
		}
	}
	a, err := f.connectPublic(stdout)
	if err != nil {
		return err
	}
	res, err := a.client.Redeem(ctx, req)
	if req.Password == "" && slices.Contains(problemFields(err), "password") {
		if !in.Interactive() {
			failed := a.fail(err)
			var ee *exitError
			if errors.As(failed, &ee) {
				ee.msg += "\n  this invitation is not preset: add --password-file F --question Q --answer-file F"
			}
			return failed
		}
		fmt.Fprintln(stderr, "Choose your password, and a security question only you can answer (it resets a forgotten password).")
		if req.Password, err = pw.read(in); err != nil {
			return err
		}
		if req.Question, req.Answer, err = askQuestion(in); err != nil {
			return err
		}
		res, err = a.client.Redeem(ctx, req)
	}
	return answer(a, res, err, func(w io.Writer, res api.LoginResult) error {
		fmt.Fprintf(w, "Registered %s.\n", res.Address)
		if res.MustChangePassword {
			fmt.Fprintf(w, "The password is temporary: change it with\n  dirsync account change-password --address %s\n", res.Address)
		} else {
			fmt.Fprintf(w, "Sign in with: dirsync account sign-in --address %s\n", res.Address)
		}
		return nil
	})
}
