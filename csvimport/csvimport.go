// Package csvimport reads and validates an admin's CSV import (SPEC §8): the
// template's columns, at most MaxAddresses rows, UTF-8 only. The whole file is
// checked before anything is imported, and every problem is reported with its row
// and column, so an admin fixes the file once instead of row by row.
package csvimport

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/dirsync/dirsync/internal/mailaddr"
)

// MaxAddresses is the most addresses one import may hold.
const MaxAddresses = 500

// The template's columns, in order.
const (
	ColEmail       = "Email"
	ColName        = "Name"
	ColPassword    = "Password"
	ColForceChange = "Force Change Password"
)

var columns = []string{ColEmail, ColName, ColPassword, ColForceChange}

// Template is the downloadable import template: the header and one example row.
func Template() []byte {
	return []byte("Email,Name,Password,Force Change Password\r\njane.doe@example.com,Jane Doe,Temporary-Passw0rd,TRUE\r\n")
}

// Row is one valid import row.
type Row struct {
	// Line is the row's number in the file as a spreadsheet shows it (the header is 1).
	Line        int
	Email       string // normalised
	Name        string
	Password    string // empty: no cloud password is set
	ForceChange bool
}

// Problem is one thing wrong with the file. Row 0 means the file as a whole.
type Problem struct {
	Row     int    `json:"row,omitempty"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	switch {
	case p.Row == 0:
		return p.Message
	case p.Column == "":
		return fmt.Sprintf("row %d: %s", p.Row, p.Message)
	default:
		return fmt.Sprintf("row %d, column %s: %s", p.Row, p.Column, p.Message)
	}
}

// Kinds of Error: a file refused as a whole, or row-level problems.
const (
	KindRows     = ""          // Problems name rows and columns
	KindNotUTF8  = "not_utf8"  // the file is in another encoding
	KindTooLarge = "too_large" // more than MaxAddresses rows
)

// Error lists every problem found; nothing may be imported from such a file.
type Error struct {
	Kind     string // KindRows, KindNotUTF8 or KindTooLarge
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "the import file has a problem: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the import file has %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// Options are the checks that depend on the store.
type Options struct {
	// Internal reports whether a (normalised) domain is an internal domain.
	Internal func(domain string) bool
	// CheckPassword returns why a password is not acceptable for the row's
	// (normalised) address (nil: fine).
	CheckPassword func(password, address string) error
}

// Parse reads and validates a whole import file. It returns the rows only if the
// file has no problem at all; otherwise an *Error with every problem.
func Parse(data []byte, opts Options) ([]Row, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 BOM (Excel's "CSV UTF-8")
	if p, bad := notUTF8(data); bad {
		return nil, &Error{Kind: KindNotUTF8, Problems: []Problem{p}}
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Problems: []Problem{{Message: "the file is empty: start from the template (Email, Name, Password, Force Change Password)"}}}
	}
	if err != nil {
		return nil, &Error{Problems: []Problem{csvProblem(err)}}
	}
	idx, probs := readHeader(header)
	if len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	var rows []Row
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			probs = append(probs, csvProblem(err))
			if len(probs) > 100 {
				break
			}
			continue
		}
		// Only a record read whole has field positions: asking after a
		// parse error (an unterminated quote) panics.
		line, _ := r.FieldPos(0)
		if blank(rec) {
			continue
		}
		row, rowProbs := readRow(line, rec, idx, opts)
		probs = append(probs, rowProbs...)
		if row.Email != "" {
			if first, dup := seen[row.Email]; dup {
				probs = append(probs, Problem{Row: line, Column: ColEmail, Message: fmt.Sprintf("%s is already on row %d: list each address once", row.Email, first)})
			} else {
				seen[row.Email] = line
			}
		}
		rows = append(rows, row)
	}
	if len(rows) > MaxAddresses {
		// The size refusal comes alone: row errors in a file that must be split anyway
		// would only be noise.
		return nil, &Error{Kind: KindTooLarge, Problems: []Problem{{Message: fmt.Sprintf(
			"the file lists %d addresses; an import takes at most %d: split it into batches of %d rows (each with the header) and import them one by one",
			len(rows), MaxAddresses, MaxAddresses)}}}
	}
	if len(rows) == 0 && len(probs) == 0 {
		probs = append(probs, Problem{Message: "the file has a header but no rows: add one row per address"})
	}
	if len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	return rows, nil
}

// readHeader maps the template's columns (case-insensitive, any order) to their
// positions. Email is required; an unknown column is a mistake worth reporting
// (a misspelt "Pasword" would otherwise import users without their password).
func readHeader(header []string) (map[string]int, []Problem) {
	idx := map[string]int{}
	var probs []Problem
	for i, h := range header {
		name := strings.TrimSpace(h)
		known := ""
		for _, c := range columns {
			if strings.EqualFold(name, c) {
				known = c
			}
		}
		switch {
		case name == "":
			probs = append(probs, Problem{Row: 1, Message: fmt.Sprintf("column %d has no name: remove it or name it after the template (%s)", i+1, strings.Join(columns, ", "))})
		case known == "":
			probs = append(probs, Problem{Row: 1, Column: name, Message: fmt.Sprintf("unknown column: the template's columns are %s", strings.Join(columns, ", "))})
		case hasIndex(idx, known):
			probs = append(probs, Problem{Row: 1, Column: known, Message: "the column appears twice: keep one"})
		default:
			idx[known] = i
		}
	}
	if _, ok := idx[ColEmail]; !ok && len(probs) == 0 {
		probs = append(probs, Problem{Row: 1, Column: ColEmail, Message: "missing: the first row must be the template's header (Email, Name, Password, Force Change Password)"})
	}
	return idx, probs
}

func hasIndex(idx map[string]int, col string) bool { _, ok := idx[col]; return ok }

func readRow(line int, rec []string, idx map[string]int, opts Options) (Row, []Problem) {
	get := func(col string) string {
		i, ok := idx[col]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	row := Row{Line: line, Name: get(ColName)}
	var probs []Problem
	bad := func(col, msg string) { probs = append(probs, Problem{Row: line, Column: col, Message: msg}) }

	if raw := get(ColEmail); raw == "" {
		bad(ColEmail, "missing: every row needs an address")
	} else if addr, err := mailaddr.Normalize(raw); err != nil {
		bad(ColEmail, fmt.Sprintf("%q is not a valid address: %v", raw, err))
	} else if opts.Internal != nil && !opts.Internal(mailaddr.Domain(addr)) {
		bad(ColEmail, fmt.Sprintf("domain %s is not an internal domain of this directory: add the domain first, or remove the row", mailaddr.Domain(addr)))
	} else {
		row.Email = addr
	}
	if _, ok := idx[ColPassword]; ok && len(rec) > idx[ColPassword] {
		row.Password = rec[idx[ColPassword]] // passwords are taken as typed, spaces included
	}
	if row.Password != "" && opts.CheckPassword != nil {
		if err := opts.CheckPassword(row.Password, row.Email); err != nil {
			bad(ColPassword, err.Error()) // the password itself is never echoed
		}
	}
	switch v := get(ColForceChange); {
	case v == "" || strings.EqualFold(v, "FALSE"):
	case strings.EqualFold(v, "TRUE"):
		row.ForceChange = true
	default:
		bad(ColForceChange, fmt.Sprintf("%q: write TRUE or FALSE", v))
	}
	if row.ForceChange && row.Password == "" {
		bad(ColForceChange, "TRUE needs a Password on the same row (the temporary password the user must change)")
	}
	return row, probs
}

// notUTF8 finds the first byte that is not UTF-8 and explains it, showing what the
// byte would be in Windows-1252 (the usual culprit: "£" saved by an old Excel).
func notUTF8(data []byte) (Problem, bool) {
	if utf8.Valid(data) {
		return Problem{}, false
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			shown := ""
			if dec, err := charmap.Windows1252.NewDecoder().Bytes(data[i : i+1]); err == nil {
				shown = fmt.Sprintf(" (%q in Windows-1252)", string(dec))
			}
			return Problem{Row: line, Message: fmt.Sprintf(
				"the file is not UTF-8: byte 0x%02X at character %d of this row%s; save it as \"CSV UTF-8\" and import it again",
				data[i], col, shown)}, true
		}
		if data[i] == '\n' {
			line, col = line+1, 0
		}
		i += size
		col++
	}
	return Problem{}, false
}

func csvProblem(err error) Problem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Problem{Row: pe.StartLine, Message: fmt.Sprintf("%v at character %d: quote fields that contain commas, and double any quote inside them", pe.Err, pe.Column)}
	}
	return Problem{Message: err.Error()}
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}
