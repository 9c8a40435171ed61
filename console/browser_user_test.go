package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// One user's pages in Chromium against a real `dirsync serve`: New address
// with a temporary password (and a refusal), the user's page (edit, roles),
// and the status check of a user whose source record the file connector's
// latest run quarantined. Axe runs on every state; every state is
// screenshotted.

func upDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func upSnap(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, "user-"+name)
	browsertest.Axe(t, ctx)
}

func upText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := browsertest.Text(ctx, sel)
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

var upTokenLine = regexp.MustCompile(`export DIRSYNC_TOKEN=(\S+)`)

// upAPI is the admin API of the served daemon, with a token made by the CLI.
type upAPI struct {
	t     *testing.T
	url   string
	token string
}

func upNewAPI(t *testing.T, srv *served) upAPI {
	t.Helper()
	out, err := exec.Command(dirsyncBin, "tokens", "create", "--config", srv.Config, "--name", "browser-test", "--scope", "admin").CombinedOutput()
	if err != nil {
		t.Fatalf("tokens create: %v\n%s", err, out)
	}
	m := upTokenLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no token in:\n%s", out)
	}
	return upAPI{t: t, url: srv.URL, token: string(m[1])}
}

func (a upAPI) do(method, path, body string, out any) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		a.t.Fatalf("%s %s: %d", method, path, res.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			a.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
}

func TestBrowserUserPages(t *testing.T) {
	br := browsertest.New(t)
	if br == nil {
		return
	}
	srv := startServe(t, serveOptions{})
	api := upNewAPI(t, srv)

	// The sample connector's first run (at start) creates ava from the LDIF.
	// Then her entry's mail is broken in the source and the connector runs
	// again: her record is quarantined.
	var runs struct {
		Runs []struct {
			Status string `json:"status"`
		} `json:"runs"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		api.do(http.MethodGet, "/v1/runs?connector=sample", "", &runs)
		if len(runs.Runs) > 0 && runs.Runs[0].Status != "running" && runs.Runs[0].Status != "pending" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first run did not finish: %+v", runs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ldif := filepath.Join(srv.Dir, "directory.ldif")
	src, err := os.ReadFile(ldif)
	upDo(t, err)
	broken := strings.Replace(string(src), "mail: ava.nguyen@example.com\n", "mail: ava.nguyen@@example.com\n", 1)
	if broken == string(src) {
		t.Fatal("ava's mail is not in the sample directory")
	}
	upDo(t, os.WriteFile(ldif, []byte(broken), 0o600))
	api.do(http.MethodPost, "/v1/syncs", `{"connectors":["sample"],"wait":true}`, nil)

	ctx := br.Tab(t)
	// Sign in on the way to New address in example.net.
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/domains/example.net/users/new"))
	browsertest.WaitTrue(t, ctx, "sign-in page", `!!document.querySelector("#address") && location.pathname == "/console/signin"`)
	upDo(t, browsertest.SendKeys(ctx, "#address", srv.Admin))
	upDo(t, browsertest.SendKeys(ctx, "#password", adminPassword+kb.Enter))
	browsertest.WaitTrue(t, ctx, "New address page", `!!document.querySelector("#new-title")`)
	if got := upText(t, ctx, "#roles-later"); !strings.Contains(got, "Roles can be assigned once the user is saved") {
		t.Errorf("roles note %q", got)
	}
	upSnap(t, ctx, "01-new-address")

	// A weak temporary password: the API's message next to the field.
	upDo(t, browsertest.SendKeys(ctx, "#address", "nora"))
	upDo(t, browsertest.SendKeys(ctx, "#display_name", "Nora North"))
	upDo(t, browsertest.SendKeys(ctx, "#title", "Analyst"))
	upDo(t, browsertest.SendKeys(ctx, "#password", "short"))
	upDo(t, browsertest.SendKeys(ctx, "#confirm_password", "short"))
	upDo(t, browsertest.SendKeys(ctx, "#security_question", "First pet?"))
	upDo(t, browsertest.SendKeys(ctx, "#security_answer", "Dinah"))
	upDo(t, browsertest.Click(ctx, `button[type=submit].primary`))
	browsertest.WaitTrue(t, ctx, "refusal", `!!document.querySelector("#password-error")`)
	if got := upText(t, ctx, "#password-error"); !strings.Contains(got, "weak password") {
		t.Errorf("password error %q", got)
	}
	upSnap(t, ctx, "02-new-address-weak-password")

	// A good one, with Force Change at Logon (ticked by default).
	upDo(t, browsertest.SendKeys(ctx, "#password", tempPassword))
	upDo(t, browsertest.SendKeys(ctx, "#confirm_password", tempPassword))
	upDo(t, browsertest.SendKeys(ctx, "#security_answer", "Dinah"))
	upDo(t, browsertest.Click(ctx, `button[type=submit].primary`))
	browsertest.WaitTrue(t, ctx, "the new user's page", `location.pathname == "/console/users/nora@example.net" && !!document.querySelector("#user-title")`)
	if got := upText(t, ctx, ".flash"); !strings.Contains(got, "Created nora@example.net with a temporary password") {
		t.Errorf("flash %q", got)
	}
	upSnap(t, ctx, "03-user-created")

	// Edit: a new title, then the roles.
	upDo(t, browsertest.SetValue(ctx, "#title", "Lead analyst"))
	upDo(t, browsertest.Click(ctx, `form[action="/console/users/nora@example.net"] button[type=submit]`))
	browsertest.WaitTrue(t, ctx, "saved", `(document.querySelector(".flash")||{}).textContent == "Saved nora@example.net."`)
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#title").value`)); v != "Lead analyst" {
		t.Errorf("title after saving: %q", v)
	}
	upDo(t, browsertest.Click(ctx, `input[name=role][value="Administrator"]`))
	upDo(t, browsertest.Click(ctx, `form[action="/console/users/nora@example.net/roles"] button[type=submit]`))
	browsertest.WaitTrue(t, ctx, "roles saved", `((document.querySelector(".flash")||{}).textContent||"").startsWith("Saved the roles")`)
	if got := upText(t, ctx, ".badges"); !strings.Contains(got, "support contact") {
		t.Errorf("badges %q", got)
	}
	upSnap(t, ctx, "04-user-edited")

	// The status check of ava: her source record is quarantined.
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users/ava.nguyen@example.com/status"))
	browsertest.WaitTrue(t, ctx, "status check", `!!document.querySelector("#status-title")`)
	main := upText(t, ctx, "main")
	for _, want := range []string{"is quarantined", "uid=ava.nguyen,ou=people,dc=example,dc=com", "correct the address in the source",
		"connector sample", "Source anchor 0f7bc066-cd90-54a6-bbf7-b3b6e9874702"} {
		if !strings.Contains(main, want) {
			t.Errorf("status check lacks %q:\n%s", want, main)
		}
	}
	upSnap(t, ctx, "05-status-quarantined")

	// Her page: the fields the connector owns are read-only.
	upDo(t, browsertest.Navigate(ctx, srv.URL+"/console/users/ava.nguyen@example.com"))
	browsertest.WaitTrue(t, ctx, "ava's page", `!!document.querySelector("#user-title")`)
	if got := upText(t, ctx, "#display_name-help"); !strings.Contains(got, "Synchronised from connector sample") {
		t.Errorf("display name note %q", got)
	}
	upSnap(t, ctx, "06-user-connector-owned")
}
