package entra_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/connectors/entra"
	"github.com/dirsync/dirsync/internal/fakegraph"
)

const secretEnv = "DIRSYNC_TEST_ENTRA_SECRET"

// tenant is a fake Graph with a few users and groups, and the connector
// configured against it through the real SDK and azidentity.
type tenant struct {
	t   *testing.T
	srv *fakegraph.Server
	cfg *entra.Config
	dir string
}

func newTenant(t *testing.T, tweak func(*entra.Config)) *tenant {
	t.Helper()
	srv, err := fakegraph.Start(fakegraph.Options{ClientSecret: "s3cret-value"})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := configFor(t, srv, dir, func(c *entra.Config) {
		c.PageSize = 2
		if tweak != nil {
			tweak(c)
		}
	})
	return &tenant{t: t, srv: srv, cfg: cfg, dir: dir}
}

// configFor configures the connector against srv (its CA in dir, the secret in
// the environment, as a deployment would), with tweak applied before Prepare.
func configFor(tb testing.TB, srv *fakegraph.Server, dir string, tweak func(*entra.Config)) *entra.Config {
	tb.Helper()
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "graph-ca.pem"), srv.CertPEM(), 0o600))
	tb.Setenv(secretEnv, "s3cret-value")
	secret, err := config.ParseSecret("${" + secretEnv + "}")
	require.NoError(tb, err)
	cfg := &entra.Config{
		TenantID: srv.TenantID(), ClientID: srv.ClientID(), ClientSecret: secret,
		AuthorityHost: srv.AuthorityHost(), GraphURL: srv.GraphURL(), CAFile: "graph-ca.pem",
		AdminRoles: []string{"Global Administrator"}, MaxRetries: 3, MaxRetryWait: 5 * time.Second,
	}
	if tweak != nil {
		tweak(cfg)
	}
	require.Empty(tb, cfg.Prepare(dir))
	return cfg
}

func (tn *tenant) open() connectors.Source {
	tn.t.Helper()
	src, err := tn.cfg.Open("cloud", zaptest.NewLogger(tn.t))
	require.NoError(tn.t, err)
	return src
}

// seed fills the tenant: five members (one disabled, one without mail but with an
// SMTP: proxy address), a guest, an admin with a licence, and two groups, one
// nested in the other.
func (tn *tenant) seed() {
	for i := 1; i <= 5; i++ {
		tn.srv.PutUser(fakegraph.User{
			ID: id(i), UserPrincipalName: fmt.Sprintf("u%d@example.com", i), Mail: fmt.Sprintf("u%d@example.com", i),
			ProxyAddresses: []string{fmt.Sprintf("SMTP:u%d@example.com", i), fmt.Sprintf("smtp:alias%d@example.com", i), "x500:/o=ExchangeLabs/cn=u"},
			DisplayName:    fmt.Sprintf("User %d", i), GivenName: "User", Surname: fmt.Sprint(i),
			BusinessPhones: []string{"+44 20 7946 000" + fmt.Sprint(i)}, Department: "Sales", JobTitle: "Rep",
			AccountEnabled: i != 3, UserType: "Member",
		})
	}
	u4 := tn.user(4)
	u4.Mail, u4.ProxyAddresses, u4.OtherMails = "", []string{"SMTP:primary4@example.com", "smtp:u4@example.com"}, []string{"u4.other@example.com"}
	tn.srv.PutUser(u4)
	tn.srv.PutUser(fakegraph.User{ID: id(6), UserPrincipalName: "guest_ext#EXT#@example.onmicrosoft.com", Mail: "guest@partner.example",
		DisplayName: "Guest", AccountEnabled: true, UserType: "Guest"})
	tn.srv.PutUser(fakegraph.User{ID: id(7), UserPrincipalName: "boss@example.com", Mail: "boss@example.com", DisplayName: "Boss",
		AccountEnabled: true, UserType: "Member", AssignedLicenses: []string{"c7df2760-2c81-4ef7-b578-5b5392b571df"}})
	tn.srv.SetRoleMembers("Global Administrator", id(7))
	tn.srv.PutGroup(fakegraph.Group{ID: id(100), DisplayName: "Sales", Mail: "sales@example.com", MailEnabled: true, Members: []string{id(1), id(2)}})
	tn.srv.PutGroup(fakegraph.Group{ID: id(101), DisplayName: "All", Mail: "all@example.com", MailEnabled: true, Members: []string{id(100), id(5)}})
	tn.srv.PutGroup(fakegraph.Group{ID: id(102), DisplayName: "Security only", SecurityEnabled: true, Members: []string{id(1)}})
}

