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

// Protection names the accounts sync never disables or deletes (config
// `protected:`): addresses, and role-name glob patterns (path.Match syntax).
// Objects flagged protected in the store are protected as well.
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

// protectedBecause says why u may not be disabled or deleted by sync ("" if it may).
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

// protect takes the disables and deletes of protected accounts out of the
// plan (applied or held alike) and reports them with outcome "protected":
// sync never takes a protected account's access away, an admin does.
func (r *run) protect(ctx context.Context, p *plan.Plan) error {
	var anchors, addresses []string
	for _, ops := range [][]plan.Op{p.Ops, p.Held} {
		for _, op := range ops {
			if op.Action == store.ActionDisable || op.Action == store.ActionDelete {
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
		return fmt.Errorf("look up the accounts to disable, to spare protected ones: %w", err)
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
	spare := func(ops []plan.Op) []plan.Op {
		keep := ops[:0]
		for _, op := range ops {
			reason, ok := why[op.Anchor]
			if !ok {
				reason, ok = why["@"+op.Address]
			}
			if !ok || (op.Action != store.ActionDisable && op.Action != store.ActionDelete) {
				keep = append(keep, op)
				continue
			}
			r.rep.Protected = append(r.rep.Protected, Operation{Change: op.Change, Outcome: "protected",
				Error: reason + ": not " + string(op.Action) + "d by sync; do it by hand if it is meant"})
			r.log.Warn("protected account spared", zap.String("address", op.Address), zap.String("action", string(op.Action)),
				zap.String("why", op.Reason), zap.String("protected", reason))
		}
		return keep
	}
	p.Ops = spare(p.Ops)
	p.Held = spare(p.Held)
	return nil
}
