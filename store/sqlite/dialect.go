package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/store/sqlstore"
)

// dialect is SQLite's: times are Unix nanoseconds (0 is never), booleans
// 0/1, and lists JSON arrays, which json_each reads as a table.
var dialect = &sqlstore.Dialect{
	Name:      "sqlite",
	Precision: time.Nanosecond,
	Time:      func(t time.Time) any { return sqlstore.ToNanos(t) },
	NeverSQL:  "0",
	Never:     int64(0),
	Array:     jsonArray,
	In:        func(col, param, _ string) string { return col + " IN (SELECT value FROM json_each(" + param + "))" },
	Each:      func(param, _ string) string { return "json_each(" + param + ") AS t" },
	// One pass over p1; json_extract reads p2 parsed once (SQLite caches a
	// JSON argument's parse within a statement).
	Zip: func(p1, p2 string) string {
		return "(SELECT x.value AS a, json_extract(" + p2 + ", '$[' || x.key || ']') AS b FROM json_each(" + p1 + ") AS x) AS k"
	},
	ListAgg: func(col, from string) string {
		return "(SELECT json_group_array(" + col + " ORDER BY " + col + " COLLATE BINARY) FROM " + from + ")"
	},
	ListDest: func(dst *[]string) any { return jsonList{dst} },
	Bytes:    " COLLATE BINARY",
	// LIKE folds ASCII case only, as does lower() (no ICU).
	ILike:      "LIKE",
	Fold:       func(x string) string { return "lower(" + x + ")" },
	Domain:     domainOf,
	Unredeemed: "used = 0",
	Classify:   classify,
	MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name    TEXT    NOT NULL,
		applied INTEGER NOT NULL
	)`,
}

// domainOf is the domain of address x: rtrim strips every trailing character
// but '@', leaving x up to its last '@', and what follows is the domain.
func domainOf(x string) string {
	return "substr(" + x + ", length(rtrim(" + x + ", replace(" + x + ", '@', ''))) + 1)"
}

// classify reports a uniqueness violation as a conflict. The checks before
// each write should make this unreachable; the schema constraints are the
// backstop, and what they reject is still a refused change, not a broken store.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		}
	}
	return err
}

// jsonArray is a list parameter: a JSON array, never null.
func jsonArray(list any) any {
	b, _ := json.Marshal(list) // []string and []int64 always marshal
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

// jsonList scans a JSON array of strings; an empty one is nil.
type jsonList struct{ dst *[]string }

// Scan implements sql.Scanner.
func (l jsonList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l.dst = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("cannot read %T as a list", src)
	}
	*l.dst = nil
	if err := json.Unmarshal(b, l.dst); err != nil {
		return fmt.Errorf("decode list: %w", err)
	}
	return nil
}
