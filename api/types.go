// Package api is dirsync's admin HTTP API under /v1 (see openapi.yaml): users,
// domains, roles, portal logins, CSV imports, sync triggers and run reports.
//
// This file holds the wire types shared by the server and the CLI client
// (api/client), so both sides always agree on the JSON.
package api

import (
	"fmt"
	"time"

	"github.com/dirsync/dirsync/outbound"
)

// ErrorBody is every error response: {"error": {"code", "message", "details"}}.
type ErrorBody struct {
	Error ErrorInfo `json:"error"`
}

// ErrorInfo is the error itself. Code is stable and machine-readable (see the
// Code* constants); Message says what is wrong and how to fix it.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// Error codes. Each bad-input case named in the API's contract has its own.
const (
	CodeBadRequest         = "bad_request"              // 400: malformed JSON, bad query parameter
	CodeUnauthorized       = "unauthorized"             // 401: no or unknown bearer token
	CodeForbidden          = "forbidden"                // 403: token lacks the scope
	CodeNotFound           = "not_found"                // 404: no such user, run, route
	CodeUnknownDomain      = "unknown_domain"           // 422: address outside the internal domains
	CodeDuplicateAddress   = "duplicate_address"        // 409: the address is already a primary address
	CodeAliasClash         = "alias_clash"              // 409: the address is already someone's alias
	CodeDomainExists       = "domain_exists"            // 409
	CodeRoleExists         = "role_exists"              // 409
	CodeUnknownRole        = "unknown_role"             // 422
	CodeUserNotSaved       = "user_not_saved"           // 422: role assigned to an address with no saved user
	CodeWeakPassword       = "weak_password"            // 422
	CodeInvalidCredentials = "invalid_credentials"      // 401: every refused sign-in (unknown address, wrong password, locked, disabled, unregistered)
	CodeAccountLocked      = "account_locked"           // reserved: a locked account is answered invalid_credentials
	CodeAccountDisabled    = "account_disabled"         // reserved: answered invalid_credentials
	CodeNotRegistered      = "not_registered"           // reserved: answered invalid_credentials
	CodeAlreadyRegistered  = "already_registered"       // 409
	CodeInvitationInvalid  = "invitation_invalid"       // 404: no invitation with that token
	CodeInvitationExpired  = "invitation_expired"       // 410
	CodeInvitationUsed     = "invitation_used"          // 410
	CodePasswordChange     = "password_change_required" // reserved, not returned: a login answers must_change_password instead
	CodeValidation         = "validation_failed"        // 422: field-level problems, listed in details
	CodeImportTooLarge     = "import_too_large"         // 413: more than 500 addresses, or a file over 8 MiB
	CodeImportEncoding     = "import_not_utf8"          // 422
	CodeImportInvalid      = "import_invalid"           // 422: row-level problems in details
	CodeImportConflict     = "import_conflict"          // 409: a row was changed by someone else while importing; nothing imported
	CodeUnknownConnector   = "unknown_connector"        // 404
	CodeSyncBusy           = "sync_running"             // 409: a run holds the connector (deciding holds); sync triggers queue instead
	CodeUnsupportedMedia   = "unsupported_media_type"   // 415: a body that is not JSON (CSV for imports)
	CodeTooLarge           = "request_too_large"        // 413: a JSON body over the size limit
	CodeMethodNotAllowed   = "method_not_allowed"       // 405: the path exists, not with this method
	CodeHoldNotFound       = "hold_not_found"           // 404: no held operation with that id
	CodeHoldDecided        = "hold_decided"             // 409: the held operation was already applied, rejected or expired
	CodeHoldExpired        = "hold_expired"             // 409: expired at this decision: no longer planned, or older than holds.max_age
	CodeApplyFailed        = "apply_failed"             // 422: the store refused an approved held operation (also a bulk HoldResult code)
	CodeNotInSource        = "not_in_source"            // 404: explain found no object with that address or anchor
	CodeExplainUnsupported = "explain_unsupported"      // 422: the connector's type cannot read one object
	CodeUnavailable        = "unavailable"              // 503: this process has no sync side (Options.Syncer nil)
	CodeRateLimited        = "rate_limited"             // 429: too many sign-in attempts from one address or on one account (Retry-After)
	CodeBusy               = "busy"                     // 503: too many password checks at once (Retry-After)
	CodeInternal           = "internal"                 // 500: never for bad input
)

// Domain is an internal domain.
type Domain struct {
	Name string `json:"name"`
	// Users counts the users and groups whose primary address is in the domain
	// (read-only: ignored in POST /v1/domains).
	Users int `json:"users"`
}

