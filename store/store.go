// Package store defines the user store dirsync synchronises into: internal domains,
// users and mail-enabled groups with their aliases and members, and the audit log.
//
// Backends: store/sqlite (embedded, pure Go) and store/postgres, both thin
// dialects of the one SQL implementation in store/sqlstore. Both pass the
// conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors every backend returns (wrapped) so callers can use errors.Is.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrNotInternal = errors.New("not an internal domain")
	ErrStaleFence  = errors.New("stale fencing token")
	ErrInvalid     = errors.New("invalid change")
)

// ConflictError explains an address clash: an address is unique across every
// object's primary address and aliases.
type ConflictError struct {
	Address string // the address that clashes
	Owner   string // primary address of the object that already has it
	AsAlias bool   // the owner holds it as an alias rather than its primary
}

func (e *ConflictError) Error() string {
	role := "primary address"
	if e.AsAlias {
		role = "alias"
	}
	return fmt.Sprintf("address %s is already the %s of %s", e.Address, role, e.Owner)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// NotInternalError is returned when an address's domain is not registered.
type NotInternalError struct{ Domain string }

func (e *NotInternalError) Error() string {
	return fmt.Sprintf("domain %s is not an internal domain of this directory", e.Domain)
}

// Unwrap makes errors.Is(err, ErrNotInternal) true.
func (e *NotInternalError) Unwrap() error { return ErrNotInternal }

// Kinds of object in the store.
const (
	KindUser  = "user"
	KindGroup = "group"
)

// Origins that are not connector names.
const (
	OriginManual   = "manual"
	OriginCSV      = "csv"
	OriginOutbound = "outbound"
)

// User is a mail-enabled object: a person (Kind "user") or a distribution list
// (Kind "group"). Addresses are stored lower-case with ASCII (IDNA) domains.
type User struct {
	ID          int64
	Kind        string
	Address     string
	Aliases     []string // sorted
	DisplayName string
	GivenName   string
	Surname     string
	Phone       string
	Department  string
	Title       string
	Enabled     bool
	Origin      string // connector name, or manual, csv, outbound
	Anchor      string // source anchor; empty for manual, csv and outbound objects
	// Protected objects (admin accounts) are never adopted by a soft match.
	Protected bool
	// Licensed (a licensed mailbox) and DirectoryAdmin (a member of an
	// administrator directory role) are Microsoft 365 facts an Entra connector
	// synchronises for its users; false for every other object.
	Licensed       bool
	DirectoryAdmin bool
	Members        []string // groups: primary addresses of members, sorted
	Created        time.Time
	Updated        time.Time
	// Account is the portal login's state and roles (no secrets).
	Account Account
}

// Field names used in FieldChange.Field. Values are strings, except Aliases and
// Members ([]string, sorted) and Enabled, Protected, Licensed and
// DirectoryAdmin (bool).
const (
	FieldAddress     = "address"
	FieldAliases     = "aliases"
	FieldDisplayName = "display_name"
	FieldGivenName   = "given_name"
	FieldSurname     = "surname"
	FieldPhone       = "phone"
	FieldDepartment  = "department"
	FieldTitle       = "title"
	FieldEnabled     = "enabled"
	FieldOrigin      = "origin"
	FieldAnchor      = "anchor"
	FieldMembers     = "members"
	FieldProtected   = "protected"
	// FieldLicensed and FieldDirectoryAdmin (bool) are owned by Entra
	// connectors only (see User.Licensed).
	FieldLicensed       = "licensed"
	FieldDirectoryAdmin = "directory_admin"
	// FieldDefaultLead (bool) is in accounts.go.
)

// Action is what a Change does.
type Action string

// The actions a Change can carry.
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionDisable Action = "disable"
	ActionEnable  Action = "enable"
	ActionDelete  Action = "delete"
	// ActionAddDomain is only ever an audit entry (AddDomain); the address is the domain.
	ActionAddDomain Action = "add_domain"
)

// FieldChange is one field's before and after value. For a create, Before is nil.
type FieldChange struct {
	Field  string `json:"field"`
	Before any    `json:"before,omitempty"`
	After  any    `json:"after"`
}

// Change is one operation on one object. The sync engine's plan is a list of these,
// so what a dry run prints is exactly what Apply executes.
//
// Rules every backend follows (the conformance suite checks them):
//   - A change with Origin and Anchor names that source object: it is found by its
//     anchor first. An update falls back to the primary address (adoption by soft
//     match); a disable of an anchor that is gone is a no-op (never another object
//     that holds the cached address now). Without an anchor, Address names the
//     object by its primary address (an alias does not match).
//   - A create with no enabled field makes an enabled object; an empty Kind means user.
//   - A create whose (Origin, Anchor) exists under another address renames that object.
//   - Enable and disable look only at the action, not at the field changes.
//   - A Kind that differs from the stored object's is ErrInvalid.
//   - Renaming an object to one of its own aliases promotes that alias.
type Change struct {
	Action  Action        `json:"action"`
	Kind    string        `json:"kind"`
	Address string        `json:"address"` // current primary address (the new one for a create)
	Origin  string        `json:"origin,omitempty"`
	Anchor  string        `json:"anchor,omitempty"`
	Changes []FieldChange `json:"changes,omitempty"`
	Reason  string        `json:"reason"`
}

