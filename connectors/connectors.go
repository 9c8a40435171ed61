// Package connectors defines what every directory source (file, LDAP, Entra ID)
// gives the sync engine: a stream of Records, with optional capabilities that the
// engine discovers by type assertion.
package connectors

import (
	"context"
	"errors"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// Kind says whether a record is a person or a mail-enabled group.
type Kind string

// The kinds of directory object dirsync synchronises.
const (
	KindUser  Kind = "user"
	KindGroup Kind = "group"
)

// Record is one directory object as a source presents it, already mapped from the
// source's own attribute names to dirsync's fields. Values are raw: the engine's
// normalise stage lower-cases, validates and quarantines them.
type Record struct {
	Kind Kind
	// Ref is the source's own name for the object (a DN, a CSV row key, an Entra
	// object id). It names the record in quarantine messages and is what group
	// members point at.
	Ref string
	// Anchor is the immutable source identifier (objectGUID, entryUUID, Entra
	// object id). Renames keep it; the engine joins on it first.
	Anchor      string
	Mail        string
	Aliases     []string
	DisplayName string
	GivenName   string
	Surname     string
	Phone       string
	Department  string
	Title       string
	Disabled    bool
	// JoinAnchor is the anchor under which another connector knows the same
	// object: Entra's onPremisesImmutableId rendered as the AD objectGUID string.
	// A record with one joins that connector's object instead of creating its own.
	JoinAnchor string
	// Admin marks a member of a configured administrator directory role, and
	// Licensed a user with a licensed mailbox (Entra assignedLicenses).
	Admin    bool
	Licensed bool
	// Members holds the Refs of a group's members.
	Members []string
	// Deleted marks a tombstone from an incremental read: the object is gone from
	// the source. Only Anchor (and Ref, if known) are meaningful.
	Deleted bool
	// Invalid is set when the source could not map a value (an unparsable
	// userAccountControl, say); the engine quarantines the record with it.
	Invalid *FieldError
	// Warnings are source inconsistencies the mapping resolved by a documented
	// rule (mail disagreeing with the Exchange primary): the record is synced
	// and the engine reports each one, so an admin can fix the source.
	Warnings []FieldError
	// MailFallback is the address that lost to Mail under the primary-address
	// rule (mail vs. the Exchange primary): the engine makes it the primary
	// when Mail's domain is not internal and it is, rather than quarantine a
	// user the other address would synchronise.
	MailFallback string
}

// Emit receives records from a Source as they are read. Returning an error stops the
// read; the Source returns that error.
type Emit func(Record) error

// Source is a configured connector instance. Read streams every in-scope object once;
// a non-nil error means the read is incomplete, and the engine then disables nobody.
type Source interface {
	Read(ctx context.Context, emit Emit) error
	Close() error
}

// Incremental is implemented by sources that can report only what changed since a
// cursor (AD DirSync cookie, RFC 4533 sync cookie, Graph delta link).
//
// ReadChanges with a nil cursor enumerates everything (a full read) and returns the
// cursor to continue from. With a cursor, it emits only changed objects and tombstones.
// ErrCursorExpired tells the engine to fall back to a full read.
type Incremental interface {
	ReadChanges(ctx context.Context, cursor []byte, emit Emit) (next []byte, err error)
}

// FieldOwner is implemented by sources that feed only some store fields (those their
// mapping or columns provide). Sync never changes a field its source does not own.
// Without it, a source owns every field.
type FieldOwner interface {
	Fields() []string
}

// ErrCursorExpired reports that the source no longer accepts the stored cursor
// (for example Graph's syncStateNotFound); the engine restarts with a full read.
var ErrCursorExpired = errors.New("incremental cursor expired")

// Config is a connector type's configuration section. The config package decodes
// the YAML section strictly into a fresh Config from the Registry, calls Prepare,
// and later Open.
type Config interface {
	// Prepare applies defaults, resolves relative paths against dir (the config
	// file's folder), and returns every problem found. Problems should be
	// *FieldError values so the config package can report their YAML path.
	Prepare(dir string) []error
	// Open returns a ready Source. name is the connector's configured name.
	Open(name string, log *zap.Logger) (Source, error)
}

// Registry maps a connector type name (the `type:` key in the config) to a
// constructor for its empty Config. It is an explicit map, filled in one place
// (package registry), never by init().
type Registry map[string]func() Config

// FieldError is one configuration problem at a YAML path relative to the section
// it was found in (for example "path" or "mapping.mail").
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Problem is a convenience constructor for a *FieldError.
func Problem(field, message string) error {
	return &FieldError{Field: field, Message: message}
}

// Looker is implemented by sources that can read one object on its own, in or
// out of the configured scope: `dirsync explain` starts from it.
type Looker interface {
	// Lookup finds the one object whose primary address, alias or anchor is key
	// (any case), searching the whole source rather than only the configured
	// scope. Nothing matching is ErrNotInSource, wrapped in an error that names
	// the search used; several objects matching is an error naming them.
	Lookup(ctx context.Context, key string) (Found, error)
}

// Found is one object as Lookup read it.
type Found struct {
	// Query is the search that found it (an LDAP base and filter, a Graph
	// request, a file and line), as an admin could run it by hand.
	Query string
	// Raw holds the object's attributes as the source returned them, values of
	// secret attributes (passwords, keys) replaced by "[redacted]" and binary
	// values rendered readable (a GUID, or base64).
	Raw map[string][]string
	// Record is the object as Read would emit it (the mapping applied), also
	// when it is out of scope.
	Record Record
	// Scope lists the scope rules in the order the source applies them, and
	// what each said of this object.
	Scope []ScopeCheck
	// InScope: Read emits this object (every rule admitted it).
	InScope bool
}

// ScopeCheck is one scope rule and its verdict on one object.
type ScopeCheck struct {
	// Rule names the rule as configured, e.g. `base_dn "ou=people,dc=example,dc=org" (subtree)`
	// or `filter "(&(objectClass=person)(mail=*))"`.
	Rule     string
	Admitted bool
	// Detail says why, e.g. "the entry is in ou=contractors, outside the base".
	Detail string
}

// Redacted stands in Found.Raw for the values of a secret attribute.
const Redacted = "[redacted]"

// secretAttributes hold credentials without saying so in their names (AD's
// Kerberos keys and trust secrets, OpenLDAP's Kerberos overlay).
var secretAttributes = []string{"supplementalCredentials", "krbPrincipalKey", "priorValue", "currentValue",
	"trustAuthIncoming", "trustAuthOutgoing", "initialAuthIncoming", "initialAuthOutgoing", "msDS-ManagedPassword"}

// IsSecretAttribute reports whether an attribute, column or property holds
// credentials, whose values Lookup must never return: any name containing
// password, pwd or secret (any case), and the known credential attributes.
func IsSecretAttribute(name string) bool {
	l := strings.ToLower(strings.TrimSpace(name))
	if strings.Contains(l, "password") || strings.Contains(l, "pwd") || strings.Contains(l, "secret") {
		return true
	}
	return slices.ContainsFunc(secretAttributes, func(a string) bool { return strings.EqualFold(a, l) })
}

// ErrNotInSource: Lookup found no object with that address or anchor.
var ErrNotInSource = errors.New("no object with that address or anchor in the source")

// Checker is implemented by sources that can test their connection without a
// full read: `dirsync config check` calls it for every enabled connector.
type Checker interface {
	// Check connects and authenticates as a run would, then makes the smallest
	// request that proves the configured scope can be read (an LDAP base-scope
	// search of each base DN, one page of Graph users, opening and parsing the
	// file). It returns one line saying what was verified, e.g.
	// `bound to ldaps://dc1.corp.example:636 as CN=svc-dirsync,...; 2 base DNs readable; DirSync permitted`,
	// or an error that names the step that failed, the cause and the fix.
	// Secrets never appear in either.
	Check(ctx context.Context) (string, error)
}
