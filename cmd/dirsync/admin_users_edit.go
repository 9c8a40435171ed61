package main

// users create, update and register: the commands that take field values and
// secrets (users invite is in admin_invite.go).

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/dirsync/dirsync/api"
)

// userFieldFlags are the field flags shared by users create and users update.
type userFieldFlags struct {
	name, given, surname, phone, department, title string
	aliases, members                               stringList
	noAliases, noMembers                           bool
	disabled, defaultLead, noForceChange           bool
	password                                       *secretFlag
}

func addUserFieldFlags(fs *flag.FlagSet) *userFieldFlags {
	u := &userFieldFlags{}
	fs.StringVar(&u.name, "name", "", "display name")
	fs.StringVar(&u.given, "given-name", "", "given name")
	fs.StringVar(&u.surname, "surname", "", "surname")
	fs.StringVar(&u.phone, "phone", "", "phone number")
	fs.StringVar(&u.department, "department", "", "department")
	fs.StringVar(&u.title, "title", "", "job title")
	fs.Var(&u.aliases, "alias", "an alias address (repeatable; on update the list replaces the aliases)")
	fs.BoolVar(&u.noAliases, "no-aliases", false, "update: remove every alias")
	fs.Var(&u.members, "member", "a member address of a group (repeatable; on update the list replaces the members)")
	fs.BoolVar(&u.noMembers, "no-members", false, "update: remove every member")
	fs.BoolVar(&u.disabled, "disabled", false, "the user is disabled (update: --disabled=false enables)")
	fs.BoolVar(&u.defaultLead, "default-lead", false, "the user is a default implementation lead (update: --default-lead=false clears it)")
	fs.BoolVar(&u.noForceChange, "no-force-change", false, "the password given is final: do not force a change at next login")
	u.password = addSecretFlag(fs, "password", "temporary password", false)
	return u
}

// readPassword reads the password if one was given, and checks
// --no-force-change comes with one.
func (u *userFieldFlags) readPassword(stderr io.Writer) (string, error) {
	pw, err := u.password.value(newStdinLines(stderr))
	if err != nil {
		return "", err
	}
	if u.noForceChange && pw == "" {
		return "", usageError("--no-force-change needs a password (--password-file or --password-stdin)")
	}
	return pw, nil
}

func usersCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("users create", "ADDRESS [flags]", stderr)
	uf := addUserFieldFlags(f.FlagSet)
	kind := f.String("kind", "user", "user, or group (a distribution list; give its members with --member)")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if uf.noAliases || uf.noMembers {
		return usageError("--no-aliases and --no-members are for users update")
	}
	if *kind != "user" && *kind != "group" {
		return usageError("--kind %q: use user or group", *kind)
	}
	pw, err := uf.readPassword(stderr)
	if err != nil {
		return err
	}
	req := api.CreateUser{
		Address: pos[0], Aliases: uf.aliases, Members: uf.members,
		DisplayName: uf.name, GivenName: uf.given, Surname: uf.surname, Phone: uf.phone,
		Department: uf.department, Title: uf.title, DefaultImplementationLead: uf.defaultLead, Password: pw,
	}
	if *kind == "group" {
		req.Kind = "group"
	}
	if uf.disabled {
		req.Enabled = new(false)
	}
	if uf.noForceChange {
		req.ForceChangePassword = new(false)
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	u, err := a.client.CreateUser(ctx, req)
	return answer(a, u, err, func(w io.Writer, u api.User) error {
		fmt.Fprintf(w, "created %s\n", u.Address)
		return printUser(w, u)
	})
}

func usersUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("users update", "ADDRESS [flags: only those given change]", stderr)
	uf := addUserFieldFlags(f.FlagSet)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var req api.UpdateUser
	// The text fields given, by flag name: each sets its value as given.
	text := map[string]**string{"name": &req.DisplayName, "given-name": &req.GivenName, "surname": &req.Surname,
		"phone": &req.Phone, "department": &req.Department, "title": &req.Title}
	changes := 0
	f.Visit(func(fl *flag.Flag) {
		changes++
		if field, ok := text[fl.Name]; ok {
			*field = new(fl.Value.String())
			return
		}
		switch fl.Name {
		case "alias":
			req.Aliases = new([]string(uf.aliases))
		case "no-aliases":
			req.Aliases = &[]string{}
		case "member":
			req.Members = new([]string(uf.members))
		case "no-members":
			req.Members = &[]string{}
		case "disabled":
			req.Enabled = new(!uf.disabled)
		case "default-lead":
			req.DefaultImplementationLead = &uf.defaultLead
		case "no-force-change":
			req.ForceChangePassword = new(!uf.noForceChange)
		default: // --server, --output, the password flags
			changes--
		}
	})
	if (uf.noAliases && len(uf.aliases) > 0) || (uf.noMembers && len(uf.members) > 0) {
		return usageError("--no-aliases/--no-members and --alias/--member contradict each other")
	}
	pw, err := uf.readPassword(stderr)
	if err != nil {
		return err
	}
	if pw != "" {
		req.Password = &pw
		changes++
	}
	if changes == 0 {
		return usageError("users update %s: nothing to change; give at least one field flag (see --help)", pos[0])
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	u, err := a.client.UpdateUser(ctx, pos[0], req)
	if err != nil {
		return a.fail(err)
	}
	if a.json || u == nil {
		return a.userDone(ctx, pos[0], u, "updated")
	}
	fmt.Fprintf(stdout, "updated %s\n", u.Address)
	return printUser(stdout, *u)
}

// registrationFlags are the password, security question and answer of users
// register and of a preset invitation.
type registrationFlags struct {
	question string
	password *secretFlag
	answer   *secretFlag
}

func addRegistrationFlags(fs *flag.FlagSet) *registrationFlags {
	r := &registrationFlags{}
	fs.StringVar(&r.question, "question", "", "the security question")
	r.password = addSecretFlag(fs, "password", "password", false)
	r.answer = addSecretFlag(fs, "answer", "security answer (case-insensitive)", true)
	return r
}

func (r *registrationFlags) given() bool {
	return r.question != "" || r.password.given() || r.answer.given()
}

// read reads the password, then the answer (so with both on standard input
// the password is the first line, the answer the second). All three are
// required.
func (r *registrationFlags) read(stderr io.Writer) (password, answer string, err error) {
	if r.question == "" || !r.password.given() || !r.answer.given() {
		return "", "", usageError("give all three: --question, the password (--password-file or --password-stdin) " +
			"and the answer (--answer-file, --answer-stdin or --answer)")
	}
	in := newStdinLines(stderr)
	if password, err = r.password.value(in); err != nil {
		return "", "", err
	}
	if answer, err = r.answer.value(in); err != nil {
		return "", "", err
	}
	return password, answer, nil
}

func usersRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags("users register", "ADDRESS --question Q (--password-file F | --password-stdin) (--answer-file F | --answer-stdin | --answer A)", stderr)
	rf := addRegistrationFlags(f.FlagSet)
	force := f.Bool("force-change", false, "the user must change the password at first login")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	pw, answer, err := rf.read(stderr)
	if err != nil {
		return err
	}
	a, err := f.connect(stdout)
	if err != nil {
		return err
	}
	u, err := a.client.RegisterUser(ctx, pos[0], api.Register{Password: pw, ForceChangePassword: *force,
		Question: rf.question, Answer: answer})
	if err != nil {
		return a.fail(err)
	}
	return a.userDone(ctx, pos[0], u, "registered")
}
