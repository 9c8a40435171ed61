package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// AuditActorKinds are the kinds of actor the audit log records, the values
// GET /v1/audit's actor parameter accepts (alone or as kind:name).
var AuditActorKinds = []string{"sync", "admin", "import", "outbound", "system", "user", "cli", "login"}

// AuditActions are the actions the audit log records, the values GET
// /v1/audit's action parameter accepts: every store.Action.
var AuditActions = []store.Action{
	store.ActionCreate, store.ActionUpdate, store.ActionDisable, store.ActionEnable, store.ActionDelete,
	store.ActionAddDomain, store.ActionSetPassword, store.ActionRegister, store.ActionUnregister,
	store.ActionInvite, store.ActionRedeem, store.ActionLock, store.ActionUnlock, store.ActionSetRoles,
	store.ActionAddRole, store.ActionCreateToken, store.ActionRevokeToken,
}

// auditParams are GET /v1/audit's query parameters.
var auditParams = []string{"address", "actor", "action", "connector", "run", "since", "until", "limit", "cursor"}

// auditCursor is what next_cursor encodes: the page after ends before ID.
type auditCursor struct {
	BeforeID int64 `json:"before_id"`
}

// Audit is GET /v1/audit: the audit log, newest first, filtered by q's
// parameters (all optional; an unknown, repeated or malformed one is 400):
// address (an address or alias, read as its primary address; a domain, role
// or token name as it is), actor (a kind of AuditActorKinds, or kind:name),
// action (one of AuditActions), connector (the sync actor of that name), run
// (a run id), since and until (RFC 3339; since <= time < until), limit
// (1..1000, default 100) and cursor (the previous page's next_cursor, with the
// same filters).
func (s *Service) Audit(ctx context.Context, q url.Values) (AuditList, error) {
	if err := checkQuery(q, auditParams...); err != nil {
		return AuditList{}, err
	}
	aq, err := s.auditQuery(ctx, q)
	if err != nil {
		return AuditList{}, err
	}
	limit := aq.Limit
	aq.Limit++ // one more tells whether there is a next page
	entries, err := s.st.Audit(ctx, aq)
	if err != nil {
		return AuditList{}, err
	}
	out := AuditList{Entries: make([]AuditEntry, 0, min(len(entries), limit))}
	if len(entries) > limit {
		entries = entries[:limit]
		out.NextCursor = encodeAuditCursor(entries[limit-1].ID)
	}
	for _, e := range entries {
		out.Entries = append(out.Entries, toAuditEntry(e))
	}
	return out, nil
}

// auditQuery reads GET /v1/audit's parameters into the store's query.
func (s *Service) auditQuery(ctx context.Context, q url.Values) (store.AuditQuery, error) {
	aq := store.AuditQuery{RunID: q.Get("run")}
	var err error
	if a := q.Get("address"); a != "" {
		if aq.Address, err = s.auditAddress(ctx, a); err != nil {
			return aq, err
		}
	}
	if a := q.Get("actor"); a != "" {
		kind, name, named := strings.Cut(a, ":")
		if !slices.Contains(AuditActorKinds, kind) || (named && name == "") {
			return aq, badRequest("actor=%q: use a kind (%s), or kind:name such as sync:corp",
				a, strings.Join(AuditActorKinds, ", "))
		}
		aq.ActorKind, aq.ActorName = kind, name
	}
	if c := q.Get("connector"); c != "" {
		if aq.ActorKind != "" && (aq.ActorKind != "sync" || (aq.ActorName != "" && aq.ActorName != c)) {
			return aq, badRequest("connector=%q: it means actor=sync:%s, and actor=%q asks for another; give one of them",
				c, c, q.Get("actor"))
		}
		aq.ActorKind, aq.ActorName = "sync", c
	}
	if a := q.Get("action"); a != "" {
		if !slices.Contains(AuditActions, store.Action(a)) {
			names := make([]string, len(AuditActions))
			for i, x := range AuditActions {
				names[i] = string(x)
			}
			return aq, badRequest("action=%q: use one of %s", a, strings.Join(names, ", "))
		}
		aq.Action = store.Action(a)
	}
	if aq.Since, err = timeParam(q, "since"); err != nil {
		return aq, err
	}
	if aq.Until, err = timeParam(q, "until"); err != nil {
		return aq, err
	}
	if !aq.Since.IsZero() && !aq.Until.IsZero() && !aq.Until.After(aq.Since) {
		return aq, badRequest("until=%q: must be after since=%q (since is included, until is not)",
			q.Get("until"), q.Get("since"))
	}
	if aq.Limit, err = intParam(q, "limit", 100, 1, 1000); err != nil {
		return aq, err
	}
	if c := q.Get("cursor"); c != "" {
		if aq.BeforeID, err = decodeAuditCursor(c); err != nil {
			return aq, err
		}
	}
	return aq, nil
}

// auditAddress is the address the audit log keeps entries about a under: a
// user's or group's primary address when a is one of its addresses, a
// normalised address otherwise (the object may be gone); a value without an
// @ is a domain, role or token name, kept as given (IDN domains in ASCII).
func (s *Service) auditAddress(ctx context.Context, a string) (string, error) {
	if !strings.Contains(a, "@") {
		if d, err := mailaddr.NormalizeDomain(a); err == nil && !isASCII(a) {
			return d, nil
		}
		return a, nil
	}
	addr, err := mailaddr.Normalize(a)
	if err != nil {
		return "", badRequest("address=%q: %v", a, err)
	}
	u, err := s.st.User(ctx, addr)
	switch {
	case err == nil:
		return u.Address, nil
	case errors.Is(err, store.ErrNotFound):
		return addr, nil
	}
	return "", err
}

func isASCII(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return false
		}
	}
	return true
}

// timeParam reads an RFC 3339 time (zero when absent).
func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("%s=%q: use an RFC 3339 time such as 2026-01-02T15:04:05Z", name, v)
	}
	return t, nil
}

func encodeAuditCursor(beforeID int64) string {
	body := `{"before_id":` + strconv.FormatInt(beforeID, 10) + `}` // auditCursor's JSON
	return base64.RawURLEncoding.EncodeToString([]byte(body))
}

func decodeAuditCursor(c string) (int64, error) {
	bad := badRequest("cursor=%q: not a next_cursor of GET /v1/audit; start again without cursor", c)
	body, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, bad
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var cur auditCursor
	if err := dec.Decode(&cur); err != nil || dec.More() || cur.BeforeID <= 0 {
		return 0, bad
	}
	return cur.BeforeID, nil
}

// toAuditEntry is the API's view of an audit entry; the store has already
// put store.Redacted in place of every secret.
func toAuditEntry(e store.AuditEntry) AuditEntry {
	out := AuditEntry{
		ID: e.ID, Time: e.Time, Action: string(e.Action), Address: e.Address, Reason: e.Reason,
		Actor:   AuditActor{Kind: e.Actor.Kind, Name: e.Actor.Name, RunID: e.Actor.RunID},
		Changes: make([]FieldChange, len(e.Changes)),
	}
	for i, c := range e.Changes {
		out.Changes[i] = FieldChange{Field: c.Field, Before: c.Before, After: c.After}
	}
	return out
}

func (s *server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	out, err := s.Audit(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
