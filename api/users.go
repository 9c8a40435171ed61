package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// toUser is the API's view of a stored object: no secret exists on it.
func toUser(u store.User, now time.Time) User {
	out := User{
		Address: u.Address, Kind: u.Kind, Aliases: nonNil(u.Aliases), DisplayName: u.DisplayName,
		GivenName: u.GivenName, Surname: u.Surname, Phone: u.Phone, Department: u.Department,
		Title: u.Title, Enabled: u.Enabled, Origin: u.Origin, Anchor: u.Anchor, Members: u.Members,
		Registered: u.Account.Registered, Locked: u.Account.Locked, HasPassword: u.Account.HasPassword,
		ForceChangePassword: u.Account.ForceChange, Roles: nonNil(u.Account.Roles),
		SupportContact: u.Account.SupportContact(), DefaultImplementationLead: u.Account.DefaultLead,
		Licensed: u.Licensed, DirectoryAdmin: u.DirectoryAdmin,
		Created: u.Created, Updated: u.Updated, LastLoginError: u.Account.LastLoginError,
		LastLogin: timePtr(u.Account.LastLogin), LastSeen: timePtr(u.Account.LastSeen),
	}
	out.Online = !u.Account.LastSeen.IsZero() && now.Sub(u.Account.LastSeen) < OnlineWindow
	return out
}

