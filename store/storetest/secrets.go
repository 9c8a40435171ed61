package storetest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/store"
)

// Helpers of the account tests: made-up secrets, a fixed clock, and values
// normalised so that backends that read times back in another location still
// compare equal.

// adminActor makes account changes unless a test says otherwise.
var adminActor = store.Actor{Kind: "admin", Name: "root"}

// t0 is the account tests' clock: whole seconds in UTC, which every backend's
// time precision keeps exactly.
var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// pwHash is a made-up argon2id hash in PHC form; tag makes it unique and easy to
// find in the audit log.
func pwHash(tag string) string {
	enc := base64.RawStdEncoding.EncodeToString
	return "$argon2id$v=19$m=65536,t=3,p=4$" + enc([]byte("salt-"+tag)) + "$" + enc([]byte("digest-"+tag))
}

// tokenHash is the hex SHA-256 of token, as callers store high-entropy tokens.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// registration is a complete registration whose secrets are tagged with tag.
func registration(tag string, forceChange bool) store.Registration {
	return store.Registration{
		PasswordHash: pwHash("password-" + tag),
		ForceChange:  forceChange,
		Question:     "Name of your first pet (" + tag + ")?",
		AnswerHash:   pwHash("answer-" + tag),
	}
}

// secretsOf lists the secrets of regs, for requireNoSecrets.
func secretsOf(regs ...store.Registration) []string {
	var out []string
	for _, r := range regs {
		out = append(out, r.PasswordHash, r.AnswerHash)
	}
	return out
}

// requireNoSecrets fails when any audit entry, serialised as JSON, shows one of
// secrets or, for a PHC hash, its digest alone.
func (e *env) requireNoSecrets(secrets ...string) {
	e.t.Helper()
	entries := e.audit(store.AuditQuery{Limit: 10000})
	require.NotEmpty(e.t, entries)
	for _, en := range entries {
		b, err := json.Marshal(en)
		require.NoError(e.t, err)
		for _, s := range secrets {
			require.NotEmpty(e.t, s)
			needles := []string{s}
			if i := strings.LastIndexByte(s, '$'); i >= 0 && i < len(s)-1 {
				needles = append(needles, s[i+1:])
			}
			for _, n := range needles {
				require.NotContains(e.t, string(b), n, "audit entry %d (%s %s) shows a secret", en.ID, en.Action, en.Address)
			}
		}
	}
}

// requireRedacted fails unless one of en's values is store.Redacted: the entry
// records that a secret changed without showing it.
func requireRedacted(t *testing.T, en store.AuditEntry) {
	t.Helper()
	for _, c := range en.Changes {
		if c.Before == store.Redacted || c.After == store.Redacted {
			return
		}
	}
	require.Failf(t, "no redacted value", "%s entry of %s has no %q value: %+v", en.Action, en.Address, store.Redacted, en.Changes)
}

// auditOf returns addr's audit entries with action a, newest first.
func (e *env) auditOf(addr string, a store.Action) []store.AuditEntry {
	e.t.Helper()
	var out []store.AuditEntry
	for _, en := range e.audit(store.AuditQuery{Address: addr, Limit: 1000}) {
		if en.Action == a {
			out = append(out, en)
		}
	}
	return out
}

// auditAction returns every audit entry with action a, newest first. Role and
// token entries are found this way: their Address is a name, not an email
// address a backend might normalise in the query.
func (e *env) auditAction(a store.Action) []store.AuditEntry {
	e.t.Helper()
	var out []store.AuditEntry
	for _, en := range e.audit(store.AuditQuery{Limit: 10000}) {
		if en.Action == a {
			out = append(out, en)
		}
	}
	return out
}

// account returns the Account that User shows for addr.
func (e *env) account(addr string) store.Account {
	e.t.Helper()
	return normAccount(e.user(addr).Account)
}

// creds returns addr's credentials.
func (e *env) creds(addr string) store.Credentials {
	e.t.Helper()
	c, err := e.s.Credentials(e.ctx, addr)
	require.NoError(e.t, err, "credentials of %s", addr)
	c.Account = normAccount(c.Account)
	return c
}

// normAccount puts times in UTC and an empty role list as nil.
func normAccount(a store.Account) store.Account {
	a.LastLogin, a.LastSeen = a.LastLogin.UTC(), a.LastSeen.UTC()
	if len(a.Roles) == 0 {
		a.Roles = nil
	}
	return a
}

// normInvitation puts times in UTC.
func normInvitation(inv store.Invitation) store.Invitation {
	inv.Created, inv.Expires, inv.Used = inv.Created.UTC(), inv.Expires.UTC(), inv.Used.UTC()
	return inv
}

// register registers addr with reg as adminActor.
func (e *env) register(addr string, reg store.Registration) {
	e.t.Helper()
	require.NoError(e.t, e.s.Register(e.ctx, addr, reg, adminActor), "register %s", addr)
}

// lock fails addr's logins until the account locks.
func (e *env) lock(addr string) {
	e.t.Helper()
	var a store.Account
	for i := range store.LockAfter {
		var err error
		a, err = e.s.LoginFailed(e.ctx, addr, "wrong password", t0.Add(time.Duration(i)*time.Second))
		require.NoError(e.t, err, "login failure of %s", addr)
	}
	require.True(e.t, a.Locked, "%s after %d failures", addr, store.LockAfter)
}