// DomainList is GET /v1/domains.
type DomainList struct {
	Domains []Domain `json:"domains"`
}

// FieldProblem is one invalid field of a request body (the details of
// validation_failed).
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// User is a user or distribution list as the API shows it. Secrets never appear.
type User struct {
	Address                   string     `json:"address"`
	Kind                      string     `json:"kind"`
	Aliases                   []string   `json:"aliases"`
	DisplayName               string     `json:"display_name"`
	GivenName                 string     `json:"given_name"`
	Surname                   string     `json:"surname"`
	Phone                     string     `json:"phone"`
	Department                string     `json:"department"`
	Title                     string     `json:"title"`
	Enabled                   bool       `json:"enabled"`
	Origin                    string     `json:"origin"`
	Anchor                    string     `json:"anchor,omitempty"`
	Members                   []string   `json:"members,omitempty"`
	Registered                bool       `json:"registered"`
	Locked                    bool       `json:"locked"`
	HasPassword               bool       `json:"has_password"`
	ForceChangePassword       bool       `json:"force_change_password"`
	Roles                     []string   `json:"roles"`
	SupportContact            bool       `json:"support_contact"`
	DefaultImplementationLead bool       `json:"default_implementation_lead"`
	Created                   time.Time  `json:"created"`
	Updated                   time.Time  `json:"updated"`
	LastLogin                 *time.Time `json:"last_login,omitempty"`
	LastLoginError            string     `json:"last_login_error,omitempty"`
	LastSeen                  *time.Time `json:"last_seen,omitempty"`
	// Online: seen within the last OnlineWindow.
	Online bool `json:"online"`
	// Licensed and DirectoryAdmin are the user's Microsoft 365 facts, which an
	// Entra connector synchronises: a licensed mailbox, and an administrator
	// directory role. False for everyone else.
	Licensed       bool `json:"licensed"`
	DirectoryAdmin bool `json:"directory_admin"`
}

// OnlineWindow is how recently a user must have been seen to count as online.
const OnlineWindow = 5 * time.Minute

// UserList is a page of GET /v1/users.
type UserList struct {
	Users      []User `json:"users"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// CreateUser is the body of POST /v1/users. Password, when given, is a temporary
// password: ForceChangePassword defaults to true for it.
type CreateUser struct {
	Address                   string   `json:"address"`
	Kind                      string   `json:"kind,omitempty"` // user (default) or group
	Aliases                   []string `json:"aliases,omitempty"`
	Members                   []string `json:"members,omitempty"`
	DisplayName               string   `json:"display_name,omitempty"`
	GivenName                 string   `json:"given_name,omitempty"`
	Surname                   string   `json:"surname,omitempty"`
	Phone                     string   `json:"phone,omitempty"`
	Department                string   `json:"department,omitempty"`
	Title                     string   `json:"title,omitempty"`
	Enabled                   *bool    `json:"enabled,omitempty"`
	DefaultImplementationLead bool     `json:"default_implementation_lead,omitempty"`
	Password                  string   `json:"password,omitempty"`
	ForceChangePassword       *bool    `json:"force_change_password,omitempty"`
}

// UpdateUser is the body of PATCH /v1/users/{address}: only the fields present
// change. Password sets a temporary password (force change defaults to true).
type UpdateUser struct {
	Aliases                   *[]string `json:"aliases,omitempty"`
	Members                   *[]string `json:"members,omitempty"`
	DisplayName               *string   `json:"display_name,omitempty"`
	GivenName                 *string   `json:"given_name,omitempty"`
	Surname                   *string   `json:"surname,omitempty"`
	Phone                     *string   `json:"phone,omitempty"`
	Department                *string   `json:"department,omitempty"`
	Title                     *string   `json:"title,omitempty"`
	Enabled                   *bool     `json:"enabled,omitempty"`
	DefaultImplementationLead *bool     `json:"default_implementation_lead,omitempty"`
	Password                  *string   `json:"password,omitempty"`
	ForceChangePassword       *bool     `json:"force_change_password,omitempty"`
}

// Register is the body of POST /v1/users/{address}/register (an admin registers
// the user directly).
type Register struct {
	Password            string `json:"password"`
	ForceChangePassword bool   `json:"force_change_password,omitempty"`
	Question            string `json:"security_question"`
	Answer              string `json:"security_answer"`
}

// Invite is the body of POST /v1/users/{address}/invite. With Password,
// Question and Answer set the admin pre-sets the registration and the user only
// confirms it; otherwise the user chooses them when redeeming.
type Invite struct {
	ExpiresIn string `json:"expires_in,omitempty"` // Go duration, default "72h", at most "720h"
	Password  string `json:"password,omitempty"`
	Question  string `json:"security_question,omitempty"`
	Answer    string `json:"security_answer,omitempty"`
	// Roles are given to the user when it registers; it cannot change them.
	Roles []string `json:"roles,omitempty"`
	// SendEmail sends the invitation to the user's address; absent: send
	// when a mail server is configured.
	SendEmail *bool `json:"send_email,omitempty"`
}

// Invitation is the answer to an invite: the token is shown this once.
type Invitation struct {
	Address string    `json:"address"`
	Token   string    `json:"token,omitempty"`
	Expires time.Time `json:"expires"`
	Preset  bool      `json:"preset"`
	Roles   []string  `json:"roles"`
	// Link is the registration page with the token, when server.public_url
	// is set: what the email carries.
	Link  string          `json:"link,omitempty"`
	Email InvitationEmail `json:"email"`
}

// InvitationEmail is the state of an invitation's email.
type InvitationEmail struct {
	// Status: "none" (not emailed), "pending", "sent", "retrying" (Next is
	// the next attempt) or "failed" (re-send it).
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	Sent      *time.Time `json:"sent,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	Next      *time.Time `json:"next_attempt,omitempty"`
}

