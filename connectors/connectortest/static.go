package connectortest

import (
	"bytes"
	"context"
	"sync"

	"github.com/dirsync/dirsync/connectors"
)

// Static is an in-memory source for tests of what reads sources (the engine,
// the runner, the API, the CLI): it emits the records it is given, can fail
// after them and can hold a read in progress. It keeps the connector contract
// (it passes RunTests and, as IncrementalStatic, RunIncrementalTests), so what a
// test sees of it a real connector could do.
//
// Set the fields before a read starts; change them only between reads.
type Static struct {
	// Records are what every full read emits, in order.
	Records []connectors.Record
	// Err ends every full read once Records were emitted: a source that lost
	// its connection after the last page.
	Err error

	// The fields below matter only to IncrementalStatic.

	// Changes are what ReadChanges emits from any cursor this source gave out
	// (a fixed script: set them again, or to nil, for the next run).
	Changes []connectors.Record
	// Expired makes ReadChanges refuse every cursor with ErrCursorExpired.
	Expired bool
	// ChangesErr ends ReadChanges from a cursor once Changes were emitted.
	ChangesErr error

	// Gate, when set, makes every read wait until it is closed (or the read's
	// context ends), so a test can hold a run in progress; close it to let
	// the reads through.
	Gate chan struct{}
	// Reading, when set, is closed as the first read begins (before Gate), so
	// a test knows a run is in progress.
	Reading chan struct{}
	// GateAfter, when positive, moves Read's wait for Gate (and the closing
	// of Reading) to after that many Records: a run held mid-read.
	GateAfter int

	reading sync.Once
}

var _ connectors.Source = (*Static)(nil)

// Read emits Records, then returns Err. It stops with the context's error as
// soon as the context ends, as every connector must.
func (s *Static) Read(ctx context.Context, emit connectors.Emit) error {
	held := min(max(s.GateAfter, 0), len(s.Records))
	if err := emitAll(ctx, s.Records[:held], emit); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := emitAll(ctx, s.Records[held:], emit); err != nil {
		return err
	}
	return s.Err
}

// Close closes nothing: the source holds no connection.
func (s *Static) Close() error { return nil }

// begin signals Reading and waits for Gate.
func (s *Static) begin(ctx context.Context) error {
	if s.Reading != nil {
		s.reading.Do(func() { close(s.Reading) })
	}
	if s.Gate != nil {
		select {
		case <-s.Gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

func emitAll(ctx context.Context, recs []connectors.Record, emit connectors.Emit) error {
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// IncrementalStatic is Static with connectors.Incremental: a separate type, so
// a test chooses whether the engine finds the capability.
//
// Its cursors are "c1" after a full read, and one '+' more after each read of
// Changes ("c1+", "c1++"), so a test can tell which read a stored cursor came
// from; any other cursor is refused with ErrCursorExpired, as a real
// connector refuses one it never gave out.
type IncrementalStatic struct{ *Static }

var (
	_ connectors.Source      = IncrementalStatic{}
	_ connectors.Incremental = IncrementalStatic{}
)

// firstCursor is the cursor of a full read.
var firstCursor = []byte("c1")

// ReadChanges reads Records from a nil cursor (a full read), and Changes from
// a cursor it gave out. A read cut short gives no cursor.
func (s IncrementalStatic) ReadChanges(ctx context.Context, cursor []byte, emit connectors.Emit) ([]byte, error) {
	if cursor == nil {
		if err := s.Read(ctx, emit); err != nil {
			return nil, err
		}
		return bytes.Clone(firstCursor), nil
	}
	if s.Expired || !validCursor(cursor) {
		return nil, connectors.ErrCursorExpired
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := emitAll(ctx, s.Changes, emit); err != nil {
		return nil, err
	}
	if s.ChangesErr != nil {
		return nil, s.ChangesErr
	}
	return append(bytes.Clone(cursor), '+'), nil
}

func validCursor(c []byte) bool {
	rest, ok := bytes.CutPrefix(c, firstCursor)
	return ok && len(bytes.Trim(rest, "+")) == 0
}
