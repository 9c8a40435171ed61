package entra_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/entra"
	"github.com/dirsync/dirsync/internal/fakegraph"
)

// BenchmarkFullRead pages 100,000 users through the fake Graph at 999 per page:
// our read (SDK, azidentity, mapping) beside a raw net/http + encoding/json fetch
// of the same pages in the same run, then delta rounds with 100 changes, the
// changed users re-read one request each (delta100-singly, as before JSON
// batching) and in $batch requests (delta100).
//
//	go test -run '^$' -bench BenchmarkFullRead -benchtime 3x ./connectors/entra/
func BenchmarkFullRead(b *testing.B) {
	const users = 100_000
	tn := benchTenant(b, users)
	src, err := tn.cfg.Open("cloud", zap.NewNop())
	require.NoError(b, err)
	inc := src.(connectors.Incremental)
	var cursor []byte

	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			n := rawFetch(b, tn.srv)
			require.Equal(b, users, n)
		}
	})
	b.Run("dirsync", func(b *testing.B) {
		for b.Loop() {
			n := 0
			cursor, err = inc.ReadChanges(context.Background(), nil, func(connectors.Record) error { n++; return nil })
			require.NoError(b, err)
			require.Equal(b, users, n)
		}
	})
	// A delta round with 100 changed users, re-read one request each (as
	// before JSON batching) and in $batch requests of 20: graph-requests/op
	// is the Graph requests of one round (token requests aside).
	singly, err := tn.cfg.Open("cloud", zap.NewNop())
	require.NoError(b, err)
	entra.RereadSingly(singly)
	round := 0
	for _, m := range []struct {
		name string
		inc  connectors.Incremental
	}{{"delta100-singly", singly.(connectors.Incremental)}, {"delta100", inc}} {
		b.Run(m.name, func(b *testing.B) {
			for b.Loop() {
				round++
				b.StopTimer()
				for i := range 100 {
					u := benchUser(i * 997 % users)
					u.Department = fmt.Sprintf("changed %d", round)
					tn.srv.PutUser(u)
				}
				tn.srv.ResetRequestCounts()
				b.StartTimer()
				n := 0
				cursor, err = m.inc.ReadChanges(context.Background(), cursor, func(connectors.Record) error { n++; return nil })
				require.NoError(b, err)
				require.Equal(b, 100, n)
				b.ReportMetric(float64(tn.srv.Requests("/v1.0/")), "graph-requests/op")
			}
		})
	}
}

func benchUser(i int) fakegraph.User {
	return fakegraph.User{
		ID: id(i), UserPrincipalName: fmt.Sprintf("user%06d@example.com", i), Mail: fmt.Sprintf("user%06d@example.com", i),
		ProxyAddresses: []string{fmt.Sprintf("SMTP:user%06d@example.com", i), fmt.Sprintf("smtp:u%06d@example.com", i)},
		DisplayName:    fmt.Sprintf("User %06d", i), GivenName: "User", Surname: fmt.Sprintf("%06d", i),
		BusinessPhones: []string{"+44 20 7946 0000"}, Department: "Sales", JobTitle: "Rep", AccountEnabled: true, UserType: "Member",
		AssignedLicenses: []string{"c7df2760-2c81-4ef7-b578-5b5392b571df"},
	}
}

func benchTenant(b *testing.B, n int) *tenant {
	b.Helper()
	srv, err := fakegraph.Start(fakegraph.Options{ClientSecret: "s3cret-value"})
	require.NoError(b, err)
	b.Cleanup(srv.Close)
	for i := range n {
		srv.PutUser(benchUser(i))
	}
	dir := b.TempDir()
	tn := &tenant{srv: srv, dir: dir}
	tn.cfg = configFor(b, srv, dir, nil)
	return tn
}

// rawFetch is the baseline: a token by a form POST, then every users/delta page
// with the same $select and page size, decoded into plain structs.
func rawFetch(b *testing.B, srv *fakegraph.Server) int {
	b.Helper()
	c := srv.Client()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID()},
		"client_secret": {"s3cret-value"}, "scope": {"https://graph.microsoft.com/.default"}}
	resp, err := c.PostForm(srv.URL()+"/"+srv.TenantID()+"/oauth2/v2.0/token", form)
	require.NoError(b, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(b, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	type user struct {
		ID, UserPrincipalName, Mail, DisplayName, GivenName, Surname, MobilePhone, Department, JobTitle, UserType string
		OnPremisesImmutableID                                                                                     string `json:"onPremisesImmutableId"`
		ProxyAddresses, OtherMails, BusinessPhones                                                                []string
		AccountEnabled                                                                                            *bool
		AssignedLicenses                                                                                          []struct{ SkuID string }
	}
	next := srv.GraphURL() + "/users/delta?$select=" + strings.Join(entra.UserFields(), ",")
	n := 0
	for next != "" {
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Prefer", "odata.maxpagesize=999")
		resp, err := c.Do(req)
		require.NoError(b, err)
		var page struct {
			Value     []user `json:"value"`
			NextLink  string `json:"@odata.nextLink"`
			DeltaLink string `json:"@odata.deltaLink"`
		}
		require.NoError(b, json.NewDecoder(resp.Body).Decode(&page))
		resp.Body.Close()
		n += len(page.Value)
		next = page.NextLink
	}
	return n
}
