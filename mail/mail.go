// Package mail sends dirsync's email (registration invitations) over SMTP and
// renders it from templates.
//
// A Sender sends one Message. SMTP, the one implementation, submits it to the
// server of config.SMTP with go-mail: TLS as configured (STARTTLS required, or
// implicit TLS; plain text only to a loopback relay), certificates always
// verified, SMTP AUTH over TLS only, and one timeout bounding the whole send.
// Its failures are *SendError values that say what kind of failure it was,
// whether a retry may help, and how to fix it; the password never appears in
// them, nor in a log line.
//
// Templates renders messages: built-in templates (embedded from templates/),
// each replaceable by a file of the same name in mail.templates_dir.
package mail

import "context"

// Message is one email: a plain-text body and, optionally, an HTML
// alternative of the same content.
type Message struct {
	To      string // one address, with or without a display name
	Subject string
	Text    string
	HTML    string // empty: a text/plain message only
}

// Sender sends messages.
type Sender interface {
	// Send submits m. A *SendError tells whether a retry may succeed
	// (Temporary); any other error is the message's own fault (an invalid
	// address, an empty body) and retrying will not help.
	Send(ctx context.Context, m Message) error
}
