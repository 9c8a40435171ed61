package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/api/client"
)

// authSeen is one request the fake API got: its route, body and whether it
// carried the bearer token.
type authSeen struct {
	route, body, auth string
}

// recordingAPI answers every request with answer and records it.
func recordingAPI(t *testing.T, status int, answer any) (*client.Client, *[]authSeen) {
	t.Helper()
	var got []authSeen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		got = append(got, authSeen{route: r.Method + " " + r.URL.EscapedPath(), body: string(raw), auth: r.Header.Get("Authorization")})
		writeJSON(w, status, answer)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, token, srv.Client())
	require.NoError(t, err)
	return c, &got
}

func TestPublicRoutesSendNoToken(t *testing.T) {
	c, got := recordingAPI(t, http.StatusOK, map[string]any{"address": "ann@example.com", "must_change_password": true,
		"security_question_required": true, "security_question": "First pet?"})
	ctx := context.Background()

	res, err := c.SignIn(ctx, "ann@example.com", "Temporary-Pass-1")
	require.NoError(t, err)
	require.Equal(t, api.LoginResult{Address: "ann@example.com", MustChangePassword: true, SecurityQuestionRequired: true}, res)
	_, err = c.ChangePassword(ctx, api.ChangePassword{Address: "ann@example.com", CurrentPassword: "a", NewPassword: "b",
		Question: "First pet?", Answer: "Rex"})
	require.NoError(t, err)
	q, err := c.SecurityQuestion(ctx, "ann@example.com")
	require.NoError(t, err)
	require.Equal(t, "First pet?", q)
	_, err = c.ResetPassword(ctx, api.Reset{Address: "ann@example.com", Answer: "rex", NewPassword: "c"})
	require.NoError(t, err)
	_, err = c.Redeem(ctx, api.Redeem{Token: "tok"})
	require.NoError(t, err)

	require.Equal(t, []authSeen{
		{"POST /v1/auth/login", `{"address":"ann@example.com","password":"Temporary-Pass-1"}`, ""},
		{"POST /v1/auth/password", `{"address":"ann@example.com","current_password":"a","new_password":"b",` +
			`"security_question":"First pet?","security_answer":"Rex"}`, ""},
		{"POST /v1/auth/reset/question", `{"address":"ann@example.com"}`, ""},
		{"POST /v1/auth/reset", `{"address":"ann@example.com","security_answer":"rex","new_password":"c"}`, ""},
		{"POST /v1/auth/register", `{"token":"tok"}`, ""},
	}, *got, "an end user's request never carries the client's token")

	// The client keeps its token for the admin routes after a public call.
	_, err = c.Invitation(ctx, "ann@example.com")
	require.NoError(t, err)
	require.Equal(t, "Bearer "+token, (*got)[len(*got)-1].auth)
}

func TestInvitationRoutes(t *testing.T) {
	c, got := recordingAPI(t, http.StatusCreated, api.Invitation{Address: "a b@example.com", Token: "tok",
		Roles: []string{"Sales"}, Email: api.InvitationEmail{Status: "retrying", Attempts: 1, LastError: "refused"}})
	inv, err := c.ResendInvitation(context.Background(), "a b@example.com")
	require.NoError(t, err)
	require.Equal(t, "tok", inv.Token)
	require.Equal(t, api.InvitationEmail{Status: "retrying", Attempts: 1, LastError: "refused"}, inv.Email)
	_, err = c.Invitation(context.Background(), "a b@example.com")
	require.NoError(t, err)
	no := false
	_, err = c.InviteUser(context.Background(), "a b@example.com", api.Invite{Roles: []string{"Sales", "Training"}, SendEmail: &no})
	require.NoError(t, err)
	require.Equal(t, "POST /v1/users/a%20b@example.com/invitation/resend", (*got)[0].route)
	require.Equal(t, "GET /v1/users/a%20b@example.com/invitation", (*got)[1].route)
	require.Equal(t, "POST /v1/users/a%20b@example.com/invite", (*got)[2].route)
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte((*got)[2].body), &body))
	require.Equal(t, map[string]any{"roles": []any{"Sales", "Training"}, "send_email": false}, body)
	for _, g := range *got {
		require.Equal(t, "Bearer "+token, g.auth)
	}
}

func TestPublicRefusalIsAnAPIError(t *testing.T) {
	c, _ := recordingAPI(t, http.StatusGone, api.ErrorBody{Error: api.ErrorInfo{Code: api.CodeInvitationUsed,
		Message: "the invitation was already used: each invitation registers once"}})
	_, err := c.Redeem(context.Background(), api.Redeem{Token: "tok"})
	var ae *client.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusGone, ae.Status)
	require.Equal(t, api.CodeInvitationUsed, ae.Code)
}
