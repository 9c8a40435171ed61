package sqlstore

import (
	"fmt"
	"time"
)

// Dialect is what a backend's SQL and values differ in. The core's
// statements are written once and ask the Dialect only here.
type Dialect struct {
	// Name prefixes errors and logs: "sqlite", "postgres".
	Name string
	// Precision is the finest time the backend's columns keep.
	Precision time.Duration
	// Time is the stored form of t; the zero time means "never" (only
	// nullable columns, or those with a "never" default, ever get it).
	Time func(t time.Time) any
	// NeverSQL is the SQL value a never-set time sorts as, below every real
	// time: listings sort by COALESCE(column, NeverSQL), and a cursor on a
	// zero time holds Never.
	NeverSQL string
	Never    any
	// Array is the parameter form of a list ([]string or []int64) for In and
	// Each; a nil list is an empty one.
	Array func(list any) any
	// In is the condition "col is an element of the Array parameter param",
	// whose elements are SQL type typ (text or bigint).
	In func(col, param, typ string) string
	// Each is a FROM item "t" whose column "value" lists the elements of the
	// Array parameter param.
	Each func(param, typ string) string
	// Zip is a FROM item "k" whose columns "a" and "b" pair the elements of
	// the Array parameters p1 and p2 (of equal length, elements of SQL type
	// text) by position.
	Zip func(p1, p2 string) string
	// ListAgg reads column col of the rows of from (a FROM clause, WHERE
	// included) as one list value, ordered by col's bytes; ListDest is the
	// scan destination that reads it into a []string (nil when empty).
	ListAgg  func(col, from string) string
	ListDest func(dst *[]string) any
	// Bytes is the collation clause that orders text by its bytes.
	Bytes string
	// ILike is the LIKE operator that folds ASCII case (and only that).
	ILike string
	// Fold is the expression comparing as SQL text expression x folded to
	// ASCII lower case, as role names compare.
	Fold func(x string) string
	// Domain is the expression of the domain of the address in SQL text
	// expression x: what follows its last '@', as mailaddr.Domain.
	Domain func(x string) string
	// RowLocks says that reads must lock the rows a write will change (FOR
	// UPDATE); false where LockAccount already excludes every other writer.
	RowLocks bool
	// Unredeemed is the condition on invitations that one was not redeemed.
	Unredeemed string
	// Classify turns what the schema refused into a refused change (wrapping
	// store.ErrConflict or store.ErrInvalid); other errors are returned as
	// they are.
	Classify func(error) error
	// MigrationsTable creates schema_migrations (version, name, applied) if
	// it does not exist; applied holds Time(now).
	MigrationsTable string
}

// forUpdate is the clause that locks the rows a query reads (of the tables
// "of" lists, or all) until the transaction ends, where RowLocks asks for it.
func (d *Dialect) forUpdate(of string) string {
	switch {
	case !d.RowLocks:
		return ""
	case of != "":
		return " FOR UPDATE OF " + of
	}
	return " FOR UPDATE"
}

// timeDest scans a stored time: Unix nanoseconds (0 is never) or a
// timestamp (NULL is never), into UTC.
type timeDest struct{ t *time.Time }

var _ interface{ Scan(any) error } = timeDest{}

// Scan implements sql.Scanner.
func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = FromNanos(v)
	case time.Time:
		*d.t = v.UTC()
	default:
		return fmt.Errorf("cannot read %T as a time", src)
	}
	return nil
}

// scanTime is the scan destination of a time column.
func scanTime(t *time.Time) any { return timeDest{t} }

// FromNanos reads a time stored as Unix nanoseconds; 0 is the zero time
// ("never").
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ToNanos is t stored as Unix nanoseconds; the zero time is 0.
func ToNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
