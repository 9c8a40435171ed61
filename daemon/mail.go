package daemon

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/mail"
)

// invitationMailer is accounts.InvitationMailer over an SMTP sender and the
// (possibly overridden) templates: the link is the console's registration
// page under server.public_url. The token goes into the message only.
type invitationMailer struct {
	sender    mail.Sender
	tpl       *mail.Templates
	publicURL string
}

// openMailer is the invitation mailer of cfg, nil when mail.smtp is not set.
func openMailer(cfg *config.Config, log *zap.Logger) (accounts.InvitationMailer, error) {
	if !cfg.Mail.SMTP.Enabled() {
		return nil, nil
	}
	sender, err := mail.NewSMTP(cfg.Mail.SMTP, log)
	if err != nil {
		return nil, fmt.Errorf("mail.smtp: %w", err)
	}
	tpl, err := mail.NewTemplates(cfg.Mail.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("mail.templates_dir: %w", err)
	}
	return &invitationMailer{sender: sender, tpl: tpl, publicURL: cfg.Server.PublicURL}, nil
}

func (m *invitationMailer) SendInvitation(ctx context.Context, im accounts.InvitationMail) error {
	msg, err := m.tpl.Invitation(mail.InvitationData{To: im.To, DisplayName: im.DisplayName,
		Link: api.InvitationLink(m.publicURL, im.Token), InvitedBy: im.InvitedBy, Expires: im.Expires, Roles: im.Roles})
	if err != nil {
		return fmt.Errorf("the invitation email for %s: %w", im.To, err)
	}
	msg.To = im.To
	return m.sender.Send(ctx, msg)
}

// checkMail is config check's test of the mail server: connect, TLS, AUTH,
// no message.
func checkMail(ctx context.Context, c config.SMTP, log *zap.Logger) (string, error) {
	s, err := mail.NewSMTP(c, log)
	if err != nil {
		return "", err
	}
	if err := s.Check(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s answered (%s); no message sent", c.Addr(), c.Security), nil
}
