package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/dirsync/dirsync/accounts/password"
	"github.com/dirsync/dirsync/csvimport"
	"github.com/dirsync/dirsync/store"
)

// CSV import (SPEC §8): the whole file is validated, against the store too,
// before anything is written; then new addresses are created (origin csv) and
// existing ones get the file's name and password where they differ, all in one
// store transaction (store.Import): a row failing at write time leaves nothing.

func (s *server) importTemplate(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="dirsync-import-template.csv"`)
	_, err := w.Write(s.ImportTemplate())
	return err
}

// ImportTemplate is the CSV import's template file.
func (s *Service) ImportTemplate() []byte { return csvimport.Template() }

// Import row outcomes.
const (
	outcomeAdded     = "added"
	outcomeUpdated   = "updated"
	outcomeUnchanged = "unchanged"
)

func (s *server) importCSV(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	switch mt, err := mediaType(r); {
	case err != nil:
		return err
	case mt != "text/csv" && mt != "application/csv":
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia,
			Message: fmt.Sprintf("send the import file as the body with Content-Type: text/csv, not %q", r.Header.Get("Content-Type"))}
	}
	body, err := readBody(w, r, MaxImportBody, "import file")
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == CodeTooLarge {
			ae.Code = CodeImportTooLarge
			ae.Message += fmt.Sprintf(": an import takes at most %d addresses; split the file into batches", csvimport.MaxAddresses)
		}
		return err
	}
	result, err := s.Import(r.Context(), adminActor(r), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, result)
	return nil
}

// Import validates the CSV file body, against the store too, and imports it
// as actor, all or nothing. The caller reads body and bounds its size
// (MaxImportBody). The audit records an import as actor kind "import", named
// after actor (the token, or the console's administrator), so
// `dirsync audit --actor import` finds every import.
func (s *Service) Import(ctx context.Context, actor store.Actor, body []byte) (ImportResult, error) {
	actor.Kind = "import"
	if len(body) > MaxImportBody {
		return ImportResult{}, &apiError{Status: http.StatusRequestEntityTooLarge, Code: CodeImportTooLarge,
			Message: fmt.Sprintf("the import file is larger than %d bytes: an import takes at most %d addresses; split the file into batches",
				MaxImportBody, csvimport.MaxAddresses)}
	}
	domains, err := s.st.Domains(ctx)
	if err != nil {
		return ImportResult{}, err
	}
	internal := map[string]bool{}
	for _, d := range domains {
		internal[d] = true
	}
	rows, err := csvimport.Parse(body, csvimport.Options{
		Internal:      func(d string) bool { return internal[d] },
		CheckPassword: password.Check,
	})
	if err != nil {
		return ImportResult{}, importError(err)
	}

	// One batched lookup for the whole file, not a query per row.
	emails := make([]string, len(rows))
	for i, row := range rows {
		emails[i] = row.Email
	}
	found, err := s.st.Lookup(ctx, "", nil, emails)
	if err != nil {
		return ImportResult{}, err
	}
	byAddress := map[string]store.User{}
	for _, u := range found {
		byAddress[u.Address] = u
		for _, a := range u.Aliases {
			byAddress[a] = u
		}
	}
	existing := map[string]store.User{}
	var probs []csvimport.Problem
	for _, row := range rows {
		u, ok := byAddress[row.Email]
		switch {
		case ok && u.Address != row.Email:
			probs = append(probs, csvimport.Problem{Row: row.Line, Column: csvimport.ColEmail, Message: fmt.Sprintf(
				"%s is an alias of %s: an import lists independent users; change aliases through the admin API", row.Email, u.Address)})
		case ok:
			existing[row.Email] = u
			if u.Kind == store.KindGroup && row.Password != "" {
				probs = append(probs, csvimport.Problem{Row: row.Line, Column: csvimport.ColPassword,
					Message: row.Email + " is a distribution list, which has no password: leave the cell empty"})
			}
		}
	}
	if len(probs) > 0 {
		return ImportResult{}, &csvimport.Error{Problems: probs}
	}

	const reason = "CSV import"
	result := ImportResult{Rows: make([]ImportRow, len(rows))}
	var changes []store.Change
	var changed []int // the row index of each change
	for i, row := range rows {
		result.Rows[i] = ImportRow{Row: row.Line, Address: row.Email, Outcome: outcomeUnchanged}
		u, ok := existing[row.Email]
		switch {
		case !ok:
			var fields []store.FieldChange
			if row.Name != "" {
				fields = append(fields, store.FieldChange{Field: store.FieldDisplayName, After: row.Name})
			}
			changes = append(changes, store.Change{Action: store.ActionCreate, Kind: store.KindUser,
				Address: row.Email, Origin: store.OriginCSV, Changes: fields, Reason: reason})
			changed = append(changed, i)
		case row.Name != "" && row.Name != u.DisplayName:
			changes = append(changes, store.Change{Action: store.ActionUpdate, Kind: u.Kind, Address: u.Address,
				Changes: []store.FieldChange{{Field: store.FieldDisplayName, Before: u.DisplayName, After: row.Name}}, Reason: reason})
			changed = append(changed, i)
		}
	}
	// Passwords are verified and hashed before the write, so the slow part
	// holds no transaction open; then everything is written at once.
	var passwords []store.PasswordChange
	var pwRows []int // the row index of each password
	for i, row := range rows {
		if row.Password == "" {
			continue
		}
		pc, set, err := s.importPassword(ctx, row, existing[row.Email])
		if err != nil {
			return ImportResult{}, fmt.Errorf("row %d (%s) password: %w", row.Line, row.Email, err)
		}
		if set {
			passwords = append(passwords, pc)
			pwRows = append(pwRows, i)
		}
	}
	if len(changes)+len(passwords) > 0 {
		out, err := s.st.Import(ctx, store.ImportRequest{Actor: actor, Changes: changes, Passwords: passwords})
		var ie *store.ImportError
		if errors.As(err, &ie) {
			return ImportResult{}, importRefused(ie, rows, changed, pwRows)
		}
		if err != nil {
			return ImportResult{}, err
		}
		for j, o := range out {
			i := changed[j]
			if o.Applied {
				result.Rows[i].Outcome = outcomeUpdated
				if _, ok := existing[rows[i].Email]; !ok {
					result.Rows[i].Outcome = outcomeAdded
				}
			}
		}
		for _, i := range pwRows {
			if result.Rows[i].Outcome == outcomeUnchanged {
				result.Rows[i].Outcome = outcomeUpdated
			}
		}
	}
	for _, row := range result.Rows {
		switch row.Outcome {
		case outcomeAdded:
			result.Added++
		case outcomeUpdated:
			result.Updated++
		default:
			result.Unchanged++
		}
	}
	return result, nil
}

// importPassword prepares a row's password: nothing when the user (cur;
// zero for a new one) already has it with the same force-change flag, the
// flag alone when only that differs, the new hash otherwise.
func (s *Service) importPassword(ctx context.Context, row csvimport.Row, cur store.User) (store.PasswordChange, bool, error) {
	pc := store.PasswordChange{Address: row.Email, ForceChange: row.ForceChange}
	if cur.Account.HasPassword {
		same, err := s.acct.PasswordMatches(ctx, row.Email, row.Password)
		if err != nil {
			return pc, false, err
		}
		if same {
			return pc, cur.Account.ForceChange != row.ForceChange, nil
		}
	}
	hash, err := s.acct.HashTemporaryPassword(ctx, row.Email, row.Password)
	if err != nil {
		return pc, false, err
	}
	pc.Hash = hash
	return pc, true, nil
}

// importRefused explains a write the store refused (someone changed a row's
// address since the file was checked): which row, which column, what, and
// that nothing was imported.
func importRefused(ie *store.ImportError, rows []csvimport.Row, changed, pwRows []int) error {
	idx, col := changed, csvimport.ColEmail
	if ie.Password {
		idx, col = pwRows, csvimport.ColPassword
	}
	row := rows[idx[ie.Index]]
	p := csvimport.Problem{Row: row.Line, Column: col, Message: fmt.Sprintf(
		"%s was changed by someone else during the import (%v): check it, then import the file again", row.Email, ie.Err)}
	return &apiError{Status: http.StatusConflict, Code: CodeImportConflict,
		Message: "nothing was imported: " + p.String(),
		Details: []ImportProblem{{Row: p.Row, Column: p.Column, Message: p.Message}}, Err: ie}
}

// importError gives the file-level refusals their own codes: not UTF-8, and
// more addresses than one import takes.
func importError(err error) error {
	var ce *csvimport.Error
	if !errors.As(err, &ce) || len(ce.Problems) == 0 {
		return err
	}
	p := ce.Problems[0]
	details := []ImportProblem{{Row: p.Row, Column: p.Column, Message: p.Message}}
	switch ce.Kind {
	case csvimport.KindNotUTF8:
		return &apiError{Status: http.StatusUnprocessableEntity, Code: CodeImportEncoding,
			Message: "nothing was imported: " + p.String(), Details: details, Err: err}
	case csvimport.KindTooLarge:
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: CodeImportTooLarge,
			Message: "nothing was imported: " + p.Message, Details: details, Err: err}
	}
	return err
}
