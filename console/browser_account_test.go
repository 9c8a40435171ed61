package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/internal/browsertest"
)

// The account flows in Chromium against a real `dirsync serve`: a first
// sign-in with a temporary password, the forgotten password reset, an
// invitation's link used twice, the invite dialog without a mail server, and
// the warning before changing the roles of a user who is online. The public
// pages run with JavaScript on and off; every state is screenshotted and
// checked with axe.

func acSnap(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, "account-"+name)
	browsertest.Axe(t, ctx)
}

func acText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := browsertest.Text(ctx, sel)
	must(t, "text of "+sel, err)
	return strings.Join(strings.Fields(s), " ")
}

// acSubmit clicks sel (a submit button) and waits for the next document.
func acSubmit(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.dirsyncOld = true`))
	must(t, "mark the page", err)
	must(t, "click "+sel, browsertest.Click(ctx, sel))
	browsertest.WaitTrue(t, ctx, "the answer to "+sel, `window.dirsyncOld !== true && document.readyState !== "loading"`)
	must(t, "the next page", browsertest.WaitVisible(ctx, "main h1"))
}

// acFill types values into the inputs of the current page.
func acFill(t *testing.T, ctx context.Context, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		must(t, "type into "+kv[i], browsertest.SetValue(ctx, kv[i], kv[i+1]))
	}
}

// acVariants runs f with JavaScript on and off, each with its own tab.
func acVariants(t *testing.T, b *browsertest.Browser, f func(t *testing.T, ctx context.Context, name string)) {
	for _, js := range []bool{true, false} {
		name := "js"
		if !js {
			name = "nojs"
		}
		t.Run(name, func(t *testing.T) {
			ctx := b.Tab(t)
			if !js {
				ctx = b.NoScriptTab(t)
			}
			f(t, ctx, name)
		})
	}
}

func TestBrowserFirstSignInWithTemporaryPassword(t *testing.T) {
	b := browsertest.New(t)
	srv := startServe(t, serveOptions{Setup: func(t *testing.T, svc *api.Service) {
		on := true
		for _, a := range []string{"tina-js@example.com", "tina-nojs@example.com"} {
			if _, err := svc.CreateUser(context.Background(), system, api.CreateUser{Address: a, DisplayName: "Tina",
				Password: tempPass, ForceChangePassword: &on}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.SetRoles(context.Background(), system, a, []string{"Administrator"}); err != nil {
				t.Fatal(err)
			}
		}
	}})
	acVariants(t, b, func(t *testing.T, ctx context.Context, name string) {
		addr := "tina-" + name + "@example.com"
		must(t, "open the sign-in page", browsertest.Navigate(ctx, srv.URL+"/console/signin"))
		signInWith(t, ctx, addr, tempPass)
		must(t, "the change form", browsertest.WaitVisible(ctx, "#security_question"))
		acSnap(t, ctx, "first-change-"+name)
		// Without the answer: refused next to it, the question kept.
		acFill(t, ctx, "#password", tempPass, "#new_password", newPassword, "#confirm_password", newPassword,
			"#security_question", "Favourite tree?")
		acSubmit(t, ctx, `form[action="/console/signin"] button[type="submit"]`)
		if msg := acText(t, ctx, "#security_answer-error"); msg == "" {
			t.Fatal("no error next to the answer")
		}
		if v := usersJS[string](t, ctx, `document.querySelector("#security_question").value`); v != "Favourite tree?" {
			t.Errorf("question after the refusal %q", v)
		}
		acSnap(t, ctx, "first-change-refused-"+name)
		acFill(t, ctx, "#password", tempPass, "#new_password", newPassword, "#confirm_password", newPassword,
			"#security_answer", "Oak")
		acSubmit(t, ctx, `form[action="/console/signin"] button[type="submit"]`)
		if p := location(t, ctx).Path; p == "/console/signin" {
			t.Fatalf("still on the sign-in page: %q", acText(t, ctx, "main"))
		}
		if who := acText(t, ctx, ".signout .who"); !strings.Contains(who, addr) {
			t.Errorf("signed in as %q", who)
		}
	})
}

func TestBrowserForgotPassword(t *testing.T) {
	b := browsertest.New(t)
	srv := startServe(t, serveOptions{Setup: func(t *testing.T, svc *api.Service) {
		for _, a := range []string{"rita-js@example.com", "rita-nojs@example.com"} {
			if _, err := svc.CreateUser(context.Background(), system, api.CreateUser{Address: a, DisplayName: "Rita"}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Register(context.Background(), system, a, api.Register{Password: adminPassword, Question: "First pet?", Answer: "Rex"}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.SetRoles(context.Background(), system, a, []string{"Administrator"}); err != nil {
				t.Fatal(err)
			}
		}
	}})
	acVariants(t, b, func(t *testing.T, ctx context.Context, name string) {
		addr := "rita-" + name + "@example.com"
		must(t, "open the sign-in page", browsertest.Navigate(ctx, srv.URL+"/console/signin"))
		acSubmit(t, ctx, "#forgot")
		if p := location(t, ctx).Path; p != "/console/reset" {
			t.Fatalf("the forgot link led to %s", p)
		}
		acSnap(t, ctx, "reset-address-"+name)
		acFill(t, ctx, "#address", addr)
		acSubmit(t, ctx, `form[action="/console/reset/question"] button[type="submit"]`)
		if l := acText(t, ctx, `label[for="security_answer"]`); !strings.Contains(l, "First pet?") {
			t.Fatalf("question step: %q", l)
		}
		acSnap(t, ctx, "reset-question-"+name)
		if name == "js" {
			// Keyboard: the answer has the focus, then the new password, its
			// confirmation and the button.
			for i, want := range []string{"security_answer", "new_password", "confirm_password"} {
				if i > 0 {
					must(t, "tab", browsertest.PressTab(ctx))
				}
				if got, _ := browsertest.Focused(ctx); !strings.Contains(got, want) {
					t.Errorf("focus %d: %q, want %s", i, got, want)
				}
			}
			must(t, "tab", browsertest.PressTab(ctx))
			if got, _ := browsertest.Focused(ctx); !strings.Contains(got, "Reset password") && !strings.Contains(got, "button") {
				t.Errorf("after the confirmation the focus is on %q", got)
			}
		}
		// A wrong answer: the service's one message.
		acFill(t, ctx, "#security_answer", "Fido", "#new_password", newPassword, "#confirm_password", newPassword)
		acSubmit(t, ctx, `form[action="/console/reset"] button[type="submit"]`)
		if msg := acText(t, ctx, ".problem"); !strings.Contains(msg, "security answer is wrong") {
			t.Errorf("wrong answer: %q", msg)
		}
		acSnap(t, ctx, "reset-refused-"+name)
		// The answer in another case: reset.
		acFill(t, ctx, "#security_answer", "rEX", "#new_password", newPassword, "#confirm_password", newPassword)
		acSubmit(t, ctx, `form[action="/console/reset"] button[type="submit"]`)
		if msg := acText(t, ctx, "#done-message"); !strings.Contains(msg, "Sign in with "+addr) {
			t.Fatalf("done page: %q", msg)
		}
		acSnap(t, ctx, "reset-done-"+name)
		acSubmit(t, ctx, "#done-signin")
		signInWith(t, ctx, addr, newPassword)
		if p := location(t, ctx).Path; p == "/console/signin" {
			t.Fatalf("the new password did not sign in: %q", acText(t, ctx, "main"))
		}
	})
}

func TestBrowserInvitationLink(t *testing.T) {
	b := browsertest.New(t)
	tokens := map[string]string{}
	srv := startServe(t, serveOptions{Setup: func(t *testing.T, svc *api.Service) {
		for _, n := range []string{"js", "nojs"} {
			a := "ivy-" + n + "@example.com"
			if _, err := svc.CreateUser(context.Background(), system, api.CreateUser{Address: a, DisplayName: "Ivy"}); err != nil {
				t.Fatal(err)
			}
			inv, err := svc.Invite(context.Background(), system, a, api.Invite{Roles: []string{"Marketing", "Accounts"}})
			if err != nil {
				t.Fatal(err)
			}
			tokens[n] = inv.Token
		}
	}})
	acVariants(t, b, func(t *testing.T, ctx context.Context, name string) {
		addr := "ivy-" + name + "@example.com"
		link := srv.URL + "/console/invitation?token=" + url.QueryEscape(tokens[name])
		must(t, "open the link", browsertest.Navigate(ctx, link))
		acSnap(t, ctx, "invitation-"+name)
		acFill(t, ctx, "#password", newPassword, "#confirm_password", newPassword,
			"#security_question", "Favourite tree?", "#security_answer", "Oak")
		acSubmit(t, ctx, `form[action="/console/invitation"] button[type="submit"]`)
		if msg := acText(t, ctx, "#done-message"); msg != "Registered. Sign in with "+addr+"." {
			t.Fatalf("after registering: %q", msg)
		}
		acSnap(t, ctx, "invitation-done-"+name)
		// The link again: the page says it was used.
		must(t, "open the link again", browsertest.Navigate(ctx, link))
		acFill(t, ctx, "#password", newPassword, "#confirm_password", newPassword,
			"#security_question", "Favourite tree?", "#security_answer", "Oak")
		acSubmit(t, ctx, `form[action="/console/invitation"] button[type="submit"]`)
		if msg := acText(t, ctx, "#invitation-problem"); !strings.Contains(msg, "already used") {
			t.Errorf("second use: %q", msg)
		}
		acSnap(t, ctx, "invitation-used-"+name)
	})
	// The page keeps the token out of every Referer, and out of the log.
	res, err := http.Get(srv.URL + "/console/invitation?token=x")
	must(t, "get the page", err)
	_ = res.Body.Close()
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q", rp)
	}
	for _, tok := range tokens {
		if strings.Contains(srv.Logs(), tok) {
			t.Error("an invitation token is in the daemon's log")
		}
	}
}

func TestBrowserInviteDialogShowsTheLink(t *testing.T) {
	b := browsertest.New(t)
	srv := startServe(t, serveOptions{Setup: func(t *testing.T, svc *api.Service) {
		if _, err := svc.CreateUser(context.Background(), system, api.CreateUser{Address: "nina@example.com", DisplayName: "Nina"}); err != nil {
			t.Fatal(err)
		}
	}})
	ctx := b.Tab(t)
	must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/signin"))
	signInWith(t, ctx, srv.Admin, adminPassword)
	must(t, "open the users", browsertest.Navigate(ctx, srv.URL+"/console/users?registration=unregistered&q=nina"))
	must(t, "open the dialog", browsertest.Click(ctx, `a[aria-label="Send invitation to nina@example.com"]`))
	browsertest.WaitTrue(t, ctx, "the invite dialog", `document.querySelector("#invite-dialog").open`)
	must(t, "tick Marketing", browsertest.Click(ctx, `#invite-dialog input[name="role"][value="Marketing"]`))
	must(t, "tick Accounts", browsertest.Click(ctx, `#invite-dialog input[name="role"][value="Accounts"]`))
	if !usersJS[bool](t, ctx, `document.querySelector("#invite-send-email").disabled`) {
		t.Error("the email box is usable without a mail server")
	}
	acSnap(t, ctx, "invite-dialog")
	acSubmit(t, ctx, `#invite-dialog button[type="submit"]`)
	if st := acText(t, ctx, "#invite-email-status"); !strings.Contains(st, "Not sent by email") {
		t.Errorf("email status %q", st)
	}
	link := usersJS[string](t, ctx, `document.querySelector("#invite-link").value`)
	if !strings.HasPrefix(link, srv.URL+"/console/invitation?token=") {
		t.Fatalf("link %q", link)
	}
	if f := acText(t, ctx, ".invitation-facts"); !strings.Contains(f, "Accounts, Marketing") {
		t.Errorf("facts %q", f)
	}
	acSnap(t, ctx, "invited")
	must(t, "open the user", browsertest.Navigate(ctx, srv.URL+"/console/users/nina@example.com"))
	if inv := acText(t, ctx, "#open-invitation"); !strings.Contains(inv, "Accounts, Marketing") {
		t.Errorf("open invitation %q", inv)
	}
	acSnap(t, ctx, "user-open-invitation")
	// The link works in another browser profile.
	other := b.NoScriptTab(t)
	must(t, "open the link", browsertest.Navigate(other, link))
	acFill(t, other, "#password", newPassword, "#confirm_password", newPassword,
		"#security_question", "Favourite tree?", "#security_answer", "Oak")
	acSubmit(t, other, `form[action="/console/invitation"] button[type="submit"]`)
	if msg := acText(t, other, "#done-message"); !strings.Contains(msg, "nina@example.com") {
		t.Errorf("registering with the link: %q", msg)
	}
}