// EntraOrigin says whether origin names a connector that synchronises the
// Microsoft 365 facts (store.FieldLicensed, store.FieldDirectoryAdmin): an
// Entra connector. False without a sync side.
func (s *Service) EntraOrigin(origin string) bool {
	return s.syncer != nil && origin != "" && s.syncer.FieldOwner(origin, store.FieldLicensed)
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// User is the object whose primary address or alias is address.
func (s *Service) User(ctx context.Context, address string) (User, error) {
	u, err := s.lookup(ctx, address)
	if err != nil {
		return User{}, err
	}
	return toUser(u, s.now()), nil
}

// usersParams are GET /v1/users' query parameters.
var usersParams = []string{"q", "letter", "registration", "status", "domain", "kind", "origin", "sort", "order", "limit", "cursor"}

// ListUsers is GET /v1/users: q holds its query parameters, checked as the
// API checks them (an unknown or repeated one is 400).
func (s *Service) ListUsers(ctx context.Context, q url.Values) (UserList, error) {
	if err := checkQuery(q, usersParams...); err != nil {
		return UserList{}, err
	}
	lq, err := listQuery(q)
	if err != nil {
		return UserList{}, err
	}
	users, next, err := s.st.Users(ctx, lq)
	if errors.Is(err, store.ErrInvalid) {
		return UserList{}, badRequest("%s", trimInvalid(err))
	}
	if err != nil {
		return UserList{}, err
	}
	out := UserList{Users: make([]User, len(users)), NextCursor: next}
	now := s.now()
	for i, u := range users {
		out.Users[i] = toUser(u, now)
	}
	return out, nil
}

// listQuery reads GET /v1/users' parameters into the store's query.
func listQuery(q url.Values) (store.ListQuery, error) {
	lq := store.ListQuery{Search: q.Get("q"), Letter: q.Get("letter"), Origin: q.Get("origin"), Sort: q.Get("sort")}
	switch v := q.Get("registration"); v {
	case "", "registered":
		lq.Registration = "registered"
	case "unregistered":
		lq.Registration = v
	case "all":
	default:
		return lq, badRequest("registration=%q: use registered (the default), unregistered or all", v)
	}
	switch v := q.Get("status"); v {
	case "", "all":
	case "enabled", "disabled", "locked":
		lq.Status = v
	default:
		return lq, badRequest("status=%q: use enabled, disabled, locked or all (the default)", v)
	}
	switch v := q.Get("kind"); v {
	case "", store.KindUser, store.KindGroup:
		lq.Kind = v
	default:
		return lq, badRequest("kind=%q: use user or group", v)
	}
	var err error
	if d := q.Get("domain"); d != "" {
		if lq.Domain, err = mailaddr.NormalizeDomain(d); err != nil {
			return lq, badRequest("domain=%q: %v", d, err)
		}
	}
	switch v := q.Get("order"); v {
	case "", "asc":
	case "desc":
		lq.Desc = true
	default:
		return lq, badRequest("order=%q: use asc or desc", v)
	}
	if lq.Limit, err = intParam(q, "limit", 100, 1, 1000); err != nil {
		return lq, err
	}
	if lq, err = store.ValidateListQuery(lq); err != nil {
		return lq, badRequest("%s", trimInvalid(err))
	}
	if c := q.Get("cursor"); c != "" {
		if _, err := store.DecodeCursor(c, lq.Sort, lq.Desc); err != nil {
			return lq, badRequest("%s", trimInvalid(err))
		}
		lq.Cursor = c
	}
	return lq, nil
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	out, err := s.ListUsers(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	u, err := s.User(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// CreateUser creates a manual user or group in an internal domain, with an
// optional temporary password.
func (s *Service) CreateUser(ctx context.Context, actor store.Actor, in CreateUser) (User, error) {
	if in.Address == "" {
		return User{}, invalid("address", "required")
	}
	addr, err := mailaddr.Normalize(in.Address)
	if err != nil {
		return User{}, invalid("address", err.Error())
	}
	kind := in.Kind
	switch kind {
	case "":
		kind = store.KindUser
	case store.KindUser, store.KindGroup:
	default:
		return User{}, invalid("kind", "use user or group")
	}
	if in.Password != "" {
		if kind == store.KindGroup {
			return User{}, invalid("password", "a distribution list has no password")
		}
		if err := s.acct.CheckPassword(in.Password, addr); err != nil {
			return User{}, err
		}
	} else if in.ForceChangePassword != nil {
		return User{}, invalid("force_change_password", "needs a password (the temporary password to change)")
	}
	// The store treats a create of an existing manual object as a re-apply;
	// through the API it is a duplicate.
	switch cur, err := s.st.User(ctx, addr); {
	case err == nil:
		return User{}, &store.ConflictError{Address: addr, Owner: cur.Address, AsAlias: cur.Address != addr}
	case !errors.Is(err, store.ErrNotFound):
		return User{}, err
	}
	var fields []store.FieldChange
	set := func(field string, v any, ok bool) {
		if ok {
			fields = append(fields, store.FieldChange{Field: field, After: v})
		}
	}
	set(store.FieldAliases, in.Aliases, len(in.Aliases) > 0)
	set(store.FieldMembers, in.Members, len(in.Members) > 0)
	set(store.FieldDisplayName, in.DisplayName, in.DisplayName != "")
	set(store.FieldGivenName, in.GivenName, in.GivenName != "")
	set(store.FieldSurname, in.Surname, in.Surname != "")
	set(store.FieldPhone, in.Phone, in.Phone != "")
	set(store.FieldDepartment, in.Department, in.Department != "")
	set(store.FieldTitle, in.Title, in.Title != "")
	set(store.FieldEnabled, in.Enabled != nil && *in.Enabled, in.Enabled != nil)
	set(store.FieldDefaultLead, true, in.DefaultImplementationLead)
	err = s.apply(ctx, actor, store.Change{Action: store.ActionCreate, Kind: kind, Address: addr,
		Origin: store.OriginManual, Changes: fields, Reason: "created through the admin API"})
	if err != nil {
		return User{}, err
	}
	if in.Password != "" {
		if err := s.acct.SetTemporaryPassword(ctx, addr, in.Password, in.ForceChangePassword, actor); err != nil {
			return User{}, err
		}
	}
	return s.User(ctx, addr)
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) error {
	var in CreateUser
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	u, err := s.CreateUser(r.Context(), adminActor(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

// UpdateUser changes the fields set in in: field updates, then enable or
// disable, then the password.
func (s *Service) UpdateUser(ctx context.Context, actor store.Actor, address string, in UpdateUser) (User, error) {
	cur, err := s.lookup(ctx, address)
	if err != nil {
		return User{}, err
	}
	if in.Password != nil {
		if *in.Password == "" {
			return User{}, invalid("password", "empty: to remove the portal login, unregister the user")
		}
		if cur.Kind == store.KindGroup {
			return User{}, invalid("password", "a distribution list has no password")
		}
		if err := s.acct.CheckPassword(*in.Password, cur.Address); err != nil {
			return User{}, err
		}
	}
	var fields []store.FieldChange
	set := func(field string, v any, ok bool) {
		if ok {
			fields = append(fields, store.FieldChange{Field: field, After: v})
		}
	}
	set(store.FieldAliases, deref(in.Aliases), in.Aliases != nil)
	set(store.FieldMembers, deref(in.Members), in.Members != nil)
	for _, f := range []struct {
		field string
		v     *string
	}{
		{store.FieldDisplayName, in.DisplayName}, {store.FieldGivenName, in.GivenName},
		{store.FieldSurname, in.Surname}, {store.FieldPhone, in.Phone},
		{store.FieldDepartment, in.Department}, {store.FieldTitle, in.Title},
	} {
		if f.v != nil {
			set(f.field, *f.v, true)
		}
	}
	if in.DefaultImplementationLead != nil {
		set(store.FieldDefaultLead, *in.DefaultImplementationLead, true)
	}
	const reason = "changed through the admin API"
	var changes []store.Change
	if len(fields) > 0 {
		changes = append(changes, store.Change{Action: store.ActionUpdate, Kind: cur.Kind, Address: cur.Address,
			Changes: fields, Reason: reason})
	}
	if in.Enabled != nil {
		action := store.ActionDisable
		if *in.Enabled {
			action = store.ActionEnable
		}
		changes = append(changes, store.Change{Action: action, Kind: cur.Kind, Address: cur.Address, Reason: reason})
	}
	if err := s.apply(ctx, actor, changes...); err != nil {
		return User{}, err
	}
	switch {
	case in.Password != nil:
		err = s.acct.SetTemporaryPassword(ctx, cur.Address, *in.Password, in.ForceChangePassword, actor)
	case in.ForceChangePassword != nil:
		err = s.acct.SetForceChange(ctx, cur.Address, *in.ForceChangePassword, actor)
	}
	if err != nil {
		return User{}, err
	}
	// An update may have renamed nothing, but aliases may have moved: read the
	// object back by its primary address.
	return s.User(ctx, cur.Address)
}

func (s *server) updateUser(w http.ResponseWriter, r *http.Request) error {
	var in UpdateUser
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	u, err := s.UpdateUser(r.Context(), adminActor(r), r.PathValue("address"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func deref(p *[]string) []string {
	if p == nil || *p == nil {
		return []string{}
	}
	return *p
}

// DeleteUser disables the user (the record is kept, as a sync would); with
// purge it deletes it, and answers nil.
func (s *Service) DeleteUser(ctx context.Context, actor store.Actor, address string, purge bool) (*User, error) {
	cur, err := s.lookup(ctx, address)
	if err != nil {
		return nil, err
	}
	if addr, _ := mailaddr.Normalize(address); addr != cur.Address {
		// Deleting by an alias would hit its owner: too easy to do by mistake.
		return nil, &apiError{Status: http.StatusConflict, Code: CodeAliasClash,
			Message: addr + " is an alias of " + cur.Address + ": name the primary address to disable or delete it"}
	}
	if purge {
		if err := s.apply(ctx, actor, store.Change{Action: store.ActionDelete, Kind: cur.Kind, Address: cur.Address,
			Reason: "deleted through the admin API"}); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if err := s.apply(ctx, actor, store.Change{Action: store.ActionDisable, Kind: cur.Kind, Address: cur.Address,
		Reason: "disabled through the admin API (DELETE without purge)"}); err != nil {
		return nil, err
	}
	u, err := s.User(ctx, cur.Address)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// deleteUser is DELETE /v1/users/{address}[?purge=true].
func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "purge")
	if err != nil {
		return err
	}
	purge, err := boolParam(q, "purge", false)
	if err != nil {
		return err
	}
	u, err := s.DeleteUser(r.Context(), adminActor(r), r.PathValue("address"), purge)
	if err != nil {
		return err
	}
	if u == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, *u)
	return nil
}
