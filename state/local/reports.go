package local

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dirsync/dirsync/state"
)

// pruneBatch bounds how many expired reports one SaveReport deletes, so a save
// stays cheap even after a long pause; the rest go with the next saves.
const pruneBatch = 64

var (
	bucketReports   = []byte("reports")
	bucketReportExp = []byte("reportexp")
)

var _ state.Reports = (*Backend)(nil)

// reportRecord is how a report is stored. Body travels as []byte (base64 in
// JSON) because encoding/json compacts and HTML-escapes a json.RawMessage.
type reportRecord struct {
	Connector string    `json:"connector"`
	Started   time.Time `json:"started"`
	Expires   time.Time `json:"expires"`
	Body      []byte    `json:"body"`
}

// expKey is the expiry index's key of a report: its expiry (Unix nanoseconds,
// big-endian, so keys sort by time) then its ID.
func expKey(expires time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(expires.UnixNano())), id...)
}

// SaveReport stores r until now+retention, replacing a report of the same ID,
// and deletes up to pruneBatch reports that have expired, oldest first.
func (b *Backend) SaveReport(ctx context.Context, r state.StoredReport, retention time.Duration) error {
	if r.ID == "" {
		return errors.New("save report: empty run ID")
	}
	if retention <= 0 {
		return fmt.Errorf("save report %q: retention %s is not positive", r.ID, retention)
	}
	now := b.now()
	rec := reportRecord{Connector: r.Connector, Started: r.Started, Expires: now.Add(retention), Body: r.Body}
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode report %q: %w", r.ID, err)
	}
	err = b.update(ctx, func(tx *bolt.Tx) error {
		reps, err := tx.CreateBucketIfNotExists(bucketReports)
		if err != nil {
			return err
		}
		exp, err := tx.CreateBucketIfNotExists(bucketReportExp)
		if err != nil {
			return err
		}
		if old := reps.Get([]byte(r.ID)); old != nil {
			var o reportRecord
			if err := json.Unmarshal(old, &o); err == nil {
				if err := exp.Delete(expKey(o.Expires, r.ID)); err != nil {
					return err
				}
			}
		}
		if err := reps.Put([]byte(r.ID), v); err != nil {
			return err
		}
		if err := exp.Put(expKey(rec.Expires, r.ID), nil); err != nil {
			return err
		}
		return pruneReports(reps, exp, now)
	})
	if err != nil {
		return fmt.Errorf("save report %q: %w", r.ID, err)
	}
	return nil
}

// pruneReports deletes reports that expired before now, oldest first, at most
// pruneBatch of them.
func pruneReports(reps, exp *bolt.Bucket, now time.Time) error {
	var old [][]byte
	c := exp.Cursor()
	for k, _ := c.First(); k != nil && len(old) < pruneBatch; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano() {
			break
		}
		old = append(old, clone(k))
	}
	for _, k := range old {
		if err := exp.Delete(k); err != nil {
			return err
		}
		if err := reps.Delete(k[8:]); err != nil {
			return err
		}
	}
	return nil
}

// Report returns the report with that ID, or ErrNotFound when there is none or
// it has expired (expired reports are deleted by later saves).
func (b *Backend) Report(ctx context.Context, id string) (state.StoredReport, error) {
	var rec reportRecord
	found := false
	err := b.view(ctx, func(tx *bolt.Tx) error {
		reps := tx.Bucket(bucketReports)
		if reps == nil {
			return nil
		}
		v := reps.Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return state.StoredReport{}, fmt.Errorf("report %q: %w", id, err)
	}
	if !found || !rec.Expires.After(b.now()) {
		return state.StoredReport{}, fmt.Errorf("report %q: %w", id, state.ErrNotFound)
	}
	return state.StoredReport{ID: id, Connector: rec.Connector, Started: rec.Started, Body: rec.Body}, nil
}
