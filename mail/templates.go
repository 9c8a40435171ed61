package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
)

// The built-in templates. A file of the same name in mail.templates_dir
// replaces one of them.
const (
	InvitationSubjectFile = "invitation.subject.txt" // text/template, one line
	InvitationTextFile    = "invitation.txt"         // text/template
	InvitationHTMLFile    = "invitation.html"        // html/template
)

//go:embed templates/*
var builtin embed.FS

// Templates renders messages from the built-in templates and the
// overrides of a folder. Safe for concurrent use.
type Templates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// InvitationData fills the invitation templates: the fields are the names
// the templates use ({{.Link}}, {{.Expires.Format "..."}}, {{range .Roles}}).
type InvitationData struct {
	To           string // the invitee's address
	DisplayName  string // may be empty
	Link         string // the registration link, absolute http(s)
	InvitedBy    string // who sent the invitation, as the invitee knows them
	Organisation string // may be empty
	Expires      time.Time
	Roles        []string // the roles the invitee will have; may be empty
}

// sampleInvitation exercises every branch of a template when it loads, so a
// reference to a missing field fails at start rather than at the first send.
var sampleInvitation = InvitationData{
	To: "jane@example.com", DisplayName: "Jane", Link: "https://dirsync.example.com/register/x",
	InvitedBy: "Admin", Organisation: "Example", Expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	Roles: []string{"A", "B"},
}

// NewTemplates loads the built-in templates, each replaced by the file of the
// same name in dir when there is one (dir "" : none). A template that does
// not parse, or fails to render sample data, is an error naming its file.
func NewTemplates(dir string) (*Templates, error) {
	t := &Templates{}
	load := func(name string) (string, string, error) {
		if dir != "" {
			path := filepath.Join(dir, name)
			b, err := os.ReadFile(path)
			if err == nil {
				return path, string(b), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", "", fmt.Errorf("mail template: %w", err)
			}
		}
		b, err := builtin.ReadFile("templates/" + name)
		return "built-in " + name, string(b), err
	}
	check := func(origin string, exec func(io.Writer, any) error) error {
		for _, d := range []InvitationData{sampleInvitation, {Link: sampleInvitation.Link, Expires: sampleInvitation.Expires}} {
			if err := exec(io.Discard, d); err != nil {
				return fmt.Errorf("mail template %s: %w", origin, err)
			}
		}
		return nil
	}
	for _, name := range []string{InvitationSubjectFile, InvitationTextFile} {
		origin, src, err := load(name)
		if err != nil {
			return nil, err
		}
		tmpl, err := texttemplate.New(name).Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("mail template %s: %w", origin, err)
		}
		if err := check(origin, tmpl.Execute); err != nil {
			return nil, err
		}
		if name == InvitationSubjectFile {
			t.subject = tmpl
		} else {
			t.text = tmpl
		}
	}
	origin, src, err := load(InvitationHTMLFile)
	if err != nil {
		return nil, err
	}
	if t.html, err = htmltemplate.New(InvitationHTMLFile).Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("mail template %s: %w", origin, err)
	}
	if err := check(origin, t.html.Execute); err != nil {
		return nil, err
	}
	return t, nil
}

// Invitation renders the invitation to register for d.To.
func (t *Templates) Invitation(d InvitationData) (Message, error) {
	if _, err := mail.ParseAddress(d.To); err != nil {
		return Message{}, fmt.Errorf("invitation to %q: %w", d.To, err)
	}
	if u, err := url.Parse(d.Link); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Message{}, fmt.Errorf("invitation to %s: the link is not an absolute http(s) URL (is server.public_url set?)", d.To)
	}
	if d.Expires.IsZero() {
		return Message{}, fmt.Errorf("invitation to %s: no expiry time", d.To)
	}
	var subject, text, html bytes.Buffer
	if err := t.subject.Execute(&subject, d); err != nil {
		return Message{}, fmt.Errorf("invitation to %s: %s: %w", d.To, InvitationSubjectFile, err)
	}
	if err := t.text.Execute(&text, d); err != nil {
		return Message{}, fmt.Errorf("invitation to %s: %s: %w", d.To, InvitationTextFile, err)
	}
	if err := t.html.Execute(&html, d); err != nil {
		return Message{}, fmt.Errorf("invitation to %s: %s: %w", d.To, InvitationHTMLFile, err)
	}
	// A subject is one line: an override's trailing newline, or a line
	// break a value smuggled in, must not start a header.
	return Message{
		To:      d.To,
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}
