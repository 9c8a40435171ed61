package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/console"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/cluster"
)

// httpServer is the admin listener: the probes, /metrics and the API.
type httpServer struct {
	srv     *http.Server
	ln      net.Listener
	cert    *serverCert // nil: plaintext
	log     *zap.Logger
	version string
	proxy   bool // server.tls_terminated_by_proxy, for the log
	// failed receives the error of a server that stopped on its own.
	failed chan error
}

// listen binds the admin listener, so a port in use fails the start; with
// TLS the certificate must load first.
func listen(c config.Server, log *zap.Logger) (*httpServer, error) {
	h := &httpServer{log: log, proxy: c.TLSTerminatedByProxy, failed: make(chan error, 1)}
	if c.TLS.Enabled() {
		var err error
		if h.cert, err = loadServerCert(c.TLS, log); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (server.listen): %w", c.Listen, err)
	}
	h.ln = ln
	return h, nil
}

func (h *httpServer) start(context.Context) error {
	go func() {
		if h.cert != nil {
			h.srv.TLSConfig = h.cert.TLSConfig()
			h.failed <- h.srv.ServeTLS(h.ln, "", "")
		} else {
			h.failed <- h.srv.Serve(h.ln)
		}
	}()
	h.log.Info("serving", zap.String("listen", h.ln.Addr().String()), zap.Bool("tls", h.cert != nil),
		zap.Bool("tls_terminated_by_proxy", h.proxy), zap.String("version", h.version))
	return nil
}

// stop lets the requests in flight finish, within ctx.
func (h *httpServer) stop(ctx context.Context) error {
	if err := h.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		h.log.Warn("http shutdown", zap.Error(err))
	}
	return nil
}

// serveMux serves the admin console under /console/ (when con is set; / redirects
// there), /healthz (the process is alive), /readyz (the store and the
// state backend answer; a replica also says whether it leads), /metrics
// (Prometheus; no auth, like the probes: it holds counts, never addresses or
// secrets) and the admin API under /v1.
//
// /readyz is unauthenticated, so it answers with fixed words only: a backend's
// error names hosts, users and sometimes more, and goes to the log instead.
func serveMux(st store.Store, sb state.Backend, node *cluster.Node, log *zap.Logger, prom, v1, con http.Handler) http.Handler {
	log = log.Named("readyz")
	mux := http.NewServeMux()
	mux.Handle("/v1/", v1)
	if con != nil {
		// The admin console; the bare root sends a browser there.
		mux.Handle(console.Prefix, con)
		mux.Handle("GET /{$}", http.RedirectHandler(console.Prefix, http.StatusSeeOther))
	}
	mux.Handle("GET /metrics", prom)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		checks := map[string]string{"status": readyOK, "store": readyOK, "state": readyOK}
		if node != nil {
			checks["role"] = "follower"
			if node.IsLeader() {
				checks["role"] = "leader"
			}
		}
		status := http.StatusOK
		fail := func(check string, err error) {
			log.Warn("not ready", zap.String("check", check), zap.Error(err))
			checks[check], checks["status"], status = readyUnavailable, readyUnavailable, http.StatusServiceUnavailable
		}
		if _, err := st.Domains(ctx); err != nil {
			fail("store", err)
		}
		if _, err := sb.Runs(ctx, "", 1); err != nil {
			fail("state", err)
		}
		writeJSON(w, status, checks)
	})
	return mux
}

// The words of /readyz: "status" and each check are one of them.
const (
	readyOK          = "ok"
	readyUnavailable = "unavailable"
)

// newHTTPServer bounds every phase of a connection (see config.ServerTimeouts).
// The server's own complaints (failed TLS handshakes, mostly) are logged at
// debug: scanners and port probes make them common and they need no action.
func newHTTPServer(h http.Handler, t config.ServerTimeouts, log *zap.Logger) *http.Server {
	errLog, err := zap.NewStdLogAt(log.Named("http"), zap.DebugLevel)
	if err != nil {
		errLog = nil // the standard library's default logger
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read,
		WriteTimeout: t.Write, IdleTimeout: t.Idle, ErrorLog: errLog}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// loginOptions are the API's sign-in bounds from server.login (rates there
// are per minute, the limiter's per second).
func loginOptions(c config.Login) api.LoginOptions {
	c = c.WithDefaults()
	return api.LoginOptions{
		MaxConcurrentVerifications: c.MaxConcurrentVerifications,
		MaxWaiting:                 c.MaxWaiting,
		MaxWait:                    c.MaxWait,
		PerClient:                  rate.Limit(c.PerClientRate / 60),
		PerClientBurst:             c.PerClientBurst,
		PerAccount:                 rate.Limit(c.PerAccountRate / 60),
		PerAccountBurst:            c.PerAccountBurst,
		Tracked:                    c.Tracked,
		TrustedProxies:             c.Proxies(),
	}
}
