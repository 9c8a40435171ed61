package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/outbound"
	"github.com/dirsync/dirsync/store"
)

func TestReportSenders(t *testing.T) {
	st := testenv.SQLiteStore(t, "example.com")
	svc, err := outbound.New(outbound.Options{Store: st})
	require.NoError(t, err)
	h := newHarnessWith(t, api.Options{Senders: svc}, st)
	h.createUser(api.CreateUser{Address: "bob@example.com"})

	var rep api.SendersReport
	h.call("POST", "/v1/senders", h.senders, api.ReportSenders{Senders: []string{
		"Ann Lee <ANN@example.com>", "bob@example.com", "x@external.org", "",
	}}).ok(http.StatusOK, &rep)
	require.Equal(t, 1, rep.Created)
	require.Equal(t, 1, rep.Exists)
	require.Equal(t, 2, rep.Ignored)
	require.Equal(t, api.SenderResult{Sender: "Ann Lee <ANN@example.com>", Address: "ann@example.com", Status: outbound.Created}, rep.Results[0])
	require.Equal(t, outbound.Exists, rep.Results[1].Status)
	require.Contains(t, rep.Results[2].Reason, "external domain")
	require.Contains(t, rep.Results[3].Reason, "empty sender")
	a := h.audit("ann@example.com")
	require.Len(t, a, 1)
	require.Equal(t, store.Actor{Kind: "outbound", Name: "http"}, a[0].Actor)

	// Again: the same answers, nothing created twice.
	h.call("POST", "/v1/senders", h.senders, api.ReportSenders{Senders: []string{"ann@example.com"}}).ok(http.StatusOK, &rep)
	require.Equal(t, outbound.Exists, rep.Results[0].Status)

	// Scopes: the gateway's token reports senders and does nothing else; a
	// read token may not report; admin may.
	h.call("GET", "/v1/users", h.senders, nil).apiErr(http.StatusForbidden, api.CodeForbidden)
	h.call("POST", "/v1/senders", h.read, api.ReportSenders{Senders: []string{"c@example.com"}}).apiErr(http.StatusForbidden, api.CodeForbidden)
	h.call("POST", "/v1/senders", "", api.ReportSenders{Senders: []string{"c@example.com"}}).apiErr(http.StatusUnauthorized, api.CodeUnauthorized)
	h.call("POST", "/v1/senders", h.admin, api.ReportSenders{Senders: []string{"c@example.com"}}).ok(http.StatusOK, nil)

	// Bad input.
	msg := h.call("POST", "/v1/senders", h.senders, api.ReportSenders{}).apiErr(http.StatusBadRequest, api.CodeBadRequest)
	require.Contains(t, msg.Message, `"senders" is empty`)
	many := make([]string, 1001)
	for i := range many {
		many[i] = "a@example.com"
	}
	msg = h.call("POST", "/v1/senders", h.senders, api.ReportSenders{Senders: many}).apiErr(http.StatusRequestEntityTooLarge, api.CodeTooLarge)
	require.Contains(t, msg.Message, "at most 1000")
	msg = h.raw("POST", "/v1/senders", h.senders, "application/json", []byte(`{"sender": "a@example.com"}`)).apiErr(http.StatusBadRequest, api.CodeBadRequest)
	require.True(t, strings.Contains(msg.Message, "sender"), msg.Message)

}

// downStore is a store whose lookups fail, as when the database is unreachable.
type downStore struct{ store.Store }

// internalMarker stands for what a store or Redis error may hold and no caller
// should see: a host name, a user, a fragment of a connection string.
const internalMarker = "db-7.corp.internal:5432 user=dirsync password=S3CRET-MARKER"

func (downStore) Lookup(context.Context, string, []string, []string) ([]store.User, error) {
	return nil, errors.New("dial tcp " + internalMarker + ": connection refused")
}

func TestReportSendersStoreDown(t *testing.T) {
	st := testenv.SQLiteStore(t, "example.com")
	svc, err := outbound.New(outbound.Options{Store: downStore{st}})
	require.NoError(t, err)
	h := newHarnessWith(t, api.Options{Senders: svc}, st)
	res := h.call("POST", "/v1/senders", h.senders, api.ReportSenders{Senders: []string{"new@example.com"}})
	msg := res.apiErr(http.StatusServiceUnavailable, api.CodeUnavailable)
	require.Contains(t, msg.Message, "send the batch again later")
	require.NotContains(t, string(res.Body), "S3CRET-MARKER", "the cause stays in the log")
	require.NotContains(t, string(res.Body), "db-7.corp.internal")
	logged := h.logs.FilterMessage("request failed").All()
	require.Len(t, logged, 1)
	require.Contains(t, logged[0].ContextMap()["error"], "S3CRET-MARKER", "the operator finds the cause in the log")
	_, err = st.User(t.Context(), "new@example.com")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestReportSendersWithoutService(t *testing.T) {
	h := newHarness(t, nil, nil)
	msg := h.call("POST", "/v1/senders", h.senders, api.ReportSenders{Senders: []string{"a@example.com"}}).apiErr(http.StatusServiceUnavailable, api.CodeUnavailable)
	require.Contains(t, msg.Message, "dirsync serve")
}
