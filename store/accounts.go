package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Portal logins, roles and API tokens: what admins manage beyond the synchronised
// fields. The store keeps only hashes (argon2id for passwords and security answers,
// SHA-256 for high-entropy tokens); hashing and verifying is the caller's job
// (accounts/password, accounts), so no plaintext secret ever reaches a backend.

// More sentinel errors (wrapped by backends; errors.Is works).
var (
	// ErrUnknownRole: a role name that is not defined.
	ErrUnknownRole = errors.New("unknown role")
	// ErrRoleExists: AddRole with a name already in use (compared case-insensitively).
	ErrRoleExists = errors.New("role already exists")
	// ErrInvitationExpired: the invitation's expiry has passed.
	ErrInvitationExpired = errors.New("invitation expired")
	// ErrInvitationUsed: the invitation was already redeemed (single use).
	ErrInvitationUsed = errors.New("invitation already used")
	// ErrAlreadyRegistered: redeeming an invitation for a registered login.
	ErrAlreadyRegistered = errors.New("the portal login is already registered")
)

// LockAfter is how many consecutive failed logins lock an account.
const LockAfter = 3

// ReasonLocked is the last login error of an attempt on a locked account.
const ReasonLocked = "account locked"

// FieldDefaultLead is the "default implementation lead" flag (bool), settable with
// an update Change like any other field.
const FieldDefaultLead = "default_lead"

// Audit actions for account events (Change actions are in store.go). The audit
// entry's Address is the user's primary address, except for add_role (the role
// name) and create_token (the token name).
const (
	ActionSetPassword Action = "set_password"
	ActionRegister    Action = "register"
	ActionUnregister  Action = "unregister"
	ActionInvite      Action = "invite"
	ActionRedeem      Action = "redeem_invitation"
	ActionLock        Action = "lock"
	ActionUnlock      Action = "unlock"
	ActionSetRoles    Action = "set_roles"
	ActionAddRole     Action = "add_role"
	ActionCreateToken Action = "create_token"
	ActionRevokeToken Action = "revoke_token"
)

// Field names of the account actions' audit entries, the same in every
// backend. Roles, permissions and scopes hold lists ([]string after
// DecodeChanges); secrets (password, answer, token) hold Redacted.
const (
	AuditRegistered  = "registered"
	AuditPassword    = "password"
	AuditForceChange = "force_change"
	AuditQuestion    = "question"
	AuditAnswer      = "answer"
	AuditLocked      = "locked"
	AuditRoles       = "roles"
	AuditName        = "name"
	AuditPermissions = "permissions"
	AuditScopes      = "scopes"
	AuditToken       = "token"
	AuditExpires     = "expires"
	AuditPreset      = "preset"
)

// LoginActor records the failed logins no admin makes, and the lock they cause.
var LoginActor = Actor{Kind: "system", Name: "login"}

// Redacted replaces every secret (hash, answer, token) in audit values.
const Redacted = "[redacted]"

// Account is the login side of a user, without secrets. Store.User and Store.Users
// fill User.Account.
type Account struct {
	Registered   bool
	HasPassword  bool
	ForceChange  bool // the password must be changed at next login
	Locked       bool
	FailedLogins int       // consecutive failures since the last success or unlock
	LastLogin    time.Time // zero: never
	// LastLoginError is why the last failed login failed ("" after a success).
	LastLoginError string
	LastSeen       time.Time // zero: never
	DefaultLead    bool      // the "default implementation lead" flag
	Roles          []string  // role names, sorted
}

// SupportContact is the derived flag: a holder of a role whose name contains
// "Admin" (so also "Administrator") may open support cases.
func (a Account) SupportContact() bool {
	return slices.ContainsFunc(a.Roles, IsSupportRole)
}

// IsSupportRole says whether a role's name makes its holders support contacts.
func IsSupportRole(name string) bool {
	return strings.Contains(strings.ToLower(name), "admin")
}

// Credentials are a user's stored secrets, returned only by Store.Credentials for
// verification. Never log or serialise them.
type Credentials struct {
	Address      string // primary address
	Enabled      bool
	Account      Account
	PasswordHash string // "" when no password is set
	Question     string // security question (not secret, but only shown to its user)
	AnswerHash   string
}

// Registration is what registering a portal login stores.
type Registration struct {
	PasswordHash string
	ForceChange  bool
	Question     string
	AnswerHash   string // hash of the answer folded to lower case
}

// Invitation is a single-use, expiring registration token. The store keeps the
// token's hash only.
type Invitation struct {
	Address   string // primary address of the invited user
	TokenHash string
	Created   time.Time
	Expires   time.Time
	Used      time.Time // zero: not redeemed
	// Preset, when set, is the registration the admin prepared: the invited user
	// only confirms it.
	Preset *Registration
	// Roles are the roles redeeming gives the user (names as defined); the
	// user cannot change them.
	Roles []string
	// Email is the state of the invitation's email.
	Email InvitationEmail
}

