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
	"syscall"

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