// Actor says who makes a change, for the audit log.
type Actor struct {
	Kind  string // "sync", "admin", "import", "outbound", "system"
	Name  string // connector name, admin name, ...
	RunID string // the sync run, when Kind is "sync"
}

// Fence is a fencing token from the state backend's run lock. The store remembers
// the highest token seen per Name and refuses a write carrying a lower one, so a
// paused ex-holder of the lock cannot write after a new holder has.
type Fence struct {
	Name  string
	Token uint64
}

// ApplyRequest is a batch of changes made by one actor.
type ApplyRequest struct {
	Actor   Actor
	Fence   *Fence // nil: no fencing (admin edits)
	Changes []Change
}

// Outcome is the result of one Change of an ApplyRequest, in the same order.
type Outcome struct {
	// Applied is false when the change was already in effect (idempotent re-apply)
	// or failed.
	Applied bool
	// Err explains why this change was refused (a *ConflictError, a
	// *NotInternalError, ErrNotFound, ErrInvalid...). Other changes still apply.
	Err error
}

// ListQuery selects users for listing. Every filter is optional.
type ListQuery struct {
	Search string // case-insensitive substring of address, alias or display name
	// Letter is the alphabetical filter: "a".."z" match the first letter of the
	// display name (of the address when the display name is empty), "#" anything
	// that does not start with a letter.
	Letter       string
	Origin       string // "" = any
	Kind         string // "" = any
	Domain       string // "" = any; matches the primary address's domain
	Registration string // "registered", "unregistered", "" = all
	Status       string // "enabled", "disabled", "locked", "" = all
	Sort         string // one of SortColumns; "" = address
	Desc         bool
	// Cursor continues a listing: the value Users returned with the previous page,
	// for the same query. It is opaque (see EncodeCursor).
	Cursor string
	Limit  int // 0 = a backend default (100)
}

// SortColumns are the columns a listing can be sorted by. Ties (and every
// column) are broken by primary address, so pages never overlap.
var SortColumns = []string{
	"address", "display_name", "given_name", "surname", "phone", "department",
	"title", "origin", "enabled", "registered", "locked", "created", "updated",
	"last_login",
}

// AuditEntry is one recorded change.
type AuditEntry struct {
	ID      int64
	Time    time.Time
	Actor   Actor
	Action  Action
	Address string
	Changes []FieldChange
	Reason  string
}

// AuditQuery selects audit entries, newest first (by ID, descending). Every
// filter is optional; the set ones must all hold.
type AuditQuery struct {
	Address   string // "" = any
	ActorKind string // "" = any; e.g. "sync" for the last sync that touched a user
	ActorName string // "" = any; e.g. the connector of a sync, the token of an admin
	RunID     string // "" = any
	Action    Action // "" = any
	// Since and Until bound the entries' time: Since <= Time < Until; a zero
	// time does not bound.
	Since, Until time.Time
	// BeforeID continues a listing: only entries with ID < BeforeID (0 = no
	// bound). The next page of a full page starts before its last entry's ID.
	BeforeID int64
	Limit    int // 0 = 100
}

// Store is the user store. Every method is safe for concurrent use.
type Store interface {
	// Domains lists the internal domains, sorted.
	Domains(ctx context.Context) ([]string, error)
	// AddDomain registers an internal domain; adding an existing one is a no-op.
	AddDomain(ctx context.Context, name string, actor Actor) error

	// User returns the object whose primary address or alias is address (ErrNotFound).
	User(ctx context.Context, address string) (User, error)
	// Lookup returns, in one round trip where the backend allows, every object
	// whose (origin, anchor) is in anchors, or whose primary address or alias is in
	// addresses. It is the sync engine's batched join; order is unspecified.
	Lookup(ctx context.Context, origin string, anchors, addresses []string) ([]User, error)
	// Users lists objects matching q in q.Sort order; the second result is the
	// cursor for the next page ("" when there is none). An unknown sort column or
	// filter value, or a cursor that does not decode, is ErrInvalid.
	Users(ctx context.Context, q ListQuery) ([]User, string, error)

	// Apply executes the changes, each on its own (one failing change does not undo
	// the others), records an audit entry for each applied one, and returns one
	// Outcome per change. The error is for the request as a whole: ErrStaleFence,
	// or the store being unreachable.
	Apply(ctx context.Context, req ApplyRequest) ([]Outcome, error)
	// Import executes the changes, then the passwords, in one transaction: the
	// first refused step rolls back everything and comes back as an
	// *ImportError. A change already in effect is no failure (Applied false).
	Import(ctx context.Context, req ImportRequest) ([]Outcome, error)

	// Audit returns audit entries, newest first.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)

	Accounts
	Sessions

	// DomainCounts returns, for each internal domain, how many objects (users
	// and groups) have their primary address in it (0 for an empty domain).
	// One query, not one per domain.
	DomainCounts(ctx context.Context) (map[string]int, error)

	Close() error
}
