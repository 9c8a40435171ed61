package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/dirsync/dirsync/connectors"
)

var _ connectors.Checker = (*source)(nil)

// Check implements connectors.Checker. A file has no connection to test, so it
// reads the whole file as a run would, emitting nothing: a syntax error on the
// last line shows now rather than at the first run.
func (s *source) Check(ctx context.Context) (string, error) {
	users, groups, invalid := 0, 0, 0
	err := s.Read(ctx, func(r connectors.Record) error {
		if r.Kind == connectors.KindGroup {
			groups++
		} else {
			users++
		}
		if r.Invalid != nil {
			invalid++
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: check path (a relative path is taken from the config file's folder)", err)
	}
	if err != nil {
		return "", err
	}
	line := fmt.Sprintf("read %s: %s, %s", s.cfg.Path, count(users, "user"), count(groups, "group"))
	if invalid > 0 {
		line += fmt.Sprintf(" (%s with a bad value, which sync will quarantine)", count(invalid, "record"))
	}
	return line, nil
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
