package engine

import (
	"context"
	"fmt"
	"path"
	"slices"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

// Protection names the accounts sync never disables or deletes without an
// admin's approval (config `protected:`): addresses, and role-name glob
// patterns (path.Match syntax). Objects flagged protected in the store are
// protected as well.
type Protection struct {
	Addresses []string
	Roles     []string
}

// SetProtection replaces the protected accounts; runs that start afterwards
// use the new list (a configuration reload).
func (e *Engine) SetProtection(p Protection) {
	norm := make([]string, 0, len(p.Addresses))
	for _, a := range p.Addresses {
		if n, err := mailaddr.Normalize(a); err == nil {
			norm = append(norm, n)
		}
	}
	e.protect.Store(&Protection{Addresses: norm, Roles: slices.Clone(p.Roles)})
}

// protection is the current list (none before SetProtection).
func (e *Engine) protection() *Protection {
	if p := e.protect.Load(); p != nil {
		return p
	}
	return &Protection{}
}

// protectedBecause says why u may not be disabled or deleted by sync without
// approval ("" if it may).
func (pr *Protection) protectedBecause(u store.User) string {
	switch {
	case u.Protected:
		return "the account is flagged protected in the store"
	case slices.Contains(pr.Addresses, u.Address):
		return fmt.Sprintf("%s is listed in protected.addresses", u.Address)
	}
	for _, role := range u.Account.Roles {
		for _, pat := range pr.Roles {
			if ok, _ := path.Match(pat, role); ok {
				return fmt.Sprintf("the account holds role %q, protected by protected.roles %q", role, pat)
			}
		}
	}
	return ""
}

// protect holds for approval the disables and deletes of protected accounts,
// whether or not the brakes held them: sync never takes a protected account's
// access away on its own, and never drops the source's word either (an
// administrator disabled in the directory must lose access once someone
// confirms it). They are reported in Protected as well as in Held.
func (r *run) protect(ctx context.Context, p *plan.Plan) error {
	var anchors, addresses []string
	for _, ops := range [][]plan.Op{p.Ops, p.Held} {
		for _, op := range ops {
			if removesAccess(op) {
				anchors = append(anchors, op.Anchor)
				addresses = append(addresses, op.Address)
			}
		}
	}
	if len(anchors) == 0 {
		return nil
	}
	users, err := r.e.store.Lookup(ctx, r.job.Name, anchors, addresses)
	if err != nil {
		return fmt.Errorf("look up the accounts to disable, to hold protected ones: %w", err)
	}
	pr := r.e.protection()
	why := map[string]string{} // by anchor, and by address for objects without one
	for _, u := range users {
		if reason := pr.protectedBecause(u); reason != "" {
			if u.Origin == r.job.Name && u.Anchor != "" {
				why[u.Anchor] = reason
			}
			why["@"+u.Address] = reason
		}
	}
	if len(why) == 0 {
		return nil
	}
	protectedBecause := func(op plan.Op) (string, bool) {
		if !removesAccess(op) {
			return "", false
		}
		reason, ok := why[op.Anchor]
		if !ok {
			reason, ok = why["@"+op.Address]
		}
		return reason, ok
	}
	report := func(op plan.Op, reason string) {
		r.rep.Protected = append(r.rep.Protected, Operation{Change: op.Change, Outcome: "held", Error: reason})
		r.log.Warn("protected account held for approval", zap.String("address", op.Address),
			zap.String("action", string(op.Action)), zap.String("why", op.Reason), zap.String("protected", reason))
	}
	for i, op := range p.Held {
		if reason, ok := protectedBecause(op); ok {
			// The protection outlasts whatever else held it (the brakes): it is
			// the reason an admin is asked.
			p.Held[i].HeldFor = protectedHold(op, reason)
			report(op, reason)
		}
	}
	keep := p.Ops[:0]
	for _, op := range p.Ops {
		reason, ok := protectedBecause(op)
		if !ok {
			keep = append(keep, op)
			continue
		}
		op.HeldFor = protectedHold(op, reason)
		p.Held = append(p.Held, op)
		report(op, reason)
	}
	p.Ops = keep
	if n := len(r.rep.Protected); n > 0 {
		why := fmt.Sprintf("%d disable(s) or delete(s) of protected accounts wait for an admin's approval (protected:)", n)
		if p.HoldReason == "" {
			p.HoldReason = why
		} else {
			p.HoldReason += "; " + why
		}
	}
	return nil
}

// removesAccess reports whether op is one protect holds.
func removesAccess(op plan.Op) bool {
	return op.Action == store.ActionDisable || op.Action == store.ActionDelete
}

// protectedHold is the held_for reason of a protected account's operation.
func protectedHold(op plan.Op, reason string) string {
	return fmt.Sprintf("protected account: %s; sync does not %s it unless an admin approves", reason, op.Action)
}