// OpenInvitation is GET /v1/users/{address}/invitation: the user's unused
// invitation, without its token.
type OpenInvitation struct {
	Address string          `json:"address"`
	Created time.Time       `json:"created"`
	Expires time.Time       `json:"expires"`
	Expired bool            `json:"expired"`
	Preset  bool            `json:"preset"`
	Roles   []string        `json:"roles"`
	Email   InvitationEmail `json:"email"`
}

// ResetQuestion is the body of POST /v1/auth/reset/question.
type ResetQuestion struct {
	Address string `json:"address"`
}

// SecurityQuestion answers POST /v1/auth/reset/question.
type SecurityQuestion struct {
	Question string `json:"security_question"`
}

// Reset is the body of POST /v1/auth/reset: a forgotten password replaced
// with the security answer.
type Reset struct {
	Address     string `json:"address"`
	Answer      string `json:"security_answer"`
	NewPassword string `json:"new_password"`
}

// Redeem is the body of POST /v1/auth/register. For a preset invitation only
// Token is needed.
type Redeem struct {
	Token    string `json:"token"`
	Password string `json:"password,omitempty"`
	Question string `json:"security_question,omitempty"`
	Answer   string `json:"security_answer,omitempty"`
}

// Login is the body of POST /v1/auth/login.
type Login struct {
	Address  string `json:"address"`
	Password string `json:"password"`
}

// LoginResult answers a successful login.
type LoginResult struct {
	Address string `json:"address"`
	// MustChangePassword: the password is temporary; change it with
	// POST /v1/auth/password before doing anything else.
	MustChangePassword bool `json:"must_change_password"`
	// SecurityQuestionRequired: that change must also set a security
	// question and answer (the login has none yet).
	SecurityQuestionRequired bool `json:"security_question_required,omitempty"`
}

// ChangePassword is the body of POST /v1/auth/password. Question and Answer
// are required when the login has none (a first sign-in with a temporary
// password), and replace the current ones when given otherwise.
type ChangePassword struct {
	Address         string `json:"address"`
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
	Question        string `json:"security_question,omitempty"`
	Answer          string `json:"security_answer,omitempty"`
}

// Status is GET /v1/users/{address}/status: one summary of the account.
type Status struct {
	Address        string     `json:"address"`
	Kind           string     `json:"kind"`
	Enabled        bool       `json:"enabled"`
	Registered     bool       `json:"registered"`
	Locked         bool       `json:"locked"`
	FailedLogins   int        `json:"failed_logins"`
	CanLogIn       bool       `json:"can_log_in"`
	Origin         string     `json:"origin"`
	Anchor         string     `json:"anchor,omitempty"`
	LastSync       *SyncTouch `json:"last_sync,omitempty"`
	LastLogin      *time.Time `json:"last_login,omitempty"`
	LastLoginError string     `json:"last_login_error,omitempty"`
	Roles          []string   `json:"roles"`
	SupportContact bool       `json:"support_contact"`
	// Licensed and DirectoryAdmin are the Microsoft 365 facts (User.Licensed):
	// an administrator role for a user from Microsoft 365 needs both.
	Licensed       bool `json:"licensed"`
	DirectoryAdmin bool `json:"directory_admin"`
	// FieldOwners maps each field to who owns it: the connector named by
	// Origin for the fields it maps, "admin" for the rest.
	FieldOwners map[string]string `json:"field_owners"`
	// Quarantined are the user's source records that the latest run of a
	// connector quarantined (not synchronised until fixed in the source).
	Quarantined []QuarantinedRecord `json:"quarantined"`
}

