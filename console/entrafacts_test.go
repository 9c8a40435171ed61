package console_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/dirsync/dirsync/store"
)

// The Microsoft 365 facts (licence, administrator role) on the user's page
// and the status check: shown for users of an Entra connector (one that owns
// the licensed field), for nobody else.
func TestEntraFactsShown(t *testing.T) {
	// "hr" plays an Entra connector here: it owns the Microsoft 365 facts.
	sy := upSyncer{owned: map[string]bool{store.FieldDisplayName: true, store.FieldLicensed: true, store.FieldDirectoryAdmin: true}}
	h := newHarnessWith(t, sy)
	b := h.admin("root@example.com")
	_, err := h.st.Apply(context.Background(), store.ApplyRequest{Actor: store.Actor{Kind: "sync", Name: "hr", RunID: "run-1"},
		Changes: []store.Change{
			{Action: store.ActionCreate, Kind: store.KindUser, Address: "dana@example.com", Origin: "hr", Anchor: "E1",
				Changes: []store.FieldChange{{Field: store.FieldLicensed, After: true}, {Field: store.FieldDirectoryAdmin, After: false}}},
			{Action: store.ActionCreate, Kind: store.KindGroup, Address: "team@example.com", Origin: "hr", Anchor: "G1"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	const licence, role = "Microsoft 365 licence", "Microsoft 365 administrator role"
	for _, path := range []string{"/console/users/dana@example.com", "/console/users/dana@example.com/status"} {
		p := b.get(path)
		upStatus(t, p, http.StatusOK)
		if got := upFact(p, licence); got != "yes" {
			t.Errorf("%s: %s %q, want yes", path, licence, got)
		}
		if got := upFact(p, role); got != "no" {
			t.Errorf("%s: %s %q, want no", path, role, got)
		}
	}
	// A manual user, and a group of the Entra connector: nothing to show.
	for _, path := range []string{"/console/users/root@example.com", "/console/users/root@example.com/status",
		"/console/users/team@example.com", "/console/users/team@example.com/status"} {
		p := b.get(path)
		upStatus(t, p, http.StatusOK)
		if p.Find("dt:contains('Microsoft 365')").Length() != 0 {
			t.Errorf("%s shows the Microsoft 365 facts", path)
		}
	}
}
