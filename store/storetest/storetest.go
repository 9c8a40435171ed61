// Package storetest is the conformance suite every store.Store backend runs, so
// the sync engine can rely on one behaviour whichever backend is configured.
//
// Beyond what store.Store's doc comments say, the suite pins down:
//   - a create without an enabled field makes an enabled object;
//   - Change.Address of an update, enable, disable or delete is the object's
//     primary address;
//   - renaming to one of the object's own aliases promotes that alias;
//   - audit values have the types FieldChange documents ([]string for aliases
//     and members, bool for enabled and protected) and an empty list reads as nil;
//   - failed logins below the lock are not audited, and locking an account
//     that is already locked adds no second lock entry;
//   - Unregister clears the failure count with the lock, and keeps the roles
//     and the default-lead flag (it does not name them);
//   - a redeemed invitation is not dropped by a newer one;
//   - Roles lists each role's permissions sorted, the default roles' included;
//   - revoke_token is audited under the token's name, like create_token;
//   - console sessions are not audited, and a deleted session's hash can be
//     used again;
//   - a listing in descending order is the exact reverse of the ascending one,
//     address tie-break included (see listing.go for the other listing rules).
package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// Domains registered in every test's store.
const (
	domainA = "example.com"
	domainB = "example.net"
)

// syncActor makes the changes unless a test says otherwise.
var syncActor = store.Actor{Kind: "sync", Name: "c1", RunID: "run-1"}

// redeemer is the end user redeeming an invitation.
var redeemer = store.Actor{Kind: "user", Name: "invitee"}

// RunTests runs the suite. newStore must return an empty store that is closed
// when the test ends (t.Cleanup); it is called once per subtest.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Domains", testDomains},
		{"CreateUser", testCreateUser},
		{"Lookup", testLookup},
		{"NotInternal", testNotInternal},
		{"Invalid", testInvalid},
		{"AddressUniqueness", testAddressUniqueness},
		{"Idempotency", testIdempotency},
		{"Update", testUpdate},
		{"Adoption", testAdoption},
		{"DisableEnable", testDisableEnable},
		{"AnchoredChangesFollowTheAnchor", testAnchoredChanges},
		{"Delete", testDelete},
		{"Groups", testGroups},
		{"DecodedValues", testDecodedValues},
		{"Fencing", testFencing},
		{"Audit", testAudit},
		{"Users", testUsers},
		{"Concurrency", testConcurrency},
		{"Listing", testListing},
		{"ListingErrors", testListingErrors},
		{"AuditActorKind", testAuditActorKind},
		{"AuditQuery", testAuditQuery},
		{"Credentials", testCredentials},
		{"AccountsNotFound", testAccountsNotFound},
		{"SetPassword", testSetPassword},
		{"Lockout", testLockout},
		{"LoginFailedConcurrent", testLoginFailedConcurrent},
		{"LoginAttempts", testLoginAttempts},
		{"RegisterUnregister", testRegisterUnregister},
		{"DefaultLead", testDefaultLead},
		{"EntraFacts", testEntraFacts},
		{"Invitations", testInvitations},
		{"InvitationReplaced", testInvitationReplaced},
		{"RedeemConcurrent", testRedeemConcurrent},
		{"InvitationRolesAndEmail", testInvitationRolesAndEmail},
		{"InvitationsVoided", testInvitationsVoided},
		{"Setting", testSetting},
		{"SessionTouchesUser", testSessionTouchesUser},
		{"DefaultRoles", testDefaultRoles},
		{"AddRole", testAddRole},
		{"SetRoles", testSetRoles},
		{"Tokens", testTokens},
		{"TokenExpiryAndUse", testTokenExpiryAndUse},
		{"Import", testImport},
		{"Sessions", testSessions},
		{"PurgeSessions", testPurgeSessions},
		{"DomainCounts", testDomainCounts},
		{"ConsolePermission", testConsolePermission},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, newStore(t)))
		})
	}
}

// env is a store with the test domains registered, plus helpers that fail the
// test on request-level errors.
type env struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
}

func newEnv(t *testing.T, s store.Store) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), s: s}
	for _, d := range []string{domainA, domainB} {
		require.NoError(t, s.AddDomain(e.ctx, d, store.Actor{Kind: "admin", Name: "setup"}))
	}
	return e
}

// applyAs applies changes as actor and returns their outcomes.
func (e *env) applyAs(actor store.Actor, changes ...store.Change) []store.Outcome {
	e.t.Helper()
	out, err := e.s.Apply(e.ctx, store.ApplyRequest{Actor: actor, Changes: changes})
	require.NoError(e.t, err)
	require.Len(e.t, out, len(changes))
	return out
}

// apply applies changes as syncActor.
func (e *env) apply(changes ...store.Change) []store.Outcome {
	e.t.Helper()
	return e.applyAs(syncActor, changes...)
}

// applyOK applies changes and requires every one to be applied.
func (e *env) applyOK(changes ...store.Change) {
	e.t.Helper()
	for i, o := range e.apply(changes...) {
		require.NoError(e.t, o.Err, "change %d (%s %s)", i, changes[i].Action, changes[i].Address)
		require.True(e.t, o.Applied, "change %d (%s %s)", i, changes[i].Action, changes[i].Address)
	}
}

// applyOne applies one change and returns its outcome.
func (e *env) applyOne(ch store.Change) store.Outcome {
	e.t.Helper()
	return e.apply(ch)[0]
}

func (e *env) user(addr string) store.User {
	e.t.Helper()
	u, err := e.s.User(e.ctx, addr)
	require.NoError(e.t, err, "user %s", addr)
	return u
}

func (e *env) notFound(addr string) {
	e.t.Helper()
	_, err := e.s.User(e.ctx, addr)
	require.ErrorIs(e.t, err, store.ErrNotFound, "user %s", addr)
}

func (e *env) audit(q store.AuditQuery) []store.AuditEntry {
	e.t.Helper()
	entries, err := e.s.Audit(e.ctx, q)
	require.NoError(e.t, err)
	return entries
}

// create builds a user create from connector c1.
func create(addr, anchor string, fields ...store.FieldChange) store.Change {
	return store.Change{
		Action: store.ActionCreate, Kind: store.KindUser, Address: addr,
		Origin: "c1", Anchor: anchor, Changes: fields, Reason: "new in source",
	}
}

// createGroup builds a group create from connector c1.
func createGroup(addr, anchor string, fields ...store.FieldChange) store.Change {
	ch := create(addr, anchor, fields...)
	ch.Kind = store.KindGroup
	return ch
}

// update builds an update of the object whose primary address is addr.
func update(addr string, fields ...store.FieldChange) store.Change {
	return store.Change{
		Action: store.ActionUpdate, Address: addr, Origin: "c1", Changes: fields, Reason: "changed in source",
	}
}

// action builds a disable, enable or delete of addr.
func action(a store.Action, addr string) store.Change {
	return store.Change{Action: a, Address: addr, Origin: "c1", Reason: "test"}
}

// set is a FieldChange to v.
func set(field string, v any) store.FieldChange {
	return store.FieldChange{Field: field, After: v}
}

// field returns the change of field in changes, failing when there is none.
func field(t *testing.T, changes []store.FieldChange, name string) store.FieldChange {
	t.Helper()
	for _, c := range changes {
		if c.Field == name {
			return c
		}
	}
	require.Failf(t, "field missing", "no change of %s in %+v", name, changes)
	return store.FieldChange{}
}