// QuarantinedRecord is a source record of a user (its record names the user's
// address, an alias or its source anchor) that a connector's latest finished
// run quarantined, with why and how to fix it.
type QuarantinedRecord struct {
	Connector string    `json:"connector"`
	RunID     string    `json:"run_id"`
	Time      time.Time `json:"time"` // when the run started
	Record    string    `json:"record"`
	Field     string    `json:"field"`
	Reason    string    `json:"reason"`
	Fix       string    `json:"fix,omitempty"`
}

// SyncTouch is the last sync run that changed a user.
type SyncTouch struct {
	RunID     string    `json:"run_id"`
	Connector string    `json:"connector"`
	Action    string    `json:"action"`
	Time      time.Time `json:"time"`
}

// SetRoles is the body of PUT /v1/users/{address}/roles.
type SetRoles struct {
	Roles []string `json:"roles"`
}

// Role is a role with its permissions.
type Role struct {
	Name           string   `json:"name"`
	Permissions    []string `json:"permissions"`
	SupportContact bool     `json:"support_contact"`
	Default        bool     `json:"default"`
}

// RoleList is GET /v1/roles.
type RoleList struct {
	Roles []Role `json:"roles"`
}

// ImportResult answers a successful POST /v1/imports.
type ImportResult struct {
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Rows are the addresses and what happened to each, in file order.
	Rows []ImportRow `json:"rows"`
}

// ImportRow is one row's outcome: added, updated or unchanged.
type ImportRow struct {
	Row     int    `json:"row"`
	Address string `json:"address"`
	Outcome string `json:"outcome"`
}

