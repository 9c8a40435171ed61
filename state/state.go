// Package state defines the cached directory state the sync engine keeps between
// runs: per connector a snapshot of record fingerprints, the incremental cursor, run
// history, held operations, and a run lock carrying a fencing token.
//
// Backends: state/local (one embedded file, single node) and state/redis (shared
// by several replicas; it is also a Coordinator). Both keep full run reports
// (Reports) and pass the conformance suite in state/statetest.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors every backend returns (wrapped) so callers can use errors.Is.
var (
	// ErrLocked: another holder owns the connector's run lock and its lease has not expired.
	ErrLocked = errors.New("connector run lock is held by another runner")
	// ErrStaleLease: the lease is no longer the current one (expired and taken over,
	// or released); the holder must not write.
	ErrStaleLease = errors.New("run lease is stale")
	// ErrNotFound: no such hold, or no such report (never stored, or expired).
	ErrNotFound = errors.New("not found")
)

// Entry is what the state remembers about one source object, keyed by its anchor.
type Entry struct {
	// Fingerprint of the normalised record as last applied.
	Fingerprint string `json:"f"`
	// Kind is "user" or "group".
	Kind string `json:"k,omitempty"`
	// Address is the primary address the object has in the store.
	Address string `json:"a"`
	// Ref is the source's own name for the object (a DN): groups' member lists point at it.
	Ref string `json:"r,omitempty"`
	// Missing counts consecutive full runs in which the object was absent from the source.
	Missing int `json:"m,omitempty"`
	// Gone is set once the engine disabled the object because it went missing;
	// it is cleared when the object comes back.
	Gone bool `json:"g,omitempty"`
}

// Snapshot is a connector's cached state: anchor → entry.
type Snapshot map[string]Entry

// Commit is one atomic state update after a successful apply.
type Commit struct {
	Upserts map[string]Entry
	Deletes []string
	// Cursor replaces the stored incremental cursor when non-nil; nil leaves it.
	Cursor []byte
	// ClearCursor removes the stored cursor (an expired cursor, a source that lost
	// incremental support). Ignored when Cursor is non-nil.
	ClearCursor bool
	// Retries upserts entries of the connector's retry set by anchor;
	// RetryDeletes removes entries (before the upserts). They commit together
	// with the cursor: a cursor that moved past a failed operation is never
	// stored without the retry entry that remembers it.
	Retries      map[string]Retry
	RetryDeletes []string
	// Destructive appends to the connector's ledger of applied destructive
	// operations; entries whose At is before PruneDestructive are removed
	// (zero removes nothing).
	Destructive      []Destructive
	PruneDestructive time.Time
}

// Retry is an operation that failed to apply, kept so that a later run plans it
// again after the cursor moved past it: an incremental source does not send the
// object twice.
type Retry struct {
	Anchor  string `json:"anchor"`
	Kind    string `json:"kind,omitempty"`
	Address string `json:"address"`
	// Record is the engine's encoding of the source record to plan again (it
	// holds no secret: source records carry none); the backend stores it as given.
	Record    json.RawMessage `json:"record"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	// FirstFailed and LastAttempt bound the failures; NextAttempt is when the
	// engine tries again (zero: the next run).
	FirstFailed time.Time `json:"first_failed"`
	LastAttempt time.Time `json:"last_attempt"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// GivenUp is set once the attempts reached the limit: the entry stays
	// listed for an admin, and only a new version of the object is planned.
	GivenUp bool `json:"given_up,omitempty"`
}

// Destructive is one line of a connector's ledger: how many destructive
// operations of one kind in one mail domain a run applied. The brakes add the
// lines of their window to a run's own operations.
type Destructive struct {
	At     time.Time `json:"at"`
	RunID  string    `json:"run_id"`
	Kind   string    `json:"kind"`
	Domain string    `json:"domain"`
	Count  int       `json:"count"`
}

// Lease is a held run lock. Token increases every time the lock changes hands, so a
// writer holding an older token can be told apart from the current one (fencing).
type Lease struct {
	Connector string    `json:"connector"`
	Owner     string    `json:"owner"`
	Token     uint64    `json:"token"`
	Expires   time.Time `json:"expires"`
}

// Run is one entry of a connector's run history.
type Run struct {
	ID        string         `json:"run_id"`
	Connector string         `json:"connector"`
	Status    string         `json:"status"`
	Full      bool           `json:"full"`
	DryRun    bool           `json:"dry_run"`
	Started   time.Time      `json:"started"`
	Finished  time.Time      `json:"finished"`
	Counts    map[string]int `json:"counts"`
	Error     string         `json:"error,omitempty"`
	// MergedInto, when set, names the run that served this one: a trigger
	// (forwarded by another replica under its own id) that was merged into a
	// run already pending. The entry repeats that run's outcome.
	MergedInto string `json:"merged_into,omitempty"`
}

