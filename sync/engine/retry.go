package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/store"
	"github.com/dirsync/dirsync/sync/plan"
)

// Defaults of the retry policy when the job's Policy leaves it zero.
const (
	defaultRetryMaxAttempts = 10
	defaultRetryBackoffMax  = 6 * time.Hour
)

// Retry is one entry of the connector's retry set as the run report shows it:
// an operation that failed, which later runs plan again from the source record
// kept in the state (an incremental source does not send it twice).
type Retry struct {
	Anchor    string `json:"anchor"`
	Address   string `json:"address"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error"`
	// NextAttempt is when a run tries it again (zero: the next run); GivenUp
	// says the attempts reached sync.retry_max_attempts and only a new version
	// of the object from the source, or a full run, plans it again.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	GivenUp     bool      `json:"given_up,omitempty"`
}

// retrySet is a run's view of the connector's retry set.
type retrySet struct {
	prev map[string]state.Retry
	// seen are anchors of prev the source sent this run (that version wins);
	// fed are those this run planned again from the set.
	seen, fed map[string]bool
	// kept holds the JSON of this run's records that went to planning
	// (neither unchanged nor quarantined), by anchor: a failed one is stored
	// in the set. It is on disk, since few of them ever fail.
	kept *spool
}

func (r *run) loadRetries(ctx context.Context) error {
	rs := retrySet{prev: map[string]state.Retry{}, seen: map[string]bool{}, fed: map[string]bool{}}
	list, err := r.e.state.Retries(ctx, r.job.Name)
	if err != nil {
		return fmt.Errorf("load the retry set: %w", err)
	}
	for _, e := range list {
		if err := checkRetry(e); err != nil {
			// Kept without its record: feedRetries drops it with a warning
			// and the commit deletes it; it is never planned as it stands.
			r.log.Warn("damaged retry entry", zap.Error(err))
			e = state.Retry{Anchor: e.Anchor, Address: e.Address}
		}
		rs.prev[e.Anchor] = e
	}
	rs.kept = newSpool()
	r.retry = rs
	return nil
}

// checkRetry refuses a retry entry that the engine never writes: a negative
// attempt count (the entry would never be given up), or a record for another
// anchor than the entry's.
func checkRetry(e state.Retry) error {
	if e.Attempts < 0 {
		return fmt.Errorf("retry entry %q: %d attempts", e.Anchor, e.Attempts)
	}
	var rec struct {
		Anchor string `json:"anchor"`
	}
	if err := json.Unmarshal(e.Record, &rec); err != nil {
		return fmt.Errorf("retry entry %q: record: %w", e.Anchor, err)
	}
	if e.Anchor == "" || rec.Anchor != e.Anchor {
		return fmt.Errorf("retry entry %q: holds the record of %q", e.Anchor, rec.Anchor)
	}
	return nil
}

// note is told about every record the builder took, and whether it went to
// planning.
func (rs *retrySet) note(rec connectors.Record, planned bool) {
	if _, ok := rs.prev[rec.Anchor]; ok && !rs.fed[rec.Anchor] {
		rs.seen[rec.Anchor] = true
	}
	if planned && rec.Anchor != "" {
		// The record's JSON is what the retry entry stores; a record that
		// cannot be encoded is not kept, and its failure is not retried.
		if raw, err := json.Marshal(rec); err == nil {
			rs.kept.put(rec.Anchor, raw)
		}
	}
}

