package plan

import (
	"fmt"
	"slices"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
)

// Connector is what a diff needs to know about the connector it plans for. Its
// two rules come from the connector's brakes policy (config.Policy), which the
// engine maps here in one place; the rest of that policy (the brakes' limits)
// reaches the plan through Brakes and Builder.Finish.
type Connector struct {
	// Name is the connector's name: the origin of the objects it creates.
	Name string
	// SoftMatch lets a record adopt a manual, csv or outbound object with its address.
	SoftMatch bool
	// MissingRuns is how many consecutive full runs an object may be missing before
	// it is disabled.
	MissingRuns int
	// Owned are the fields the connector feeds.
	Owned Owned
}

// Op is one planned change and the snapshot entry to commit for its anchor once it
// (and every other op of that anchor) has been applied.
type Op struct {
	store.Change
	Entry *state.Entry `json:"-"`
	// HeldFor says why the brakes held the op (empty when it is not held).
	HeldFor string `json:"held_for,omitempty"`
	// revocation marks an update that takes back an alias this run gave an
	// object whose op was released already (see Builder.Release): not a
	// destructive change (nobody had the alias before this run), and due
	// before the next join.
	revocation bool
}

// Result is the plan for one batch of records, or for the objects missing from a run.
type Result struct {
	Ops []Op
	// Entries are snapshot entries to commit whatever happens to the ops (records
	// that needed no change, missing counters).
	Entries     map[string]state.Entry
	Quarantined []Quarantine
	// Warnings are values left out of records that were otherwise planned
	// (an alias another object owns).
	Warnings []Quarantine
	// Unchanged counts records that differed from the snapshot but were found
	// to agree with the store (nothing to write).
	Unchanged int
	// Joined counts records that joined another connector's object through
	// their JoinAnchor (nothing to write: that connector owns the object).
	Joined int
}

func (r *Result) entry(anchor string, e state.Entry) {
	if r.Entries == nil {
		r.Entries = map[string]state.Entry{}
	}
	r.Entries[anchor] = e
}

// Diff plans the changes for a batch of normalised records that differ from the
// snapshot, given the store objects the join found for them (by anchor, or by
// their primary or alias addresses).
func Diff(conn Connector, snap state.Snapshot, records []Record, users []store.User) Result {
	return diff(conn, snap, records, users, nil)
}

// diff is Diff within a run: run holds the addresses the run's earlier records
// claimed, so two records never get one alias (nil: the batch is the run).
func diff(conn Connector, snap state.Snapshot, records []Record, users []store.User, run *runClaims) Result {
	byAnchor := map[string]*store.User{}
	byAddr := map[string]*store.User{}
	for i := range users {
		u := &users[i]
		if u.Origin == conn.Name && u.Anchor != "" {
			byAnchor[u.Anchor] = u
		}
		byAddr[u.Address] = u
		for _, a := range u.Aliases {
			if _, taken := byAddr[a]; !taken {
				byAddr[a] = u
			}
		}
	}
	var res Result
	for _, r := range records {
		if r.Deleted {
			res.tombstone(conn, snap, r)
			continue
		}
		if r.disableOnly {
			res.disableOnly(conn, r, byAnchor[r.Anchor])
			continue
		}
		if u := byAnchor[r.Anchor]; u != nil {
			res.update(conn, snap, res.withhold(conn, r, u, byAddr, run), u, "changed in source")
			continue
		}
		u := byAddr[r.Address]
		if u == nil {
			res.create(conn, res.withhold(conn, r, nil, byAddr, run))
			continue
		}
		if r.JoinAnchor != "" && u.Origin != conn.Name && u.Anchor == r.JoinAnchor && u.Kind == r.Kind {
			// Hybrid: the same person, synchronised by the connector that
			// owns the object (AD); this connector keeps it in its snapshot
			// so it costs nothing next time, and writes nothing.
			res.entry(r.Anchor, newEntry(r))
			res.Joined++
			continue
		}
		if why, fix := refuseMatch(conn, snap, r, u); why != "" {
			res.Quarantined = append(res.Quarantined, Quarantine{Record: r.Ref, Field: "mail", Reason: why, Fix: fix})
			continue
		}
		res.update(conn, snap, res.withhold(conn, r, u, byAddr, run), u, matchReason(conn, u))
	}
	return res
}

// withhold drops the aliases other objects own from a record about to be
// written to target, and reports them.
func (res *Result) withhold(conn Connector, r Record, target *store.User, owners map[string]*store.User, run *runClaims) Record {
	r, warnings := withholdAliases(conn, r, target, owners, run)
	res.Warnings = append(res.Warnings, warnings...)
	return r
}