// Hold is a set of operations a run refused to apply until an admin approves them
// (destructive changes above the threshold, or a source-health gate).
type Hold struct {
	ID        string    `json:"id"`
	Connector string    `json:"connector"`
	RunID     string    `json:"run_id"`
	Reason    string    `json:"reason"`
	Created   time.Time `json:"created"`
	// Operations is the engine's JSON encoding of the held operations; the state
	// backend stores it as given.
	Operations json.RawMessage `json:"operations"`
}

// Trigger is an on-demand run that a replica which is not the leader received
// and hands to the leader (Coordinator).
type Trigger struct {
	// ID is the queue's id of the message (set by ReadTriggers).
	ID        string `json:"-"`
	Connector string `json:"connector"`
	RunID     string `json:"run_id"`
	Full      bool   `json:"full"`
	// From names the replica that received the request.
	From string    `json:"from"`
	At   time.Time `json:"at"`
}

// LeaderLease is the leader lease as HoldLeader found it.
type LeaderLease struct {
	Held   bool
	Holder string
	// Left is how long the holder's lease lasts unless renewed (when not Held).
	Left time.Duration
}

// Coordinator is what a backend shared by several replicas (Redis) offers beyond
// Backend so that they never step on each other: a leader lease (one replica
// runs the schedule) and a queue of triggers for the leader.
type Coordinator interface {
	// HoldLeader takes the leader lease for owner if nobody holds it, or renews it
	// if owner does, for ttl. It reports whether owner holds it now, and if not,
	// who does and for how much longer at most.
	HoldLeader(ctx context.Context, owner string, ttl time.Duration) (LeaderLease, error)
	// ReleaseLeader gives the lease up if owner holds it (a no-op otherwise).
	ReleaseLeader(ctx context.Context, owner string) error
	// PublishTrigger queues a trigger for whichever replica leads.
	PublishTrigger(ctx context.Context, t Trigger) error
	// ReadTriggers returns queued triggers for consumer, waiting up to wait for
	// some. Triggers read but not acknowledged within a minute (a leader that
	// died holding them) are handed out again.
	ReadTriggers(ctx context.Context, consumer string, wait time.Duration) ([]Trigger, error)
	// AckTriggers marks triggers done.
	AckTriggers(ctx context.Context, ids ...string) error
}

// StoredReport is a finished run's full report, kept by a Reports backend.
type StoredReport struct {
	ID        string
	Connector string
	Started   time.Time
	// Body is the engine's JSON of the report; the backend stores it as given.
	Body json.RawMessage
}

// Reports is implemented by backends that keep full run reports (the run
// history keeps only one-line summaries), so that any replica, and the daemon
// after a restart, can show a run's operations.
type Reports interface {
	// SaveReport stores r (replacing a report of the same ID) for retention,
	// which must be positive.
	SaveReport(ctx context.Context, r StoredReport, retention time.Duration) error
	// Report returns the report with that ID, or ErrNotFound (wrapped) when
	// there is none or it has expired.
	Report(ctx context.Context, id string) (StoredReport, error)
}

// Backend stores the state. Every method is safe for concurrent use, and for use by
// several processes sharing the same backend.
type Backend interface {
	// Snapshot returns the connector's cached entries (empty, not nil, if none).
	Snapshot(ctx context.Context, connector string) (Snapshot, error)
	// Cursor returns the stored incremental cursor, or nil.
	Cursor(ctx context.Context, connector string) ([]byte, error)
	// Commit applies c atomically, only if lease is still the connector's current
	// lease (ErrStaleLease otherwise). Leases are compared by token: one that
	// expired but was not taken over is still current. Deletes apply before Upserts.
	Commit(ctx context.Context, lease Lease, c Commit) error
	// Retries returns the connector's retry set, ordered by anchor.
	Retries(ctx context.Context, connector string) ([]Retry, error)
	// DestructiveSince returns the connector's ledger lines whose At is not
	// before since, oldest first.
	DestructiveSince(ctx context.Context, connector string, since time.Time) ([]Destructive, error)

	// Acquire takes the connector's run lock for ttl, or fails with ErrLocked (also
	// for the same owner: the lock is not reentrant).
	// An expired lock may be taken over; the new lease gets a higher token.
	Acquire(ctx context.Context, connector, owner string, ttl time.Duration) (Lease, error)
	// Renew extends a current lease (ErrStaleLease if it is no longer current).
	Renew(ctx context.Context, lease Lease, ttl time.Duration) (Lease, error)
	// Release gives the lock up; releasing a stale lease is a no-op.
	Release(ctx context.Context, lease Lease) error

	// AddRun appends to the connector's run history (the newest few hundred are kept).
	AddRun(ctx context.Context, run Run) error
	// Runs returns up to limit runs of the connector, newest first; connector ""
	// means all connectors.
	Runs(ctx context.Context, connector string, limit int) ([]Run, error)

	// PutHold stores (or replaces, by ID) a hold.
	PutHold(ctx context.Context, h Hold) error
	// Holds lists a connector's holds, oldest first; connector "" means all.
	Holds(ctx context.Context, connector string) ([]Hold, error)
	// DeleteHold removes a hold (ErrNotFound if absent).
	DeleteHold(ctx context.Context, connector, id string) error

	// Close releases the backend's resources.
	Close() error
}
