package alerts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
	"github.com/dirsync/dirsync/sync/engine"
)

// LastSuccess tells when the connector's last successful run finished; false
// when it has none on record.
type LastSuccess func(ctx context.Context, connector string) (time.Time, bool, error)

// historyDepth is how many runs HistoryLastSuccess looks back through: the
// backends keep the newest few hundred.
const historyDepth = 1000

// HistoryLastSuccess reads the last success from the run history: the newest
// run with status ok or held (a held run worked; the hold raised its own alert).
// A success older than the history's depth counts as none.
func HistoryLastSuccess(st state.Backend) LastSuccess {
	return func(ctx context.Context, connector string) (time.Time, bool, error) {
		runs, err := st.Runs(ctx, connector, historyDepth)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("run history of %s: %w", connector, err)
		}
		for _, r := range runs { // newest first
			if r.Status == engine.StatusOK || r.Status == engine.StatusHeld {
				if r.Finished.IsZero() {
					return r.Started, true, nil
				}
				return r.Finished, true, nil
			}
		}
		return time.Time{}, false, nil
	}
}

// spell is what Watch remembers of a connector.
type spell struct {
	watched  time.Time // first seen by Watch: the reference when it has no success
	alerted  time.Time // last stale alert; zero: none in this spell
	lastSeen time.Time // the last success that alert was about
}

// Watch checks every check_every (and once at the start) the connectors that
// connectors names, and raises a stale alert for each whose last success is
// older than stale_after, or which has none and has been watched that long.
// It alerts once per stale spell: again only after the connector recovered, or
// once another stale_after has passed. It returns when ctx ends; with
// stale_after 0 it only waits for that.
func (n *Notifier) Watch(ctx context.Context, connectors func() []string, last LastSuccess) {
	if n.cfg.StaleAfter <= 0 {
		<-ctx.Done()
		return
	}
	every := n.cfg.CheckEvery
	if every <= 0 {
		every = time.Minute
	}
	spells := map[string]*spell{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n.checkStale(ctx, connectors(), last, spells, every)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Notifier) checkStale(ctx context.Context, names []string, last LastSuccess, spells map[string]*spell, every time.Duration) {
	current := make(map[string]bool, len(names))
	for _, name := range names {
		if ctx.Err() != nil {
			return
		}
		current[name] = true
		cctx, cancel := context.WithTimeout(ctx, max(every, 30*time.Second))
		ls, ok, err := last(cctx, name)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("stale check: last success unknown", zap.String("connector", name), zap.Error(err))
			}
			continue
		}
		now := n.now()
		sp := spells[name]
		if sp == nil {
			sp = &spell{watched: now}
			spells[name] = sp
		}
		since := sp.watched
		if ok {
			since = ls
		} else {
			ls = time.Time{}
		}
		if now.Sub(since) < n.cfg.StaleAfter {
			sp.alerted = time.Time{} // recovered (or not stale yet): a new spell may start
			continue
		}
		if !sp.alerted.IsZero() && ls.Equal(sp.lastSeen) && now.Sub(sp.alerted) < n.cfg.StaleAfter {
			continue // already told, about this very success, recently
		}
		sp.alerted, sp.lastSeen = now, ls
		n.emit(staleAlert(name, ls, since, now, n.cfg.StaleAfter))
	}
	// A connector removed from the configuration starts afresh if it comes back.
	for name := range spells {
		if !current[name] {
			delete(spells, name)
		}
	}
}

func staleAlert(connector string, last, since, now time.Time, after time.Duration) Alert {
	a := Alert{Kind: KindStale, Connector: connector, LastSuccess: last.UTC()}
	if last.IsZero() {
		a.LastSuccess = time.Time{}
		a.Summary = fmt.Sprintf("%s: no successful run since dirsync started watching it at %s (%s ago; stale_after %s)",
			connector, since.UTC().Format(time.RFC3339), Ago(now.Sub(since)), Ago(after))
	} else {
		a.Summary = fmt.Sprintf("%s: no successful run since %s (%s ago; stale_after %s)",
			connector, last.UTC().Format(time.RFC3339), Ago(now.Sub(last)), Ago(after))
	}
	return a
}

// Ago rounds a duration for a human, and drops the zero tail: "6h", not
// "6h0m0s" (the stale alert's words; the overview says durations the same way).
func Ago(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
	case d >= time.Minute:
		d = d.Round(time.Second)
	default:
		d = d.Round(time.Millisecond)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
