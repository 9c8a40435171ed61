package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	dsmail "github.com/dirsync/dirsync/mail"
)

var data = dsmail.InvitationData{
	To: "jane@customer.example", DisplayName: "Jane", Link: "https://dirsync.example.com/register/abc?t=1&u=2",
	InvitedBy: "Ada Admin", Expires: time.Date(2030, 5, 17, 14, 30, 0, 0, time.UTC), Roles: []string{"Helpdesk"},
}

func TestInvitationDefaultWording(t *testing.T) {
	tmpls, err := dsmail.NewTemplates("")
	require.NoError(t, err)
	m, err := tmpls.Invitation(data)
	require.NoError(t, err)
	require.Equal(t, "jane@customer.example", m.To)
	require.Equal(t, "Ada Admin invited you to register", m.Subject, "no organisation: no ' with '")
	for _, want := range []string{
		"Hello Jane,", "Ada Admin has invited you to register.",
		"open this link and follow the instructions", "\n" + data.Link + "\n",
		"The link works until Friday 17 May 2030, 14:30 UTC.", "this role:\n  - Helpdesk\n",
		"If you did not expect this invitation, you can safely ignore this email",
	} {
		require.Contains(t, m.Text, want)
	}
	for _, want := range []string{
		`<html lang="en">`, `<title>Invitation to register</title>`,
		`<a href="https://dirsync.example.com/register/abc?t=1&amp;u=2" style="color: #0b57d0; font-weight: bold;">Register</a>`,
		`<time datetime="2030-05-17T14:30:00Z">Friday 17 May 2030, 14:30 UTC</time>`, "<li>Helpdesk</li>",
		"you can safely ignore this email",
	} {
		require.Contains(t, m.HTML, want)
	}
	require.NotContains(t, m.HTML, "<img")

	// No roles, an organisation, HTML in a value.
	d := data
	d.Roles, d.Organisation, d.DisplayName = nil, "Example & <Co>", ""
	m, err = tmpls.Invitation(d)
	require.NoError(t, err)
	require.Equal(t, "Ada Admin invited you to register with Example & <Co>", m.Subject)
	require.Contains(t, m.Text, "Hello,\n")
	require.NotContains(t, m.Text, "role")
	require.Contains(t, m.HTML, "Register with Example &amp; &lt;Co&gt;</a>")
}

func TestInvitationRefusesBadData(t *testing.T) {
	tmpls, err := dsmail.NewTemplates("")
	require.NoError(t, err)
	for name, mutate := range map[string]func(*dsmail.InvitationData){
		"relative link":   func(d *dsmail.InvitationData) { d.Link = "/register/abc" },
		"javascript link": func(d *dsmail.InvitationData) { d.Link = "javascript:alert(1)" },
		"bad address":     func(d *dsmail.InvitationData) { d.To = "not an address" },
		"no expiry":       func(d *dsmail.InvitationData) { d.Expires = time.Time{} },
	} {
		d := data
		mutate(&d)
		_, err := tmpls.Invitation(d)
		require.Error(t, err, name)
	}
	d := data
	d.InvitedBy = "Ada\r\nBcc: victim@example.com"
	m, err := tmpls.Invitation(d)
	require.NoError(t, err)
	require.NotContains(t, m.Subject, "\n", "the subject stays one line")
}

func TestTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "invitation.subject.txt"),
		[]byte("Welcome to {{.Organisation}}, {{.DisplayName}}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "invitation.html"),
		[]byte(`<html lang="de"><body><a href="{{.Link}}">Registrieren</a></body></html>`), 0o644))
	tmpls, err := dsmail.NewTemplates(dir)
	require.NoError(t, err)
	d := data
	d.Organisation = "Example"
	m, err := tmpls.Invitation(d)
	require.NoError(t, err)
	require.Equal(t, "Welcome to Example, Jane", m.Subject, "overridden, trailing newline dropped")
	require.Equal(t, `<html lang="de"><body><a href="https://dirsync.example.com/register/abc?t=1&amp;u=2">Registrieren</a></body></html>`, m.HTML)
	require.Contains(t, m.Text, "Ada Admin has invited you", "not overridden: the built-in text")
}

func TestTemplatesBrokenOverride(t *testing.T) {
	for _, tc := range []struct{ file, src, want string }{
		{"invitation.txt", "Hello {{.DisplayName", `invitation.txt: template: invitation.txt:1: unclosed action`},
		{"invitation.html", `<a href="{{.Link}}">{{.Nmae}}</a>`, `invitation.html: template: invitation.html:1:22: executing "invitation.html" at <.Nmae>: can't evaluate field Nmae`},
		{"invitation.subject.txt", `{{.Expires.Frmat "2006"}}`, `invitation.subject.txt: template: invitation.subject.txt:1:10: executing "invitation.subject.txt" at <.Expires.Frmat>: can't evaluate field Frmat`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.src), 0o644))
			_, err := dsmail.NewTemplates(dir)
			require.ErrorContains(t, err, "mail template "+filepath.Join(dir, ""))
			require.ErrorContains(t, err, tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "mail template "+dir+"/"), err.Error())
		})
	}
}
