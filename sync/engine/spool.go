package engine

import (
	"bufio"
	"fmt"
	"os"
)

// spool keeps byte strings by key on disk, in a temporary file removed when
// it is closed, so that what a run may need again only in rare cases (the
// source record of an operation that fails) costs memory per key, not per
// byte. Without a usable temporary directory it keeps them in memory.
type spool struct {
	f    *os.File
	w    *bufio.Writer
	size int64
	at   map[string]spoolRef
	mem  map[string][]byte // the fallback
	err  error             // the first write error: later reads say so
}

type spoolRef struct {
	off int64
	n   int
}

func newSpool() *spool {
	s := &spool{at: map[string]spoolRef{}}
	f, err := os.CreateTemp("", "dirsync-run-*.spool")
	if err != nil {
		s.mem = map[string][]byte{}
		return s
	}
	// Nobody else needs the name: unlinked at once, the file goes with the
	// process however the run ends.
	_ = os.Remove(f.Name())
	s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
	return s
}

// put stores v under key, replacing an earlier value.
func (s *spool) put(key string, v []byte) {
	if s.mem != nil {
		s.mem[key] = v
		return
	}
	if s.err != nil {
		return
	}
	if _, err := s.w.Write(v); err != nil {
		s.err = err
		return
	}
	s.at[key] = spoolRef{off: s.size, n: len(v)}
	s.size += int64(len(v))
}

// get returns the value stored under key.
func (s *spool) get(key string) ([]byte, bool, error) {
	if s.mem != nil {
		v, ok := s.mem[key]
		return v, ok, nil
	}
	ref, ok := s.at[key]
	if !ok {
		return nil, false, s.err
	}
	if s.err != nil {
		return nil, false, fmt.Errorf("temporary file: %w", s.err)
	}
	if err := s.w.Flush(); err != nil {
		s.err = err
		return nil, false, fmt.Errorf("temporary file: %w", err)
	}
	v := make([]byte, ref.n)
	if _, err := s.f.ReadAt(v, ref.off); err != nil {
		return nil, false, fmt.Errorf("temporary file: %w", err)
	}
	return v, true, nil
}

func (s *spool) close() {
	if s != nil && s.f != nil {
		_ = s.f.Close() // unlinked already: closing frees it
		s.f = nil
	}
}
