package api

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/accounts"
	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/outbound"
	"github.com/dirsync/dirsync/store"
)

// Errors a Syncer returns (wrapped); the API maps them to unknown_connector,
// sync_running, not_found and unavailable.
var (
	ErrUnknownConnector = errors.New("unknown connector")
	// ErrSyncBusy: a run holds the connector (deciding holds needs its lock).
	// Sync triggers never fail with it: they queue.
	ErrSyncBusy    = errors.New("a run of this connector is already in progress")
	ErrRunNotFound = errors.New("run not found")
	// ErrStopping: the daemon is shutting down and starts no more runs.
	ErrStopping = errors.New("the daemon is stopping")
)

// Syncer is the daemon's sync side as the API sees it: daemon/apiwire.NewSyncs
// implements it over the runner (the scheduler, the engine and the state backend).
type Syncer interface {
	// Connectors lists the enabled connectors' names.
	Connectors() []string
	// Trigger starts one run per named connector (all when none are named). With
	// req.Wait it returns when they have finished, reports included.
	Trigger(ctx context.Context, req TriggerSync) ([]TriggeredRun, error)
	// Runs lists runs in progress, pending and from the history, newest
	// first; connector "" = all.
	Runs(ctx context.Context, connector string, limit int) ([]Run, error)
	// Run returns one run (ErrRunNotFound).
	Run(ctx context.Context, id string) (RunDetail, error)
	// FieldOwner says whether the named connector owns (writes) a store field;
	// false for a connector it does not know.
	FieldOwner(connector, field string) bool
}

// QuarantineFinder is a Syncer that finds a user's quarantined source records
// for the status check (GET /v1/users/{address}/status); for a Syncer without
// it, the status lists none.
type QuarantineFinder interface {
	// Quarantined lists the quarantine entries of the latest finished run (not
	// a dry run) of each connector whose record names the user: its address,
	// an alias, its source anchor, or the source's own name for it (a DN, as
	// the origin connector last synchronised it); compared case-insensitively.
	Quarantined(ctx context.Context, who QuarantineQuery) ([]QuarantinedRecord, error)
}

// QuarantineQuery names one user for QuarantineFinder.
type QuarantineQuery struct {
	Names  []string // the primary address and the aliases
	Origin string   // the connector that owns the user, if any
	Anchor string   // its source anchor ("" for none)
}

// Holds lists and decides held operations: the engine in the daemon.
type Holds interface {
	// Holds lists held operations of a connector ("" = all) with a status ("" = all).
	Holds(ctx context.Context, connector, status string) ([]Hold, error)
	// Decide approves or rejects; one result per operation selected. A refused
	// operation has Code and Error set; the error is for the request as a whole.
	Decide(ctx context.Context, d DecideHolds, approve bool, by string) ([]HoldResult, error)
}

// Options configures the API handler.
type Options struct {
	Store  store.Store
	Syncer Syncer
	// Observe, when set, is called once per API request with the route's
	// pattern (e.g. "GET /v1/users/{address}"; "unmatched" when no route
	// matched), the status answered and the time taken: the metrics hook.
	Observe func(route string, status int, took time.Duration)
	// Holds answers /v1/holds (nil: 503).
	Holds Holds
	// Explainer answers POST /v1/explain (nil: 503).
	Explainer Explainer
	// Checker answers GET /v1/config/check (nil: 503).
	Checker ConfigChecker
	// Senders answers POST /v1/senders (nil: 503, the process ingests no senders).
	Senders Senders
	Log     *zap.Logger
	// Now is the clock (time.Now when nil); tests move it to expire invitations.
	Now func() time.Time
	// PasswordParams are the argon2id costs of new password and security-answer
	// hashes (zero: password.Default). Tests use cheap ones.
	PasswordParams password.Params
	// Login bounds the public sign-in routes (see LoginOptions).
	Login LoginOptions
	// Mailer sends invitations' emails (nil: no mail server configured, the
	// administrator passes the link on).
	Mailer accounts.InvitationMailer
	// PublicURL is the console's address as users reach it
	// (server.public_url): invitation links start with it ("" : no link).
	PublicURL string
}

// Senders settles reported outbound senders: outbound.Service in the daemon.
type Senders interface {
	Report(ctx context.Context, senders []string, via string) ([]outbound.Result, error)
}
