package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/internal/mailaddr"
	"github.com/dirsync/dirsync/store"
)

// Domains and roles: the store's catalogues.

func (s *server) listDomains(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	names, err := s.st.Domains(r.Context())
	if err != nil {
		return err
	}
	out := DomainList{Domains: make([]Domain, len(names))}
	for i, n := range names {
		out.Domains[i] = Domain{Name: n}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addDomain registers an internal domain; one already registered is 409
// domain_exists (the store itself would take it as a no-op).
func (s *server) addDomain(w http.ResponseWriter, r *http.Request) error {
	var in Domain
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return invalid("name", "required")
	}
	name, err := mailaddr.NormalizeDomain(in.Name)
	if err != nil {
		return invalid("name", err.Error())
	}
	names, err := s.st.Domains(r.Context())
	if err != nil {
		return err
	}
	if slices.Contains(names, name) {
		return &apiError{Status: http.StatusConflict, Code: CodeDomainExists,
			Message: fmt.Sprintf("domain %s is already an internal domain", name)}
	}
	if err := s.st.AddDomain(r.Context(), name, adminActor(r)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, Domain{Name: name})
	return nil
}

func toRole(r store.Role) Role {
	return Role{Name: r.Name, Permissions: nonNil(r.Permissions), SupportContact: store.IsSupportRole(r.Name), Default: r.Default}
}

func (s *server) listRoles(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	roles, err := s.st.Roles(r.Context())
	if err != nil {
		return err
	}
	out := RoleList{Roles: make([]Role, len(roles))}
	for i, ro := range roles {
		out.Roles[i] = toRole(ro)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addRole defines a role. support_contact and default are read-only: the
// first follows from the name, the second only marks the shipped roles.
func (s *server) addRole(w http.ResponseWriter, r *http.Request) error {
	var in Role
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
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
		return &apiError{Status: http.StatusUnprocessableEntity, Code: CodeValidation,
			Message: "the role is not valid: " + probs[0].Field + ": " + probs[0].Message, Details: probs}
	}
	perms := slices.Compact(slices.Sorted(slices.Values(in.Permissions)))
	role := store.Role{Name: name, Permissions: perms}
	if err := s.st.AddRole(r.Context(), role, adminActor(r)); errors.Is(err, store.ErrRoleExists) {
		return &apiError{Status: http.StatusConflict, Code: CodeRoleExists, Err: err,
			Message: fmt.Sprintf("a role named %q already exists (names compare case-insensitively)", name)}
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toRole(role))
	return nil
}
