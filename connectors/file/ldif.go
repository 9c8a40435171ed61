package file

import (
	"context"
	"fmt"
	"io"

	"github.com/go-ldap/ldif"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// readLDIF streams entries one at a time (ldif.UnmarshalEntries), so memory does not
// grow with the file. A syntax error anywhere fails the whole read: a half-read
// directory must never look like a directory that lost its other half.
func readLDIF(ctx context.Context, r io.Reader, path string, m dirmap.Mapping, log *zap.Logger, emit connectors.Emit) error {
	var l ldif.LDIF
	n, skipped := 0, 0
	for entry, err := range ldif.UnmarshalEntries(r, &l) {
		if err != nil {
			return fmt.Errorf("ldif %s: %w", path, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		n++
		if entry.Entry == nil {
			return fmt.Errorf("ldif %s: entry %d is a change record (changetype); export the directory with slapcat or ldifde instead", path, n)
		}
		rec, skip, merr := m.Record(entry.Entry.DN, dirmap.FromLDAP(entry.Entry))
		if skip != "" {
			skipped++
			log.Debug("entry skipped", zap.String("dn", entry.Entry.DN), zap.String("reason", string(skip)))
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