// disableOnly plans the one thing a quarantined record of a known object still
// says for sure: the source disabled it. Nothing else of the record is applied,
// and the object's snapshot entry stays as it was (the op carries none).
func (res *Result) disableOnly(conn Connector, r Record, u *store.User) {
	if u == nil || !u.Enabled {
		return
	}
	r.Address = u.Address
	res.Ops = append(res.Ops, toggle(conn, r, u, false, "disabled in source (the rest of its record is quarantined and not applied)"))
}

// refuseMatch decides whether a record may take over an object found by address.
func refuseMatch(conn Connector, snap state.Snapshot, r Record, u *store.User) (why, fix string) {
	switch {
	case u.Kind != r.Kind:
		return fmt.Sprintf("address %s already belongs to a %s in the store, but the source object is a %s", r.Address, u.Kind, r.Kind),
			"rename one of them: an address names one object"
	case u.Protected:
		return fmt.Sprintf("address %s belongs to a protected (admin) account, which is never matched by address", r.Address),
			"link the account by hand through the admin API if this is intended"
	case u.Origin == conn.Name:
		if e, ok := snap[u.Anchor]; ok && !e.Gone && e.Missing == 0 {
			return fmt.Sprintf("address %s is already used by another object of this connector (anchor %s)", r.Address, u.Anchor),
				"give each source object its own address"
		}
		return "", ""
	case !isLocalOrigin(u.Origin) && r.JoinAnchor != "":
		return fmt.Sprintf("address %s belongs to an object of connector %q with anchor %s, but this record's join anchor (onPremisesImmutableId) is %s", r.Address, u.Origin, u.Anchor, r.JoinAnchor),
			"check that both connectors read the same directory, or correct the address in one of them"
	case !isLocalOrigin(u.Origin):
		return fmt.Sprintf("address %s belongs to an object synchronised by connector %q", r.Address, u.Origin),
			"remove the object from one connector's scope, or delete the other connector's object first"
	case !conn.SoftMatch:
		return fmt.Sprintf("address %s already exists (origin %s) and soft matching is off", r.Address, u.Origin),
			"turn sync.soft_match on for this connector, or delete the existing user"
	}
	return "", ""
}

func matchReason(conn Connector, u *store.User) string {
	if u.Origin == conn.Name {
		return fmt.Sprintf("re-anchored: the source object was recreated (old anchor %s no longer in the source)", u.Anchor)
	}
	return fmt.Sprintf("soft match: adopting %s user by address", u.Origin)
}

func isLocalOrigin(origin string) bool {
	return origin == store.OriginManual || origin == store.OriginCSV || origin == store.OriginOutbound
}

func newEntry(r Record) state.Entry {
	return state.Entry{Fingerprint: r.Fingerprint, Kind: r.Kind, Address: r.Address, Ref: r.Ref}
}

func (res *Result) create(conn Connector, r Record) {
	e := newEntry(r)
	// Built on the stack and copied at its exact size: a run holds every
	// create of an initial sync until the commit.
	var buf [16]store.FieldChange
	changes := buf[:0]
	for _, f := range fieldOrder {
		if !conn.Owned.Has(f) || !forKind(f, r.Kind) {
			continue
		}
		if v := recordValue(r, f); !isZero(v) {
			changes = append(changes, store.FieldChange{Field: f, After: v})
		}
	}
	if !conn.Owned.Has(store.FieldEnabled) {
		changes = append(changes, store.FieldChange{Field: store.FieldEnabled, After: true})
	}
	res.Ops = append(res.Ops, Op{Change: store.Change{
		Action: store.ActionCreate, Kind: r.Kind, Address: r.Address, Origin: conn.Name, Anchor: r.Anchor,
		Changes: exact(changes), Reason: "new in source",
	}, Entry: &e})
}

func (res *Result) update(conn Connector, snap state.Snapshot, r Record, u *store.User, reason string) {
	e := newEntry(r)
	var changes []store.FieldChange
	if u.Origin != conn.Name {
		changes = append(changes, store.FieldChange{Field: store.FieldOrigin, Before: u.Origin, After: conn.Name})
	}
	if u.Anchor != r.Anchor {
		changes = append(changes, store.FieldChange{Field: store.FieldAnchor, Before: u.Anchor, After: r.Anchor})
	}
	if u.Address != r.Address {
		changes = append(changes, store.FieldChange{Field: store.FieldAddress, Before: u.Address, After: r.Address})
	}
	stored := storedRecord(u)
	for _, f := range fieldOrder {
		if f == store.FieldEnabled || !conn.Owned.Has(f) || !forKind(f, r.Kind) {
			continue
		}
		before, after := recordValue(stored, f), recordValue(r, f)
		if !equal(before, after) {
			changes = append(changes, store.FieldChange{Field: f, Before: before, After: after})
		}
	}
	var ops []Op
	if len(changes) > 0 {
		ops = append(ops, Op{Change: store.Change{Action: store.ActionUpdate, Kind: r.Kind, Address: u.Address,
			Origin: conn.Name, Anchor: r.Anchor, Changes: changes, Reason: reason}})
	}
	prev, wasCached := snap[r.Anchor]
	switch {
	case conn.Owned.Has(store.FieldEnabled) && r.Enabled != u.Enabled:
		ops = append(ops, toggle(conn, r, u, r.Enabled, map[bool]string{true: "enabled in source", false: "disabled in source"}[r.Enabled]))
	case !conn.Owned.Has(store.FieldEnabled) && wasCached && prev.Gone && !u.Enabled:
		ops = append(ops, toggle(conn, r, u, true, "back in source after it went missing"))
	}
	if len(ops) == 0 {
		res.entry(r.Anchor, e)
		res.Unchanged++
		return
	}
	for i := range ops {
		ops[i].Entry = &e
	}
	res.Ops = append(res.Ops, ops...)
}

