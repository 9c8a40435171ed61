package postgres

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlstore"
)

// dialect is PostgreSQL's: timestamptz times (NULL is never), text[] lists
// and array parameters.
var dialect = &sqlstore.Dialect{
	Name:      "postgres",
	Precision: time.Microsecond,
	Time: func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Truncate(time.Microsecond)
	},
	NeverSQL: `'-infinity'::timestamptz`,
	Never:    pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true},
	Array:    nonNil,
	In:       func(col, param, typ string) string { return col + " = ANY(" + param + "::" + typ + "[])" },
	Each:     func(param, typ string) string { return "unnest(" + param + "::" + typ + "[]) AS t(value)" },
	Zip:      func(p1, p2 string) string { return "unnest(" + p1 + "::text[], " + p2 + "::text[]) AS k(a, b)" },
	ListAgg: func(col, from string) string {
		return "ARRAY(SELECT " + col + " FROM " + from + " ORDER BY " + col + ` COLLATE "C")`
	},
	ListDest: func(dst *[]string) any { return dst },
	Bytes:    ` COLLATE "C"`,
	// Under the "C" collation ILIKE and lower() fold ASCII only, as SQLite's
	// LIKE and lower() do.
	ILike:      "ILIKE",
	Fold:       func(x string) string { return `lower(CAST(` + x + ` AS text) COLLATE "C")` },
	Domain:     domainOf,
	RowLocks:   true,
	Unredeemed: "used IS NULL",
	Classify:   classify,
	MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY,
		name    text NOT NULL,
		applied timestamptz NOT NULL DEFAULT now()
	)`,
}

// domainOf is the domain of address x, what follows its last '@' (split_part
// counts from the end only from PostgreSQL 14 on).
func domainOf(x string) string { return "reverse(split_part(reverse(" + x + "), '@', 1))" }

// classify reports what the schema refused as a refused change rather than a
// broken store. The checks before each write should make a uniqueness violation
// unreachable (the constraints are the backstop); text PostgreSQL cannot store
// (a NUL byte, invalid UTF-8) or index (a huge anchor) is one bad record, which
// must not stop the rest of the batch.
func classify(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case "22021", "22P05", "54000": // character_not_in_repertoire, untranslatable_character, program_limit_exceeded
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	return err
}

// nonNil makes a nil list an empty one, so it is sent as an empty array
// rather than NULL.
func nonNil(list any) any {
	switch v := list.(type) {
	case []string:
		if v == nil {
			return []string{}
		}
	case []int64:
		if v == nil {
			return []int64{}
		}
	}
	return list
}