func (tn *tenant) user(i int) fakegraph.User {
	return fakegraph.User{
		ID: id(i), UserPrincipalName: fmt.Sprintf("u%d@example.com", i), Mail: fmt.Sprintf("u%d@example.com", i),
		ProxyAddresses: []string{fmt.Sprintf("SMTP:u%d@example.com", i), fmt.Sprintf("smtp:alias%d@example.com", i)},
		DisplayName:    fmt.Sprintf("User %d", i), GivenName: "User", Surname: fmt.Sprint(i),
		BusinessPhones: []string{"+44 20 7946 000" + fmt.Sprint(i)}, Department: "Sales", JobTitle: "Rep",
		AccountEnabled: i != 3, UserType: "Member",
	}
}

func id(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// read runs ReadChanges and indexes what it emitted by anchor.
func read(t *testing.T, src connectors.Source, cursor []byte) (map[string]connectors.Record, []byte) {
	t.Helper()
	got := map[string]connectors.Record{}
	next, err := src.(connectors.Incremental).ReadChanges(context.Background(), cursor, func(r connectors.Record) error {
		_, dup := got[r.Anchor]
		require.False(t, dup, "anchor %s emitted twice", r.Anchor)
		got[r.Anchor] = r
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, next)
	return got, next
}

func TestConformance(t *testing.T) {
	tn := newTenant(t, nil)
	tn.seed()
	// Six members in scope (the guest is not) and two mail-enabled groups.
	connectortest.RunTests(t, func(t *testing.T) connectors.Source { return tn.open() }, connectortest.Expect{Users: 6, Groups: 2})
}

func TestFullReadMapsEveryField(t *testing.T) {
	tn := newTenant(t, nil)
	tn.seed()
	got, _ := read(t, tn.open(), nil)
	require.Len(t, got, 8, "six users and two groups; the guest and the security-only group are out of scope")

	u1 := got[id(1)]
	require.Equal(t, connectors.Record{Kind: connectors.KindUser, Ref: "u1@example.com", Anchor: id(1), Mail: "u1@example.com",
		Aliases: []string{"alias1@example.com"}, DisplayName: "User 1", GivenName: "User", Surname: "1",
		Phone: "+44 20 7946 0001", Department: "Sales", Title: "Rep"}, u1)
	require.True(t, got[id(3)].Disabled, "accountEnabled false")
	u4 := got[id(4)]
	require.Equal(t, "primary4@example.com", u4.Mail, "without mail, the SMTP: proxy address is the primary")
	require.Equal(t, []string{"u4@example.com", "u4.other@example.com"}, u4.Aliases, "smtp: aliases and otherMails")
	require.NotContains(t, got, id(6), "guests are skipped by default")
	boss := got[id(7)]
	require.True(t, boss.Admin, "member of Global Administrator")
	require.True(t, boss.Licensed, "assignedLicenses is not empty")
	require.False(t, u1.Admin || u1.Licensed)

	require.ElementsMatch(t, []string{"u1@example.com", "u2@example.com"}, got[id(100)].Members)
	require.ElementsMatch(t, []string{"u1@example.com", "u2@example.com", "u5@example.com"}, got[id(101)].Members,
		"nested groups are flattened by default")
	require.Equal(t, "sales@example.com", got[id(100)].Mail)
}

func TestGuestsAndNestedGroupsWhenConfigured(t *testing.T) {
	no := false
	tn := newTenant(t, func(c *entra.Config) { c.IncludeGuests, c.FlattenGroups = true, &no })
	tn.seed()
	got, _ := read(t, tn.open(), nil)
	require.Equal(t, "guest@partner.example", got[id(6)].Mail, "include_guests: true reads guests")
	require.ElementsMatch(t, []string{"groups/" + id(100), "u5@example.com"}, got[id(101)].Members, "flatten_groups: false keeps the nested group")
}

// TestDeltaResume: a second read from the cursor sees exactly what changed; the
// fake sends only changed properties, so changed users are read again in full.
func TestDeltaResume(t *testing.T) {
	tn := newTenant(t, nil)
	tn.seed()
	src := tn.open()
	_, cursor := read(t, src, nil)

	nothing, cursor := read(t, src, cursor)
	require.Empty(t, nothing, "no change, nothing emitted")

	u1 := tn.user(1)
	u1.Department = "Marketing"
	tn.srv.PutUser(u1)
	tn.srv.PutUser(fakegraph.User{ID: id(8), UserPrincipalName: "new@example.com", Mail: "new@example.com", AccountEnabled: true, UserType: "Member"})
	tn.srv.SoftDeleteUser(id(2))
	tn.srv.HardDeleteUser(id(5))
	tn.srv.SetRoleMembers("Global Administrator", id(7), id(1))
	sales := fakegraph.Group{ID: id(100), DisplayName: "Sales", Mail: "sales@example.com", MailEnabled: true, Members: []string{id(1), id(8)}}
	tn.srv.PutGroup(sales)
	tn.srv.ResetRequestCounts()

	got, _ := read(t, src, cursor)
	require.Equal(t, "Marketing", got[id(1)].Department)
	require.Equal(t, "User 1", got[id(1)].DisplayName, "unchanged properties are still there: the user was read again")
	require.True(t, got[id(1)].Admin, "a new role member is re-read and flagged")
	require.Equal(t, "new@example.com", got[id(8)].Mail)
	require.True(t, got[id(2)].Deleted, "@removed reason changed (soft delete)")
	require.True(t, got[id(5)].Deleted, "@removed reason deleted")
	require.ElementsMatch(t, []string{"u1@example.com", "new@example.com"}, got[id(100)].Members)
	require.Len(t, got, 5)
	require.Equal(t, 2, tn.srv.BatchItems("/v1.0/users/"+id(1))+tn.srv.BatchItems("/v1.0/users/"+id(8)), "one re-read per changed user")
	require.Equal(t, 1, tn.srv.Requests("/v1.0/$batch"), "in one batch")
	require.Zero(t, tn.srv.BatchItems("/v1.0/users/"+id(3))+tn.srv.Requests("/v1.0/users/"+id(3)), "unchanged users are not read")
}

func TestExpiredDeltaLink(t *testing.T) {
	for _, st := range []int{410, 400} {
		t.Run(fmt.Sprint(st), func(t *testing.T) {
			tn := newTenant(t, nil)
			tn.seed()
			src := tn.open()
			_, cursor := read(t, src, nil)
			tn.srv.SetExpiredStatus(st)
			tn.srv.ExpireDeltaTokens()
			_, err := src.(connectors.Incremental).ReadChanges(context.Background(), cursor, func(connectors.Record) error { return nil })
			require.ErrorIs(t, err, connectors.ErrCursorExpired)
			require.ErrorContains(t, err, "syncStateNotFound")
		})
	}
}

func TestThrottlingHonoursRetryAfter(t *testing.T) {
	tn := newTenant(t, nil)
	tn.seed()
	tn.srv.InjectFault(fakegraph.Fault{Path: "/v1.0/users/delta", Status: 429, RetryAfter: time.Second, Count: 2})
	start := time.Now()
	got, _ := read(t, tn.open(), nil)
	require.Len(t, got, 8, "the read completes after the throttling")
	require.GreaterOrEqual(t, time.Since(start), 2*time.Second, "two Retry-After: 1 waits were honoured")
}

func TestServiceErrorStormFailsTheRead(t *testing.T) {
	for _, st := range []int{503, 500} {
		t.Run(fmt.Sprint(st), func(t *testing.T) {
			tn := newTenant(t, func(c *entra.Config) { c.MaxRetries, c.MaxRetryWait = 2, 2*time.Second })
			tn.seed()
			src := tn.open()
			_, cursor := read(t, src, nil)
			tn.srv.InjectFault(fakegraph.Fault{Path: "/v1.0/users/delta", Status: st, RetryAfter: time.Second, Count: -1})
			emitted := 0
			_, err := src.(connectors.Incremental).ReadChanges(context.Background(), cursor, func(connectors.Record) error { emitted++; return nil })
			require.Error(t, err)
			require.ErrorContains(t, err, fmt.Sprintf("answered %d", st))
			require.NotErrorIs(t, err, connectors.ErrCursorExpired, "a service error is not an expired cursor")
			require.Zero(t, emitted)
		})
	}
}

func TestBadCredentials(t *testing.T) {
	tn := newTenant(t, nil)
	t.Setenv(secretEnv, "wrong-secret")
	_, err := tn.open().(connectors.Incremental).ReadChanges(context.Background(), nil, func(connectors.Record) error { return nil })
	require.ErrorContains(t, err, "graph sign-in")
	require.NotContains(t, err.Error(), "wrong-secret", "the secret never appears in an error")
}

func TestImmutableIDBecomesJoinAnchor(t *testing.T) {
	tn := newTenant(t, nil)
	guid := []byte{0x2a, 0x3c, 0x1e, 0x6f, 0x00, 0x00, 0x00, 0x40, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x01}
	u := tn.user(1)
	u.OnPremisesImmutableID = base64.StdEncoding.EncodeToString(guid)
	tn.srv.PutUser(u)
	got, _ := read(t, tn.open(), nil)
	require.Equal(t, "6f1e3c2a-0000-4000-8000-00000000a001", got[id(1)].JoinAnchor, "objectGUID byte order, as the ldap connector renders it")
}

func TestConfigProblems(t *testing.T) {
	c := &entra.Config{TenantID: "x", ClientID: "not-a-guid", Cloud: "mars", PageSize: 5000, PrimaryAddress: "upn"}
	var fields []string
	for _, err := range c.Prepare(t.TempDir()) {
		var fe *connectors.FieldError
		require.ErrorAs(t, err, &fe)
		fields = append(fields, fe.Field)
	}
	slices.Sort(fields)
	require.Equal(t, []string{"client_id", "client_secret", "cloud", "page_size", "primary_address", "tenant_id"}, fields)
}