// ImportProblem is one row-level error (the details of import_invalid).
type ImportProblem struct {
	Row     int    `json:"row"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

// TriggerSync is the body of POST /v1/syncs. No connectors = all enabled ones.
// With Wait the answer comes when the runs have finished and holds their
// reports; otherwise it comes at once (202) with the run ids to poll.
type TriggerSync struct {
	Connectors []string `json:"connectors,omitempty"`
	DryRun     bool     `json:"dry_run,omitempty"`
	Full       bool     `json:"full,omitempty"`
	Wait       bool     `json:"wait,omitempty"`
}

// Triggered answers POST /v1/syncs.
type Triggered struct {
	Runs []TriggeredRun `json:"runs"`
}

// TriggeredRun is one connector's triggered run. Report is set when the request
// waited. Queued says the connector was running: the run is its pending run,
// which starts when the running one ends, and which every trigger until then
// shares (same RunID). Forwarded says the replica that got the request is not
// the leader and queued the run for the leader; a forwarded run's report stays
// on the leader, so a waiting request gets the run's summary (Run) instead.
type TriggeredRun struct {
	Connector string     `json:"connector"`
	RunID     string     `json:"run_id"`
	Queued    bool       `json:"queued,omitempty"`
	Forwarded bool       `json:"forwarded,omitempty"`
	Report    *RunReport `json:"report,omitempty"`
	Run       *Run       `json:"run,omitempty"`
}

// Run is an entry of GET /v1/runs: a run in progress or pending, or one of the
// state backend's run history. RequestedBy and Triggers are set for runs not
// finished: the sources of the triggers merged into the run ("api", "schedule",
// "forwarded") and how many there were. A pending run's Started is when it was
// first requested.
type Run struct {
	RunID     string         `json:"run_id"`
	Connector string         `json:"connector"`
	Status    RunStatus      `json:"status"`
	Full      bool           `json:"full"`
	DryRun    bool           `json:"dry_run"`
	Started   time.Time      `json:"started"`
	Finished  time.Time      `json:"finished,omitzero"`
	Counts    map[string]int `json:"counts"`
	Error     string         `json:"error,omitempty"`
	// RequestedBy lists distinct sources, in the order first heard.
	RequestedBy []string `json:"requested_by,omitempty"`
	Triggers    int      `json:"triggers,omitempty"`
	// Progress is where a running run is, as the daemon running it last heard
	// from the engine (absent before that, and for runs not running).
	Progress *RunProgress `json:"progress,omitempty"`
}

// RunProgress is a running run's stage and that stage's counts.
type RunProgress struct {
	Stage Stage `json:"stage"`
	// Read counts the records read so far (read and plan).
	Read int `json:"read"`
	// Applied of Total operations are through the store (apply and commit).
	Applied int       `json:"applied"`
	Total   int       `json:"total"`
	Updated time.Time `json:"updated"`
}

// String says where the run is, as the CLI's progress line and the console
// word it: "read 1200 records", "applied 300/1200 changes".
func (p RunProgress) String() string {
	switch p.Stage {
	case StageRead:
		if p.Applied > 0 {
			// Creates and updates go in batch by batch while the source is read.
			return fmt.Sprintf("read %d records, applied %d changes", p.Read, p.Applied)
		}
		return fmt.Sprintf("read %d records", p.Read)
	case StagePlan:
		return fmt.Sprintf("read %d records, planning", p.Read)
	case StageApply:
		return fmt.Sprintf("applied %d/%d changes", p.Applied, p.Total)
	case StageCommit:
		return "committing state"
	}
	return string(p.Stage)
}

// RunList is GET /v1/runs: a page of runs, and the cursor of the next one.
type RunList struct {
	Runs []Run `json:"runs"`
	// NextCursor, passed as cursor, lists the runs after this page ("" when
	// this page is the last).
	NextCursor string `json:"next_cursor,omitempty"`
}

// RunDetail is GET /v1/runs/{id}: the summary, and the full report (operations,
// held, quarantine, errors) while the daemon holds it in memory or the state
// backend keeps it (reports.retention).
type RunDetail struct {
	Run
	Report *RunReport `json:"report,omitempty"`
}

// ReportSenders is the body of POST /v1/senders: the senders of outbound mail,
// as the gateway saw them (bare, <addr> or "Name <addr>").
type ReportSenders struct {
	Senders []string `json:"senders"`
}

// SenderResult is what became of one reported sender.
type SenderResult = outbound.Result

// SendersReport answers POST /v1/senders: one result per sender, in order,
// and the totals.
type SendersReport struct {
	Created int            `json:"created"`
	Exists  int            `json:"exists"`
	Ignored int            `json:"ignored"`
	Results []SenderResult `json:"results"`
}

// Hold is one destructive operation a run held for an admin (GET /v1/holds).
type Hold struct {
	ID        string        `json:"id"`
	Connector string        `json:"connector"`
	RunID     string        `json:"run_id"`
	Reason    string        `json:"reason"`
	Created   time.Time     `json:"created"`
	Action    string        `json:"action"`
	Kind      string        `json:"kind"`
	Address   string        `json:"address"`
	Changes   []FieldChange `json:"changes,omitempty"`
	// Status: pending, applied, rejected or expired.
	Status  HoldStatus `json:"status"`
	Decided time.Time  `json:"decided,omitzero"`
	By      string     `json:"by,omitempty"`
	Error   string     `json:"error,omitempty"`
}

// HoldList answers GET /v1/holds.
type HoldList struct {
	Holds []Hold `json:"holds"`
}

// DecideHolds selects held operations to approve or reject in bulk: the
// listed IDs, or every pending one of a run or of a connector.
type DecideHolds struct {
	IDs       []string `json:"ids,omitempty"`
	RunID     string   `json:"run_id,omitempty"`
	Connector string   `json:"connector,omitempty"`
}

// HoldResult is the outcome of deciding one held operation.
type HoldResult struct {
	ID     string     `json:"id"`
	Status HoldStatus `json:"status,omitempty"`
	// Code is set when the decision was refused: hold_not_found, hold_decided,
	// hold_expired (Error says why; Status is "expired"), or apply_failed
	// (the store refused the approved operation; Error says why).
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// HoldResults answers an approval or a rejection.
type HoldResults struct {
	Results []HoldResult `json:"results"`
}

// AuditActor says who made an audited change: Kind is one of AuditActorKinds;
// Name the connector, token, console user or command; RunID the sync run.
type AuditActor struct {
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	RunID string `json:"run_id,omitempty"`
}

// AuditEntry is one change recorded in the audit log, with each field's value
// before and after it. Secrets (passwords, answers, tokens) are "[redacted]".
type AuditEntry struct {
	ID      int64         `json:"id"`
	Time    time.Time     `json:"time"`
	Actor   AuditActor    `json:"actor"`
	Action  string        `json:"action"`
	Address string        `json:"address"`
	Changes []FieldChange `json:"changes"`
	Reason  string        `json:"reason,omitempty"`
}

// AuditList answers GET /v1/audit: one page, newest first.
type AuditList struct {
	Entries    []AuditEntry `json:"entries"`
	NextCursor string       `json:"next_cursor,omitempty"`
}