// forKind says whether an object of kind has field: members are a group's,
// the Microsoft 365 facts a user's.
func forKind(field, kind string) bool {
	switch field {
	case store.FieldMembers:
		return kind == store.KindGroup
	case store.FieldLicensed, store.FieldDirectoryAdmin:
		return kind == store.KindUser
	}
	return true
}

func toggle(conn Connector, r Record, u *store.User, enable bool, reason string) Op {
	action, before := store.ActionDisable, true
	if enable {
		action, before = store.ActionEnable, false
	}
	return Op{Change: store.Change{Action: action, Kind: r.Kind, Address: r.Address, Origin: conn.Name, Anchor: r.Anchor,
		Changes: []store.FieldChange{{Field: store.FieldEnabled, Before: before, After: enable}}, Reason: reason}}
}

// tombstone plans what an incremental read's deletion means: disable now (the
// source said so explicitly), delete only after retention (not planned here).
func (res *Result) tombstone(conn Connector, snap state.Snapshot, r Record) {
	e, ok := snap[r.Anchor]
	if !ok || e.Gone {
		return
	}
	e.Gone, e.Missing = true, conn.MissingRuns
	res.Ops = append(res.Ops, Op{Change: store.Change{Action: store.ActionDisable, Kind: e.Kind, Address: e.Address,
		Origin: conn.Name, Anchor: r.Anchor,
		Changes: []store.FieldChange{{Field: store.FieldEnabled, Before: true, After: false}},
		Reason:  "deleted in source"}, Entry: &e})
}

// Missing plans the disables for a full run: every cached object the run did not
// see has its missing counter raised, and is disabled once the counter reaches
// MissingRuns. The caller must not call it for a failed or suspicious read.
func Missing(conn Connector, snap state.Snapshot, seen func(anchor string) bool) Result {
	anchors := make([]string, 0, len(snap))
	for a := range snap {
		if !seen(a) {
			anchors = append(anchors, a)
		}
	}
	slices.Sort(anchors)
	var res Result
	for _, a := range anchors {
		e := snap[a]
		if e.Gone {
			continue
		}
		e.Missing++
		if e.Missing < conn.MissingRuns {
			res.entry(a, e)
			continue
		}
		e.Gone = true
		res.Ops = append(res.Ops, Op{Change: store.Change{Action: store.ActionDisable, Kind: e.Kind, Address: e.Address,
			Origin: conn.Name, Anchor: a,
			Changes: []store.FieldChange{{Field: store.FieldEnabled, Before: true, After: false}},
			Reason:  fmt.Sprintf("missing from the source in %d consecutive full runs", e.Missing)}, Entry: &e})
	}
	return res
}

func recordValue(r Record, f string) any {
	switch f {
	case store.FieldAliases:
		return nonNil(r.Aliases)
	case store.FieldMembers:
		return nonNil(r.Members)
	case store.FieldEnabled:
		return r.Enabled
	case store.FieldLicensed:
		return r.Licensed
	case store.FieldDirectoryAdmin:
		return r.DirectoryAdmin
	}
	return fieldValue(r, f)
}

// storedRecord views a store object as a Record, so both sides of a field
// comparison are read by the same accessor.
func storedRecord(u *store.User) Record {
	return Record{Kind: u.Kind, Anchor: u.Anchor, Address: u.Address, Aliases: u.Aliases,
		DisplayName: u.DisplayName, GivenName: u.GivenName, Surname: u.Surname, Phone: u.Phone,
		Department: u.Department, Title: u.Title, Enabled: u.Enabled, Members: u.Members,
		Licensed: u.Licensed, DirectoryAdmin: u.DirectoryAdmin}
}

// exact copies changes into a slice of exactly their length (nil for none).
func exact(changes []store.FieldChange) []store.FieldChange {
	if len(changes) == 0 {
		return nil
	}
	return append(make([]store.FieldChange, 0, len(changes)), changes...)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func equal(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	return a == b
}

func isZero(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case []string:
		return len(x) == 0
	case bool:
		return false
	}
	return v == nil
}
