package console_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/testenv"
)

// TestBrowserOverviewLDAPDownAndBack: a daemon whose LDAP connector reads
// the test OpenLDAP through a proxy the test controls. With the server
// reachable the connector is healthy; cut off, a run fails and the overview
// marks it as needing attention with the reason; reachable again, the next
// run recovers it.
func TestBrowserOverviewLDAPDownAndBack(t *testing.T) {
	ldapsURL := testenv.Addr(t, testenv.EnvLDAPSURL)
	u, err := url.Parse(ldapsURL)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	proxy := testenv.TCPProxy(t, u.Host, func() testenv.ProxyFault {
		if down.Load() {
			return testenv.ProxyFault{After: 0} // the connection closes at once
		}
		return testenv.NoFault
	})
	t.Setenv("CONSOLE_LDAP_PASSWORD", testenv.Addr(t, testenv.EnvLDAPPassword))
	srv := startServe(t, serveOptions{Connectors: fmt.Sprintf(`  - name: corp
    type: ldap
    schedule: "@every 1h"
    ldap:
      preset: openldap
      url: ldaps://%s
      ca_file: %s
      server_name: 127.0.0.1
      bind_dn: "%s"
      bind_password: ${CONSOLE_LDAP_PASSWORD}
      base_dns: ["%s"]
      incremental: none
`, proxy, testenv.Addr(t, testenv.EnvLDAPCAFile), testenv.Addr(t, testenv.EnvLDAPBindDN), testenv.Addr(t, testenv.EnvLDAPBaseDN))})

	b := browsertest.New(t)
	ctx := b.Tab(t)
	must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/"))
	signInWith(t, ctx, srv.Admin, adminPassword)
	row := overviewRow(t, ctx, srv, "corp")
	if !strings.Contains(row, "Healthy") {
		t.Fatalf("reachable, corp is not healthy: %s", row)
	}

	api := upNewAPI(t, srv)
	run := func() string {
		api.do("POST", "/v1/syncs", `{"connectors": ["corp"], "wait": true}`, nil)
		return overviewRow(t, ctx, srv, "corp")
	}
	down.Store(true)
	row = run()
	for _, want := range []string{"Needs attention", "The last run failed", "source unreachable"} {
		if !strings.Contains(row, want) {
			t.Errorf("cut off, corp's row lacks %q: %s", want, row)
		}
	}
	browsertest.Screenshot(t, ctx, "overview-ldap-down")
	browsertest.Axe(t, ctx)

	down.Store(false)
	row = run()
	if !strings.Contains(row, "Healthy") || strings.Contains(row, "Needs attention") {
		t.Errorf("reachable again, corp did not recover: %s", row)
	}
}