// Email states of an invitation.
const (
	EmailNone     = ""         // no email asked for (no mail server, or the admin said not to)
	EmailPending  = "pending"  // being sent
	EmailSent     = "sent"     // the mail server accepted it
	EmailRetrying = "retrying" // a temporary failure: Next is the next attempt
	EmailFailed   = "failed"   // given up: the admin may re-send
)

// InvitationEmail is the state of an invitation's email.
type InvitationEmail struct {
	Status   string
	Attempts int
	Sent     time.Time // zero: not sent
	Error    string    // the last failure's words; never the token
	Next     time.Time // the next attempt, when Retrying
}

// Role is a named set of permissions.
type Role struct {
	Name        string
	Permissions []string // sorted, each one of Permissions
	// Default roles are the portal roles every store ships with.
	Default bool
}

// Permissions a role may hold.
var Permissions = []string{
	"users.read", "users.write", "roles.manage", "domains.manage", "imports",
	"sync", "support", "accounts", "billing", "sales", "renewals", "prospects",
	"marketing", "training", "deals", "implementation",
	PermissionConsole, // sign in to the admin console
}

// DefaultRoles are the portal roles every store is created with (SPEC §2),
// seeded once by store/sqlstore when it creates the roles table. They are
// ordinary roles: admins may add more.
var DefaultRoles = []Role{
	{Name: "Accounts", Permissions: []string{"accounts", "billing", "users.read"}, Default: true},
	{Name: "Administrator", Permissions: slices.Sorted(slices.Values(Permissions)), Default: true},
	{Name: "Deal Registration", Permissions: []string{"deals", "sales"}, Default: true},
	{Name: "Implementation Lead", Permissions: []string{"implementation", "support", "users.read", "users.write"}, Default: true},
	{Name: "Invoicing", Permissions: []string{"billing"}, Default: true},
	{Name: "Marketing", Permissions: []string{"marketing"}, Default: true},
	{Name: "Prospects", Permissions: []string{"prospects", "sales"}, Default: true},
	{Name: "Renewals", Permissions: []string{"billing", "renewals"}, Default: true},
	{Name: "Sales", Permissions: []string{"deals", "prospects", "sales"}, Default: true},
	{Name: "Training", Permissions: []string{"training"}, Default: true},
}

// Token is an API token. The store keeps the SHA-256 of the token only.
type Token struct {
	ID       int64
	Name     string // unique
	Hash     string // hex SHA-256 of the token; not returned by Tokens
	Scopes   []string
	Created  time.Time
	LastUsed time.Time // zero: never; recorded at most once per TokenUseInterval
	// Expires is when the token stops working (zero: never). TokenByHash still
	// finds an expired token, so the API can tell the caller it expired.
	Expires time.Time
}

// TokenUseInterval is how stale Token.LastUsed may get: TokenByHash writes it
// only when the recorded use is older, so a busy token costs a read per
// request and a write per interval, not a write per request.
const TokenUseInterval = time.Minute

// Expired says whether the token no longer works at now.
func (t Token) Expired(now time.Time) bool { return !t.Expires.IsZero() && !now.Before(t.Expires) }

// API token scopes.
const (
	ScopeAdmin   = "admin"   // everything
	ScopeRead    = "read"    // every GET
	ScopeSync    = "sync"    // trigger syncs, read runs
	ScopeSenders = "senders" // outbound sender ingestion
)

// Scopes lists the valid scopes.
var Scopes = []string{ScopeAdmin, ScopeRead, ScopeSync, ScopeSenders}

// UnknownRoleError names the roles that do not exist.
type UnknownRoleError struct{ Names []string }

func (e *UnknownRoleError) Error() string {
	return fmt.Sprintf("no role named %s", strings.Join(quoteAll(e.Names), ", "))
}

// Unwrap makes errors.Is(err, ErrUnknownRole) true.
func (e *UnknownRoleError) Unwrap() error { return ErrUnknownRole }

func quoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// Accounts is the login, role and token half of the store. Every method that
// names a user takes its primary address or an alias and returns ErrNotFound
// when no object has it; every change is audited (secrets as Redacted).
type Accounts interface {
	// Credentials returns the user's secrets for verification.
	Credentials(ctx context.Context, address string) (Credentials, error)
	// SetPassword sets the password hash and force-change flag (an admin's
	// temporary password, or the user's own change) and drops the user's
	// unused invitations.
	SetPassword(ctx context.Context, address, hash string, forceChange bool, actor Actor) error
	// LoginSucceeded records a successful login at: last login and last seen set,
	// failures reset, last login error cleared. Not audited (it changes no data
	// an admin manages).
	LoginSucceeded(ctx context.Context, address string, at time.Time) error
	// LoginFailed records a failed login atomically: failures+1, last login
	// error = reason, and the account locks when failures reach LockAfter (the
	// lock is audited with actor "system"). It returns the account afterwards.
	LoginFailed(ctx context.Context, address, reason string, at time.Time) (Account, error)
	// BeginLogin counts a login attempt as a failure before its password is
	// verified, in one atomic step, so parallel guesses cannot all see an
	// unlocked account: failures+1, and the account is returned unlocked when
	// the attempt may be verified. When the account is locked, or LockAfter
	// attempts were already counted, it locks (audited once, like
	// LoginFailed), last login error = ReasonLocked, and returns it Locked: the
	// password must not be verified. FinishLogin records the outcome.
	BeginLogin(ctx context.Context, address string, at time.Time) (Account, error)
	// FinishLogin records the outcome of an attempt BeginLogin let through.
	// reason "" is a success: failures reset, last login and last seen = at,
	// last login error cleared; unless the account was locked meanwhile, when
	// nothing changes and the returned Account is Locked (the caller refuses
	// the login). Otherwise last login error = reason, and the account locks
	// (audited once) when failures have reached LockAfter.
	FinishLogin(ctx context.Context, address, reason string, at time.Time) (Account, error)
	// Unlock clears the lock and the failure count ("Clear Lock").
	Unlock(ctx context.Context, address string, actor Actor) error

	// Register makes the user a registered portal login with reg and drops
	// its unused invitations.
	Register(ctx context.Context, address string, reg Registration, actor Actor) error
	// Unregister removes portal access: registered off, password, security
	// question and answer and lock cleared, outstanding invitations dropped; the
	// user record itself is kept.
	Unregister(ctx context.Context, address string, actor Actor) error
	// CreateInvitation stores inv (Address may be an alias; the primary is
	// stored). An earlier unused invitation of the same user is dropped. Roles
	// must be defined (*UnknownRoleError) and are stored as defined.
	CreateInvitation(ctx context.Context, inv Invitation, actor Actor) error
	// OpenInvitation returns the user's unredeemed invitation (ErrNotFound
	// when none), expired or not.
	OpenInvitation(ctx context.Context, address string) (Invitation, error)
	// SetInvitationEmail records the state of an invitation's email
	// (ErrNotFound when the invitation is gone). Not audited.
	SetInvitationEmail(ctx context.Context, tokenHash string, e InvitationEmail) error
	// Invitation returns the invitation with that token hash (ErrNotFound),
	// used or not.
	Invitation(ctx context.Context, tokenHash string) (Invitation, error)
	// RedeemInvitation consumes the invitation atomically, registers its user
	// with reg and gives it the invitation's roles: ErrNotFound,
	// ErrInvitationUsed, ErrInvitationExpired (checked against now) or
	// ErrAlreadyRegistered otherwise. It returns the user's primary address.
	// The actor is the end user redeeming it (Kind "user").
	RedeemInvitation(ctx context.Context, tokenHash string, now time.Time, reg Registration, actor Actor) (string, error)

	// Setting returns the named store-wide value, storing make's result
	// first when it has none (every replica gets the same value).
	Setting(ctx context.Context, name string, make func() (string, error)) (string, error)

	// Roles lists the roles sorted by name.
	Roles(ctx context.Context) ([]Role, error)
	// AddRole defines a role (ErrRoleExists; ErrInvalid for an empty name or an
	// unknown permission).
	AddRole(ctx context.Context, r Role, actor Actor) error
	// SetRoles replaces the user's roles (ErrNotFound: a role can only be
	// assigned to a saved user; *UnknownRoleError for undefined names). Role
	// names match case-insensitively and are stored as defined.
	SetRoles(ctx context.Context, address string, roles []string, actor Actor) error

	// CreateToken stores a token (ErrConflict if the name is taken) and returns
	// it with ID and Created set.
	CreateToken(ctx context.Context, t Token, actor Actor) (Token, error)
	// TokenByHash finds a token by its hash (ErrNotFound) with one read. It
	// records LastUsed = at only when the token has not expired at at and its
	// recorded use is TokenUseInterval or more before at; an unknown hash
	// writes nothing.
	TokenByHash(ctx context.Context, hash string, at time.Time) (Token, error)
	// Tokens lists the tokens by name, without hashes.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken deletes a token by name (ErrNotFound).
	RevokeToken(ctx context.Context, name string, actor Actor) error
}
