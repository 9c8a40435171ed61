package main

// users invite and users invitation: registration invitations, their roles
// and their email.

import (
	"context"
	"io"
	"time"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/clitext"
)

const inviteArgs = "ADDRESS [--role R]... [--no-email] [--expires-in 72h] [--question Q --password-file F --answer-file F]"

func usersInvite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("users invite", inviteArgs, stderr)
	var expires string
	f.StringVar(&expires, "expires-in", "", "how long the invitation is valid, e.g. 72h (default: the API's, 72h; at most 720h)")
	f.StringVar(&expires, "expires", "", "the same as --expires-in")
	var roles stringList
	f.Var(&roles, "role", "a role the user gets on registering, and cannot change (repeatable; see 'dirsync roles list')")
	noEmail := f.Bool("no-email", false, "do not email the invitation: pass on the link or token yourself")
	email := f.Bool("email", false, "email the invitation (the default when the daemon has a mail server; refused without one)")
	rf := addRegistrationFlags(f.FlagSet)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	inv := api.Invite{ExpiresIn: expires, Roles: roles}
	if expires != "" {
		if d, err := time.ParseDuration(expires); err != nil || d <= 0 {
			return usageError("--expires-in %q: use a duration such as 72h", expires)
		}
	}
	switch {
	case *noEmail && *email:
		return usageError("users invite: --email and --no-email contradict each other")
	case *noEmail:
		inv.SendEmail = new(false)
	case *email:
		inv.SendEmail = new(true)
	}
	if rf.given() {
		// Preset: the admin chooses, the user only confirms.
		if inv.Password, inv.Answer, err = rf.read(stderr); err != nil {
			return err
		}
		inv.Question = rf.question
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	got, err := a.client.InviteUser(ctx, pos[0], inv)
	return answer(a, got, err, printInvitation)
}

func usersInvitation(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("users invitation", "ADDRESS [--resend]", stderr)
	resend := f.Bool("resend", false, "email the invitation again with a new link (the old one stops working)")
	a, pos, err := f.start(args, 1, 1, stdout)
	if err != nil {
		return err
	}
	if *resend {
		got, err := a.client.ResendInvitation(ctx, pos[0])
		return answer(a, got, err, printInvitation)
	}
	open, err := a.client.Invitation(ctx, pos[0])
	return answer(a, open, err, func(w io.Writer, open api.OpenInvitation) error {
		return clitext.OpenInvitation(w, open, time.Now())
	})
}

func printInvitation(w io.Writer, inv api.Invitation) error {
	return clitext.Invitation(w, inv, time.Now())
}
