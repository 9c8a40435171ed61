package console_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/testenv"
)

// Issue 24 against the test OpenLDAP: a connector reads one OU of the test's
// own, with a staff OU that stays and a leavers OU the test moves out of
// scope. The next full run finds six people missing; the connector's brakes
// (sync.max_destructive 2) hold their disables. In Chromium three are
// approved through the dialog, the other three rejected through the
// no-JavaScript confirmation page, and the users page lists exactly the
// three approved as disabled. Axe runs on every state; every state is
// screenshotted.

// heldLDAP is a connection to the test OpenLDAP that may write fixtures.
func heldLDAP(t *testing.T) *goldap.Conn {
	t.Helper()
	ldapsURL := testenv.Addr(t, testenv.EnvLDAPSURL) // skips (or fails under CI) without the server
	pem, err := os.ReadFile(testenv.Addr(t, testenv.EnvLDAPCAFile))
	upDo(t, err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", testenv.Addr(t, testenv.EnvLDAPCAFile))
	}
	conn, err := goldap.DialURL(ldapsURL, goldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatalf("connect to the test OpenLDAP at %s: %v", ldapsURL, err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Bind(testenv.Addr(t, testenv.EnvLDAPBindDN), testenv.Addr(t, testenv.EnvLDAPPassword)); err != nil {
		t.Fatalf("bind to the test OpenLDAP: %v", err)
	}
	return conn
}

func heldLDAPAdd(t *testing.T, conn *goldap.Conn, dn string, attrs map[string][]string) {
	t.Helper()
	add := goldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		add.Attribute(k, v)
	}
	if err := conn.Add(add); err != nil {
		t.Fatalf("add %s: %v", dn, err)
	}
}

// heldLDAPDeleteTree deletes an entry and everything under it (a cleanup: errors are ignored).
func heldLDAPDeleteTree(conn *goldap.Conn, dn string) {
	res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if err == nil {
		for _, e := range res.Entries {
			heldLDAPDeleteTree(conn, e.DN)
		}
	}
	_ = conn.Del(goldap.NewDelRequest(dn, nil))
}

// heldLDAPWaitRun waits for the connector's latest run, if any, to end.
func heldLDAPWaitRun(t *testing.T, a upAPI, connector string) {
	t.Helper()
	var runs struct {
		Runs []struct {
			Status string `json:"status"`
		} `json:"runs"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a.do(http.MethodGet, "/v1/runs?connector="+connector, "", &runs)
		if len(runs.Runs) == 0 || (runs.Runs[0].Status != "running" && runs.Runs[0].Status != "pending") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not finish: %+v", runs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// heldLDAPAddr finds the addresses in a page's text.
var heldLDAPAddr = regexp.MustCompile(`[a-z0-9.-]+@example\.com`)

// heldLDAPUser is one user as GET /v1/users/{address} returns it.
type heldLDAPUser struct {
	Enabled bool `json:"enabled"`
}

func TestBrowserHeldOperationsLDAP(t *testing.T) {
	conn := heldLDAP(t)
	tagb := make([]byte, 4)
	_, _ = rand.Read(tagb)
	tag := hex.EncodeToString(tagb)
	base := testenv.Addr(t, testenv.EnvLDAPBaseDN)
	root, archive := "ou=held"+tag+","+base, "ou=heldarchive"+tag+","+base
	staff, leavers := "ou=staff,"+root, "ou=leavers,"+root
	t.Cleanup(func() { heldLDAPDeleteTree(conn, root); heldLDAPDeleteTree(conn, archive) })
	for _, ou := range []string{root, archive, staff, leavers} {
		heldLDAPAdd(t, conn, ou, map[string][]string{"objectClass": {"top", "organizationalUnit"}})
	}
	person := func(ou, uid string) string {
		heldLDAPAdd(t, conn, "uid="+uid+","+ou, map[string][]string{
			"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson"},
			"uid":         {uid}, "cn": {"Held " + uid}, "sn": {uid}, "mail": {uid + "@example.com"},
		})
		return uid + "@example.com"
	}
	var stayers, gone []string
	for i := range 4 {
		stayers = append(stayers, person(staff, fmt.Sprintf("stay%s-%d", tag, i)))
	}
	for i := range 6 {
		gone = append(gone, person(leavers, fmt.Sprintf("leave%s-%d", tag, i)))
	}

	br := browsertest.New(t)
	if br == nil {
		return
	}
	t.Setenv("CONSOLE_HELD_LDAP_PASSWORD", testenv.Addr(t, testenv.EnvLDAPPassword))
	// The brakes hold more than two disables; one missing full run disables;
	// the four who stay (40% of the cache) are not a suspiciously short read.
	srv := startServe(t, serveOptions{Connectors: fmt.Sprintf(`  - name: corp
    type: ldap
    schedule: "@every 1h"
    sync: {max_destructive: 2, max_destructive_percent: 100, max_destructive_floor: 0, min_source_percent: 30, missing_runs: 1}
    ldap:
      preset: openldap
      url: %s
      ca_file: %s
      server_name: 127.0.0.1
      bind_dn: "%s"
      bind_password: ${CONSOLE_HELD_LDAP_PASSWORD}
      base_dns: ["%s"]
      incremental: none
`, testenv.Addr(t, testenv.EnvLDAPSURL), testenv.Addr(t, testenv.EnvLDAPCAFile), testenv.Addr(t, testenv.EnvLDAPBindDN), root)})
	a := upNewAPI(t, srv)
	heldLDAPWaitRun(t, a, "corp")
	a.do(http.MethodPost, "/v1/syncs", `{"connectors":["corp"],"full":true,"wait":true}`, nil)
	enabled := func(addr string) bool {
		t.Helper()
		var u heldLDAPUser
		a.do(http.MethodGet, "/v1/users/"+url.PathEscape(addr), "", &u)
		return u.Enabled
	}
	for _, u := range append(slices.Clone(stayers), gone...) {
		if !enabled(u) {
			t.Fatalf("the first sync did not create %s enabled", u)
		}
	}

	// The leavers' OU moves out of the connector's scope: the next full run
	// misses six, more than the brakes let through.
	if err := conn.ModifyDN(goldap.NewModifyDNRequest(leavers, "ou=leavers", true, archive)); err != nil {
		t.Fatalf("move %s under %s: %v", leavers, archive, err)
	}
	a.do(http.MethodPost, "/v1/syncs", `{"connectors":["corp"],"full":true,"wait":true}`, nil)
	var held struct {
		Holds []struct {
			ID, Address, Action string
		} `json:"holds"`
	}
	a.do(http.MethodGet, "/v1/holds?connector=corp&status=pending", "", &held)
	var heldAddrs []string
	for _, h := range held.Holds {
		if h.Action != "disable" {
			t.Errorf("held %s for %s, want disable", h.Action, h.Address)
		}
		heldAddrs = append(heldAddrs, h.Address)
	}
	slices.Sort(heldAddrs)
	if !slices.Equal(heldAddrs, gone) {
		t.Fatalf("held %q, want the leavers %q", heldAddrs, gone)
	}
	for _, u := range gone {
		if !enabled(u) {
			t.Fatalf("%s was disabled although its disable is held", u)
		}
	}

	// Approve three through the dialog.
	ctx := br.Tab(t)
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/"))
	signInWith(t, ctx, srv.Admin, adminPassword)
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/holds?connector=corp"))
	upDo(t, browsertest.WaitVisible(ctx, "section.hold-group"))
	if got, run := upText(t, ctx, "section.hold-group h2"), upText(t, ctx, "section.hold-group h2 code"); got != "corp · example.com · run "+run {
		t.Errorf("the group's heading %q", got)
	}
	if got := upText(t, ctx, "section.hold-group .hold-reason"); !strings.Contains(got, "max_destructive") {
		t.Errorf("the group does not say why it was held: %q", got)
	}
	if got := upText(t, ctx, "#holds-count"); got != "6 operations pending, in 1 group." {
		t.Errorf("the count %q", got)
	}
	holdsSnap(t, ctx, "ldap-pending")
	approve, reject := gone[:3], gone[3:]
	for _, u := range approve {
		upDo(t, browsertest.Click(ctx, `input[aria-label="Select disable `+u+`"]`))
	}
	upDo(t, browsertest.Click(ctx, "#holds-approve"))
	browsertest.WaitTrue(t, ctx, "the decision dialog opens", `document.querySelector("#holds-dialog").open`)
	if got := upText(t, ctx, "#holds-dialog-summary"); got != "3 held operations will be applied: 3 users will be disabled." {
		t.Errorf("the dialog says %q", got)
	}
	holdsSnap(t, ctx, "ldap-approve-dialog")
	upDo(t, browsertest.Click(ctx, "#holds-dialog-submit"))
	upDo(t, browsertest.WaitVisible(ctx, "#holds-outcome"))
	if got := upText(t, ctx, "#holds-outcome"); got != "3 applied." {
		t.Errorf("the outcome %q", got)
	}
	results := upText(t, ctx, "table.hold-results tbody")
	for _, u := range approve {
		if !strings.Contains(results, u) {
			t.Errorf("the results do not name %s: %q", u, results)
		}
	}
	if strings.Count(results, "applied") != 3 {
		t.Errorf("the results %q", results)
	}
	holdsSnap(t, ctx, "ldap-approved")

	// Reject the rest without JavaScript: the group's button, the confirmation page.
	nctx := br.NoScriptTab(t)
	upDo(t, browsertest.Navigate(nctx, srv.URL+"/console/holds?connector=corp"))
	upDo(t, browsertest.WaitVisible(nctx, "section.hold-group"))
	if got := upText(t, nctx, "#holds-count"); got != "3 operations pending, in 1 group." {
		t.Errorf("after approving three: %q", got)
	}
	pending := upText(t, nctx, "section.hold-group")
	for _, u := range reject {
		if !strings.Contains(pending, u) {
			t.Errorf("%s is not pending any more: %q", u, pending)
		}
	}
	rejectFirstGroupNoJS(t, nctx, 3, "ldap-")
	upDo(t, browsertest.Navigate(nctx, srv.URL+"/console/holds?connector=corp"))
	upDo(t, browsertest.WaitVisible(nctx, "#holds-none"))
	a.do(http.MethodGet, "/v1/holds?connector=corp&status=pending", "", &held)
	if len(held.Holds) != 0 {
		t.Errorf("still pending after the decisions: %+v", held.Holds)
	}

	// The users page agrees: exactly the approved three are disabled.
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users?"+url.Values{"registration": {"all"}, "status": {"disabled"},
		"domain": {"example.com"}, "limit": {"100"}}.Encode()))
	upDo(t, browsertest.WaitVisible(ctx, "table.users"))
	disabled := heldLDAPAddr.FindAllString(upText(t, ctx, "table.users tbody"), -1)
	slices.Sort(disabled)
	disabled = slices.Compact(disabled)
	if !slices.Equal(disabled, approve) {
		t.Errorf("the users page lists %q as disabled, want exactly the approved %q", disabled, approve)
	}
	holdsSnap(t, ctx, "ldap-users-disabled")
	for _, u := range approve {
		if enabled(u) {
			t.Errorf("%s was approved but the API says it is enabled", u)
		}
	}
	for _, u := range append(slices.Clone(stayers), reject...) {
		if !enabled(u) {
			t.Errorf("%s was disabled although it stayed or its disable was rejected", u)
		}
	}
}
