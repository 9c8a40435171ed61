package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dirsync/dirsync/state"
)

var _ state.Reports = (*Backend)(nil)

// reportRecord is how a report is stored. Body travels as []byte (base64 in
// JSON) because encoding/json compacts and HTML-escapes a json.RawMessage.
type reportRecord struct {
	Connector string    `json:"connector"`
	Started   time.Time `json:"started"`
	Body      []byte    `json:"body"`
}

// reportKey is a report's key. Reports are looked up by run ID alone, so the
// key carries no connector hash tag.
func (b *Backend) reportKey(id string) string { return b.prefix + ":report:" + id }

// SaveReport stores r in its own key, which Redis expires after retention.
func (b *Backend) SaveReport(ctx context.Context, r state.StoredReport, retention time.Duration) error {
	if r.ID == "" {
		return errors.New("save report: empty run ID")
	}
	if retention <= 0 {
		return fmt.Errorf("save report %q: retention %s is not positive", r.ID, retention)
	}
	v, err := json.Marshal(reportRecord{Connector: r.Connector, Started: r.Started, Body: r.Body})
	if err != nil {
		return fmt.Errorf("encode report %q: %w", r.ID, err)
	}
	if err := b.rdb.Set(ctx, b.reportKey(r.ID), v, retention).Err(); err != nil {
		return b.wrap(fmt.Sprintf("save report %q", r.ID), err)
	}
	return nil
}

// Report returns the report with that ID, or ErrNotFound when there is none or
// its key expired.
func (b *Backend) Report(ctx context.Context, id string) (state.StoredReport, error) {
	v, err := b.rdb.Get(ctx, b.reportKey(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return state.StoredReport{}, fmt.Errorf("report %q: %w", id, state.ErrNotFound)
	}
	if err != nil {
		return state.StoredReport{}, b.wrap(fmt.Sprintf("report %q", id), err)
	}
	var rec reportRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return state.StoredReport{}, fmt.Errorf("report %q: decode: %w", id, err)
	}
	return state.StoredReport{ID: id, Connector: rec.Connector, Started: rec.Started, Body: rec.Body}, nil
}
