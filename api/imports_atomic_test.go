package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/testenv"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/postgres"
)

// racingStore lets another admin create an address just before the import's
// first write: the import's validation passed, and its write of that row
// fails.
type racingStore struct {
	store.Store
	once sync.Once
	race func(ctx context.Context)
}

func (r *racingStore) Apply(ctx context.Context, req store.ApplyRequest) ([]store.Outcome, error) {
	r.once.Do(func() { r.race(ctx) })
	return r.Store.Apply(ctx, req)
}

func (r *racingStore) Import(ctx context.Context, req store.ImportRequest) ([]store.Outcome, error) {
	r.once.Do(func() { r.race(ctx) })
	return r.Store.Import(ctx, req)
}

// An import whose last row fails at write time leaves nothing behind: no user
// created, no password set, nothing audited; the answer names the row, the
// column, the problem and the fix. Against both real stores.
func TestImportIsAtomic(t *testing.T) {
	backends := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store { return testenv.SQLiteStore(t) },
		"postgres": func(t *testing.T) store.Store {
			st, err := postgres.OpenConfig(t.Context(), testenv.PostgresSchema(t), zap.NewNop())
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			real := open(t)
			ctx := t.Context()
			sys := store.Actor{Kind: "system"}
			require.NoError(t, real.AddDomain(ctx, "example.com", sys))
			out, err := real.Apply(ctx, store.ApplyRequest{Actor: sys, Changes: []store.Change{
				{Action: store.ActionCreate, Kind: store.KindUser, Address: "old@example.com", Origin: store.OriginManual},
			}})
			require.NoError(t, err)
			require.NoError(t, out[0].Err)
			st := &racingStore{Store: real, race: func(ctx context.Context) {
				out, err := real.Apply(ctx, store.ApplyRequest{Actor: store.Actor{Kind: "admin", Name: "someone-else"}, Changes: []store.Change{
					{Action: store.ActionCreate, Kind: store.KindGroup, Address: "late@example.com", Origin: store.OriginManual},
				}})
				require.NoError(t, err)
				require.NoError(t, out[0].Err)
			}}
			tok, hash, err := api.NewToken()
			require.NoError(t, err)
			_, err = real.CreateToken(ctx, store.Token{Name: "admin", Hash: hash, Scopes: []string{store.ScopeAdmin}}, sys)
			require.NoError(t, err)
			srv := httptest.NewServer(api.New(api.Options{Store: st, Log: zap.NewNop(), Now: time.Now, PasswordParams: fast}))
			t.Cleanup(srv.Close)

			file := "Email,Name,Password,Force Change Password\n" +
				"first@example.com,First,Correct-Horse-42,TRUE\n" +
				"old@example.com,Renamed,Correct-Horse-42,FALSE\n" +
				"late@example.com,Late,,\n"
			req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/imports", bytes.NewReader([]byte(file)))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "text/csv")
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusConflict, resp.StatusCode, string(raw))
			var body struct{ Error api.ErrorInfo }
			require.NoError(t, json.Unmarshal(raw, &body), string(raw))
			require.Equal(t, api.CodeImportConflict, body.Error.Code)
			t.Log(body.Error.Message)
			require.Contains(t, body.Error.Message, "nothing was imported")
			require.Contains(t, body.Error.Message, "row 4, column Email")
			require.Contains(t, body.Error.Message, "late@example.com")
			require.Contains(t, body.Error.Message, "import the file again")
			require.NotContains(t, string(raw), "Correct-Horse-42")

			_, err = real.User(ctx, "first@example.com")
			require.ErrorIs(t, err, store.ErrNotFound, "the first row's user was not left behind")
			old, err := real.User(ctx, "old@example.com")
			require.NoError(t, err)
			require.Empty(t, old.DisplayName, "the second row's update was rolled back")
			require.False(t, old.Account.HasPassword, "no password was set")
			for _, addr := range []string{"first@example.com", "old@example.com"} {
				entries, err := real.Audit(ctx, store.AuditQuery{Address: addr})
				require.NoError(t, err)
				for _, e := range entries {
					require.NotEqual(t, "CSV import", e.Reason, "%s: nothing audited for the import", addr)
					require.NotEqual(t, store.ActionSetPassword, e.Action, "%s: no password audited", addr)
				}
			}
		})
	}
}