func TestBrowserOnlineWarningBeforeRoles(t *testing.T) {
	b := browsertest.New(t)
	srv := startServe(t, serveOptions{Setup: func(t *testing.T, svc *api.Service) {
		if _, err := svc.CreateUser(context.Background(), system, api.CreateUser{Address: "olga@example.com", DisplayName: "Olga"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Register(context.Background(), system, "olga@example.com", api.Register{Password: adminPassword, Question: "First pet?", Answer: "Rex"}); err != nil {
			t.Fatal(err)
		}
	}})
	// Olga signs in to the portal (the API's login): she is online.
	res, err := http.Post(srv.URL+"/v1/auth/login", "application/json",
		strings.NewReader(`{"address":"olga@example.com","password":"`+adminPassword+`"}`))
	must(t, "olga's sign-in", err)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("olga's sign-in: %d", res.StatusCode)
	}
	ctx := b.Tab(t)
	must(t, "open the console", browsertest.Navigate(ctx, srv.URL+"/console/signin"))
	signInWith(t, ctx, srv.Admin, adminPassword)
	must(t, "open olga", browsertest.Navigate(ctx, srv.URL+"/console/users/olga@example.com"))
	if w := acText(t, ctx, "#online-warning-text"); !strings.Contains(w, "olga@example.com is online now") {
		t.Fatalf("warning %q", w)
	}
	acSnap(t, ctx, "online-warning")
	must(t, "tick Marketing", browsertest.Click(ctx, `input[name="role"][value="Marketing"]`))
	acSubmit(t, ctx, `form[action$="/roles"] button[type="submit"]`)
	if e := acText(t, ctx, "#confirm_online-error"); e == "" {
		t.Fatal("saved without the confirmation")
	}
	if !usersJS[bool](t, ctx, `document.querySelector('input[name="role"][value="Marketing"]').checked`) {
		t.Error("the ticked role was lost")
	}
	acSnap(t, ctx, "online-refused")
	must(t, "confirm", browsertest.Click(ctx, "#confirm_online"))
	acSubmit(t, ctx, `form[action$="/roles"] button[type="submit"]`)
	if f := acText(t, ctx, ".flash"); !strings.Contains(f, "Saved the roles of olga@example.com: Marketing") {
		t.Errorf("after confirming: %q", f)
	}
}
