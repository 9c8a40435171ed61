package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// Domains and roles: the store's catalogues.

// Domains lists the internal domains with how many objects have their
// primary address in each.
func (s *Service) Domains(ctx context.Context) (DomainList, error) {
	names, err := s.st.Domains(ctx)
	if err != nil {
		return DomainList{}, err
	}
	counts, err := s.st.DomainCounts(ctx)
	if err != nil {
		return DomainList{}, fmt.Errorf("count users per domain: %w", err)
	}
	out := DomainList{Domains: make([]Domain, len(names))}
	for i, n := range names {
		out.Domains[i] = Domain{Name: n, Users: counts[n]}
	}
	return out, nil
}

func (s *server) listDomains(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	out, err := s.Domains(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// AddDomain registers an internal domain; one already registered is 409
// domain_exists (the store itself would take it as a no-op). in.Users is
// read-only and ignored.
func (s *Service) AddDomain(ctx context.Context, actor store.Actor, in Domain) (Domain, error) {
	if strings.TrimSpace(in.Name) == "" {
		return Domain{}, invalid("name", "required")
	}
	name, err := mailaddr.NormalizeDomain(in.Name)
	if err != nil {
		return Domain{}, invalid("name", err.Error())
	}
	names, err := s.st.Domains(ctx)
	if err != nil {
		return Domain{}, err
	}
	if slices.Contains(names, name) {
		return Domain{}, &apiError{Status: http.StatusConflict, Code: CodeDomainExists,
			Message: fmt.Sprintf("domain %s is already an internal domain", name)}
	}
	if err := s.st.AddDomain(ctx, name, actor); err != nil {
		return Domain{}, err
	}
	// Objects may already have addresses in it (synced or kept from before).
	counts, err := s.st.DomainCounts(ctx)
	if err != nil {
		return Domain{}, fmt.Errorf("count users per domain: %w", err)
	}
	return Domain{Name: name, Users: counts[name]}, nil
}

func (s *server) addDomain(w http.ResponseWriter, r *http.Request) error {
	var in Domain
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	d, err := s.AddDomain(r.Context(), adminActor(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func toRole(r store.Role) Role {
	return Role{Name: r.Name, Permissions: nonNil(r.Permissions), SupportContact: store.IsSupportRole(r.Name), Default: r.Default}
}

// Roles lists the defined roles.
func (s *Service) Roles(ctx context.Context) (RoleList, error) {
	roles, err := s.st.Roles(ctx)
	if err != nil {
		return RoleList{}, err
	}
	out := RoleList{Roles: make([]Role, len(roles))}
	for i, ro := range roles {
		out.Roles[i] = toRole(ro)
	}
	return out, nil
}

func (s *server) listRoles(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	out, err := s.Roles(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// AddRole defines a role. support_contact and default are read-only: the
// first follows from the name, the second only marks the shipped roles.
func (s *Service) AddRole(ctx context.Context, actor store.Actor, in Role) (Role, error) {
	name := strings.TrimSpace(in.Name)
	var probs []FieldProblem
	if name == "" {
		probs = append(probs, FieldProblem{Field: "name", Message: "required"})
	}
	if in.Default {
		probs = append(probs, FieldProblem{Field: "default", Message: "read-only: only the roles every store ships with are default roles"})
	}
	for _, p := range in.Permissions {
		if !slices.Contains(store.Permissions, p) {
			probs = append(probs, FieldProblem{Field: "permissions",
				Message: fmt.Sprintf("unknown permission %q: use %s", p, strings.Join(store.Permissions, ", "))})
		}
	}
	if len(probs) > 0 {
		return Role{}, &apiError{Status: http.StatusUnprocessableEntity, Code: CodeValidation,
			Message: "the role is not valid: " + probs[0].Field + ": " + probs[0].Message, Details: probs}
	}
	perms := slices.Compact(slices.Sorted(slices.Values(in.Permissions)))
	role := store.Role{Name: name, Permissions: perms}
	if err := s.st.AddRole(ctx, role, actor); errors.Is(err, store.ErrRoleExists) {
		return Role{}, &apiError{Status: http.StatusConflict, Code: CodeRoleExists, Err: err,
			Message: fmt.Sprintf("a role named %q already exists (names compare case-insensitively)", name)}
	} else if err != nil {
		return Role{}, err
	}
	return toRole(role), nil
}

func (s *server) addRole(w http.ResponseWriter, r *http.Request) error {
	var in Role
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	ro, err := s.AddRole(r.Context(), adminActor(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ro)
	return nil
}
