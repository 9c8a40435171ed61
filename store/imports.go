package store

import "fmt"

// ImportRequest is an admin's CSV import: object changes and passwords that
// are written all together or not at all, so a failure half-way never leaves
// users created without the passwords the file gave them.
type ImportRequest struct {
	Actor   Actor
	Changes []Change
	// Passwords are set after the changes, so a user the import creates can
	// get one.
	Passwords []PasswordChange
}

// PasswordChange sets a user's password hash and force-change flag; an empty
// Hash keeps the current password and sets the flag only.
type PasswordChange struct {
	Address     string
	Hash        string
	ForceChange bool
}

// ImportError is why an import wrote nothing: the step at Index (of Changes,
// or of Passwords when Password) was refused with Err.
type ImportError struct {
	Index    int
	Password bool
	Err      error
}

func (e *ImportError) Error() string {
	if e.Password {
		return fmt.Sprintf("import password %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("import change %d: %v", e.Index, e.Err)
}

// Unwrap makes errors.Is see the refusal (ErrConflict, ErrNotFound...).
func (e *ImportError) Unwrap() error { return e.Err }
