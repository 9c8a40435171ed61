package client

import (
	"context"
	"net/http"

	"github.com/dirsync/dirsync/api"
)

// The end user's routes (/v1/auth/*) need no token, and these methods send
// none even on a client made with one: an end user's password is never
// mixed with an administrator's credential in one request. Every refusal is
// an *Error with the API's code (invalid_credentials, account_locked,
// rate_limited, busy, invitation_used...).

// anonymous is c without its token.
func (c *Client) anonymous() *Client {
	cp := *c
	cp.token = ""
	return &cp
}

// public sends in as JSON to the public route path and decodes the answer
// into out.
func (c *Client) public(ctx context.Context, path string, in, out any) error {
	req, err := jsonRequest(http.MethodPost, path, in)
	if err != nil {
		return err
	}
	_, err = c.anonymous().do(ctx, req, out)
	return err
}

// SignIn is POST /v1/auth/login: it checks address's password. The answer
// says whether the password is temporary (MustChangePassword) and whether
// the change must set a security question (SecurityQuestionRequired).
func (c *Client) SignIn(ctx context.Context, address, password string) (api.LoginResult, error) {
	var out api.LoginResult
	err := c.public(ctx, "/auth/login", api.Login{Address: address, Password: password}, &out)
	return out, err
}

// ChangePassword is POST /v1/auth/password: an end user changes their own
// password, and sets the security question and answer when in carries them
// (required on a first sign-in with a temporary password).
func (c *Client) ChangePassword(ctx context.Context, in api.ChangePassword) (api.LoginResult, error) {
	var out api.LoginResult
	err := c.public(ctx, "/auth/password", in, &out)
	return out, err
}

// SecurityQuestion is POST /v1/auth/reset/question: the question to answer
// to reset address's password (a stand-in for an address that has none).
func (c *Client) SecurityQuestion(ctx context.Context, address string) (string, error) {
	var out api.SecurityQuestion
	err := c.public(ctx, "/auth/reset/question", api.ResetQuestion{Address: address}, &out)
	return out.Question, err
}

// ResetPassword is POST /v1/auth/reset: a forgotten password replaced with
// the security answer.
func (c *Client) ResetPassword(ctx context.Context, in api.Reset) (api.LoginResult, error) {
	var out api.LoginResult
	err := c.public(ctx, "/auth/reset", in, &out)
	return out, err
}

// Redeem is POST /v1/auth/register: the invitation's token (with the
// password, question and answer unless the invitation preset them)
// registers the login.
func (c *Client) Redeem(ctx context.Context, in api.Redeem) (api.LoginResult, error) {
	var out api.LoginResult
	err := c.public(ctx, "/auth/register", in, &out)
	return out, err
}

// Invitation is GET /v1/users/{address}/invitation: the user's open
// invitation and the state of its email, without its token.
func (c *Client) Invitation(ctx context.Context, address string) (api.OpenInvitation, error) {
	var out api.OpenInvitation
	_, err := c.do(ctx, request{method: http.MethodGet, path: userPath(address, "invitation")}, &out)
	return out, err
}

// ResendInvitation is POST /v1/users/{address}/invitation/resend: the open
// invitation is replaced with a new token (the old link stops working) and
// emailed again. The answer's token is shown this once.
func (c *Client) ResendInvitation(ctx context.Context, address string) (api.Invitation, error) {
	var out api.Invitation
	_, err := c.do(ctx, request{method: http.MethodPost, path: userPath(address, "invitation", "resend")}, &out)
	return out, err
}
