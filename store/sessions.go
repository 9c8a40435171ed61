package store

import (
	"context"
	"time"
)

// PermissionConsole is the permission to sign in to the admin console.
const PermissionConsole = "console"

// Session is a signed-in console session. The store keeps the hex SHA-256 of
// the session's secret id only.
type Session struct {
	Hash     string // hex SHA-256 of the cookie's value
	Address  string // the administrator's primary address
	Created  time.Time
	LastSeen time.Time // idle timeout counts from here
	Expires  time.Time // absolute timeout
}

// Sessions keeps console sessions (Store embeds it). Sessions are not audited
// (they change no data an admin manages), and no error quotes a hash.
type Sessions interface {
	// CreateSession stores a new session (a duplicate hash is an error
	// wrapping ErrConflict; an empty hash or address, or a zero Expires, is
	// ErrInvalid). A zero Created is the store's clock, a zero LastSeen is
	// Created.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with that hash (ErrNotFound), expired or
	// not: the caller checks the timeouts.
	Session(ctx context.Context, hash string) (Session, error)
	// TouchSession sets LastSeen, the session's and its user's Account's
	// (the user is online), with no error when the session is gone. It never
	// moves LastSeen back, so replicas touching at once keep the latest.
	TouchSession(ctx context.Context, hash string, at time.Time) error
	// DeleteSession removes one session (sign-out; no error when gone).
	DeleteSession(ctx context.Context, hash string) error
	// PurgeSessions removes sessions idle since before idleBefore (LastSeen
	// before it) or expired at now (Expires not after now); returns how many.
	PurgeSessions(ctx context.Context, idleBefore, now time.Time) (int, error)
}
