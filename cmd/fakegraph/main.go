// Command fakegraph serves a sample Entra ID tenant through the fake Microsoft
// Graph and identity platform of internal/fakegraph, for trying the entra
// connector without a tenant:
//
//	go run ./cmd/fakegraph -addr 127.0.0.1:8443 -users 50 -cert-out deploy/examples/data/fakegraph.pem
//
// It prints the connector settings, then serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dirsync/dirsync/internal/fakegraph"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fakegraph:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fakegraph", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	users := fs.Int("users", 50, "number of sample users")
	domain := fs.String("domain", "example.com", "the sample users' mail domain")
	certOut := fs.String("cert-out", "", "write the server's certificate (PEM) to this file, for ca_file")
	tenant := fs.String("tenant", "", "tenant id (default 00000000-0000-0000-0000-000000000000)")
	clientID := fs.String("client-id", "", "application (client) id (default 11111111-1111-1111-1111-111111111111)")
	secret := fs.String("secret", "", "accepted client secret (default fake-secret)")
	verbose := fs.Bool("v", false, "log every request on stderr")
	var faults faultList
	fs.Var(&faults, "fault", "make requests fail: PATH-PREFIX:STATUS[:COUNT[:RETRY-AFTER]], e.g. /v1.0/users:429:3:1s "+
		"(COUNT -1 = every one; STATUS 403 answers Authorization_RequestDenied); repeatable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("flags: %w", err)
	}
	if *users < 1 {
		return fmt.Errorf("-users %d: at least 1", *users)
	}
	opts := fakegraph.Options{Addr: *addr, TenantID: *tenant, ClientID: *clientID, ClientSecret: *secret}
	if *verbose {
		opts.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	}
	srv, err := fakegraph.Start(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	sample := srv.LoadSample(*users, *domain)
	for _, f := range faults {
		srv.InjectFault(f)
	}
	if *certOut != "" {
		if err := os.MkdirAll(filepath.Dir(*certOut), 0o755); err != nil {
			return fmt.Errorf("cert-out: %w", err)
		}
		if err := os.WriteFile(*certOut, srv.CertPEM(), 0o644); err != nil {
			return fmt.Errorf("write the certificate: %w", err)
		}
	}
	printSettings(stdout, srv, sample, *certOut, *secret)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Fprintln(stdout, "# fakegraph: stopping")
	return nil
}

func printSettings(w io.Writer, srv *fakegraph.Server, sample fakegraph.Sample, certOut, secret string) {
	// The default is the fake's well-known secret; one given with -secret is
	// not repeated.
	if secret == "" {
		secret = "fake-secret"
	} else {
		secret = "<the value given to -secret>"
	}
	caFile := certOut
	if caFile == "" {
		caFile = "(run with -cert-out FILE to write the certificate)"
	}
	fmt.Fprintf(w, `# fakegraph: a sample tenant of %d users (%d disabled, 1 guest), 2 mail-enabled groups,
# Global Administrator %s, at %s
DIRSYNC_ENTRA_SECRET=%s
# entra connector settings:
    entra:
      tenant_id: %s
      client_id: %s
      client_secret: ${DIRSYNC_ENTRA_SECRET}
      authority_host: %s
      graph_url: %s
      ca_file: %s
      admin_roles: ["Global Administrator"]
# fakegraph: serving until interrupted
`, sample.Users, len(sample.Disabled), sample.AdminID, srv.URL(), secret,
		srv.TenantID(), srv.ClientID(), srv.AuthorityHost(), srv.GraphURL(), caFile)
}

// faultList is the repeatable -fault flag.
type faultList []fakegraph.Fault

func (l *faultList) String() string { return fmt.Sprint(len(*l), " fault(s)") }

func (l *faultList) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 4 || !strings.HasPrefix(parts[0], "/") {
		return fmt.Errorf("%q: want PATH-PREFIX:STATUS[:COUNT[:RETRY-AFTER]], e.g. /v1.0/users:429:3:1s", v)
	}
	f := fakegraph.Fault{Path: parts[0], Count: 1}
	var err error
	if f.Status, err = strconv.Atoi(parts[1]); err != nil || f.Status < 400 || f.Status > 599 {
		return fmt.Errorf("%q: STATUS %q is not an HTTP error status (400-599)", v, parts[1])
	}
	if len(parts) > 2 {
		if f.Count, err = strconv.Atoi(parts[2]); err != nil || f.Count == 0 {
			return fmt.Errorf("%q: COUNT %q: a number of requests, or -1 for every one", v, parts[2])
		}
	}
	if len(parts) > 3 {
		if f.RetryAfter, err = time.ParseDuration(parts[3]); err != nil {
			return fmt.Errorf("%q: RETRY-AFTER %q: a duration such as 2s", v, parts[3])
		}
	}
	*l = append(*l, f)
	return nil
}