// feedRetries plans again, after an incremental read, the entries of the
// retry set that are due and that the source did not send a newer version of.
// A full read plans what the source has, so it feeds none; a one-object run
// neither.
func (r *run) feedRetries(emit connectors.Emit) error {
	if r.rep.Full || r.opts.Only != nil {
		return nil
	}
	now := r.e.now()
	for _, a := range slices.Sorted(maps.Keys(r.retry.prev)) {
		e := r.retry.prev[a]
		if r.retry.seen[a] || e.GivenUp || e.NextAttempt.After(now) {
			continue
		}
		var rec connectors.Record
		if err := json.Unmarshal(e.Record, &rec); err != nil || rec.Anchor != a {
			r.log.Warn("retry entry cannot be decoded; dropped", zap.String("anchor", a), zap.String("address", e.Address), zap.NamedError("decode", err))
			r.retry.fed[a] = true // planned nothing, so the commit drops it
			continue
		}
		r.retry.fed[a] = true
		r.log.Info("retrying a failed operation", zap.String("anchor", a), zap.String("address", e.Address), zap.Int("attempts", e.Attempts))
		if err := emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// retryDelay is the wait before attempt n+1 after n failures: the backoff
// doubled per failure, capped.
func retryDelay(p config.RetryPolicy, failures int) time.Duration {
	if p.RetryBackoff <= 0 {
		return 0
	}
	limit := p.RetryBackoffMax
	if limit <= 0 {
		limit = defaultRetryBackoffMax
	}
	d := p.RetryBackoff
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

func retryMaxAttempts(p config.RetryPolicy) int {
	if p.RetryMaxAttempts <= 0 {
		return defaultRetryMaxAttempts
	}
	return p.RetryMaxAttempts
}

// retryCommit adds to c the run's changes to the retry set: failed and
// incomplete operations are (re)stored with their source record; an entry
// whose object this run planned again without failure is removed, and so is
// one a healthy full read no longer found (the missing-object rules own it
// now); held and untouched entries stay. It reports false when a failure
// cannot be kept (no anchor), and the cursor must then stay.
func (r *run) retryCommit(c *state.Commit, p *plan.Plan, done applied, held map[string]bool, healthy bool) bool {
	now := r.e.now()
	pol := r.job.Policy.Retry
	keyed := true
	c.Retries = map[string]state.Retry{}
	for _, op := range slices.Concat(done.failedReleased, p.Ops) {
		why, failed := done.failed[op.Anchor]
		if !failed {
			why, failed = done.incomplete[op.Anchor]
		}
		if !failed {
			continue
		}
		if op.Anchor == "" {
			keyed = false
			continue
		}
		if _, dup := c.Retries[op.Anchor]; dup {
			continue
		}
		raw, ok, err := r.retry.kept.get(op.Anchor)
		if err != nil {
			r.log.Warn("the failed operation's record could not be read back: not kept for a retry",
				zap.String("anchor", op.Anchor), zap.Error(err))
			keyed = false
			continue
		}
		if !ok {
			// No record was read for it (a missing object's disable): what is
			// left to do is what a tombstone asks for.
			rec := connectors.Record{Kind: connectors.Kind(op.Kind), Anchor: op.Anchor, Deleted: true}
			if e, ok := r.snap[op.Anchor]; ok {
				rec.Ref = e.Ref
			}
			if raw, err = json.Marshal(rec); err != nil {
				keyed = false
				continue
			}
		}
		prev := r.retry.prev[op.Anchor]
		e := state.Retry{Anchor: op.Anchor, Kind: string(op.Kind), Address: op.Address, Record: raw,
			Attempts: prev.Attempts + 1, LastError: why, FirstFailed: prev.FirstFailed, LastAttempt: now}
		if e.FirstFailed.IsZero() {
			e.FirstFailed = now
		}
		if e.Attempts >= retryMaxAttempts(pol) {
			e.GivenUp = true
			r.log.Warn("failed operation given up after its last attempt; it stays listed in the retry set",
				zap.String("anchor", e.Anchor), zap.String("address", e.Address), zap.Int("attempts", e.Attempts))
		} else if d := retryDelay(pol, e.Attempts); d > 0 {
			e.NextAttempt = now.Add(d)
		}
		c.Retries[op.Anchor] = e
	}
	for a := range r.retry.prev {
		if _, again := c.Retries[a]; again || held[a] {
			continue
		}
		if r.retry.seen[a] || r.retry.fed[a] || (r.rep.Full && healthy && r.opts.Only == nil) {
			c.RetryDeletes = append(c.RetryDeletes, a)
		}
	}
	slices.Sort(c.RetryDeletes)
	return keyed
}

// reportRetries sets the report's retry set: as loaded, with c applied.
func (r *run) reportRetries(c *state.Commit) {
	set := maps.Clone(r.retry.prev)
	if c != nil {
		for _, a := range c.RetryDeletes {
			delete(set, a)
		}
		maps.Copy(set, c.Retries)
	}
	r.rep.Retries = nil
	for _, a := range slices.Sorted(maps.Keys(set)) {
		e := set[a]
		r.rep.Retries = append(r.rep.Retries, Retry{Anchor: e.Anchor, Address: e.Address, Attempts: e.Attempts,
			LastError: e.LastError, NextAttempt: e.NextAttempt, GivenUp: e.GivenUp})
	}
}

// window returns the destructive operations earlier runs applied within the
// policy's window, by kind and domain, and the window's name for reasons.
func (r *run) window(ctx context.Context) (map[plan.WindowKey]int, string, error) {
	w := r.job.Policy.Retry.MaxDestructiveWindow
	if w <= 0 {
		return nil, "", nil
	}
	lines, err := r.e.state.DestructiveSince(ctx, r.job.Name, r.e.now().Add(-w))
	if err != nil {
		return nil, "", fmt.Errorf("load the destructive operations of the last %s: %w", windowName(w), err)
	}
	counts, err := windowCounts(lines)
	if err != nil {
		return nil, "", fmt.Errorf("load the destructive operations of the last %s: %w", windowName(w), err)
	}
	return counts, "in the last " + windowName(w), nil
}

// windowCounts adds up ledger lines by kind and domain. A line the engine
// never writes (a negative count, or one that overflows the sum) is an error:
// counted, it would loosen the brakes.
func windowCounts(lines []state.Destructive) (map[plan.WindowKey]int, error) {
	counts := map[plan.WindowKey]int{}
	for _, l := range lines {
		k := plan.WindowKey{Kind: l.Kind, Domain: l.Domain}
		if l.Count < 0 || counts[k] > math.MaxInt-l.Count {
			return nil, fmt.Errorf("ledger line of run %q at %s: count %d is damaged", l.RunID, l.At.Format(time.RFC3339), l.Count)
		}
		counts[k] += l.Count
	}
	return counts, nil
}

func windowName(w time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case w == day:
		return "day"
	case w%day == 0:
		return fmt.Sprintf("%d days", w/day)
	}
	return w.String()
}

// ledgerCommit adds to c this run's applied destructive operations, and prunes
// the lines that left the window.
func (r *run) ledgerCommit(c *state.Commit, done applied) {
	w := r.job.Policy.Retry.MaxDestructiveWindow
	if w <= 0 {
		return
	}
	now := r.e.now().UTC()
	for _, k := range slices.SortedFunc(maps.Keys(done.destructive), func(a, b plan.WindowKey) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Domain, b.Domain))
	}) {
		c.Destructive = append(c.Destructive, state.Destructive{At: now, RunID: r.rep.RunID, Kind: k.Kind, Domain: k.Domain,
			Count: done.destructive[k]})
	}
	c.PruneDestructive = now.Add(-w)
}

// countDestructive notes an applied operation for the ledger.
func (a *applied) countDestructive(op plan.Op, out store.Outcome) {
	if out.Err != nil || !out.Applied {
		return
	}
	if k := plan.DestructiveKind(op); k != "" {
		a.destructive[plan.WindowKey{Kind: k, Domain: plan.Domain(op.Address)}]++
	}
}
