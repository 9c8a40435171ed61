package file

import (
	"context"
	"io"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// readLDIF streams entries one at a time (ldifEntries), so memory does not grow
// with the file. A syntax error anywhere fails the whole read: a half-read
// directory must never look like a directory that lost its other half.
func readLDIF(ctx context.Context, r io.Reader, path string, m dirmap.Mapping, log *zap.Logger, emit connectors.Emit) error {
	n, skipped := 0, 0
	for e, err := range ldifEntries(r, path) {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		n++
		rec, skip, merr := m.Record(e.entry.DN, dirmap.FromLDAP(e.entry))
		if skip != "" {
			skipped++
			log.Debug("entry skipped", zap.String("dn", e.entry.DN), zap.String("reason", string(skip)))
			continue
		}
		if merr != nil {
			rec.Invalid = &connectors.FieldError{Field: "attributes", Message: merr.Error()}
		}
		if err := emit(rec); err != nil {
			return err
		}
	}
	log.Debug("ldif read", zap.Int("entries", n), zap.Int("skipped", skipped))
	return nil
}
