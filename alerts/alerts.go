// Package alerts tells operators about runs that need them: a run that was held
// (destructive operations kept for approval, or the source-health gate), failed
// or partially applied, and a connector that has not synced successfully for
// too long. Each alert is a log line at error level and, with a webhook, a JSON
// POST delivered in the background with retries, so a run never waits for it.
package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/sync/engine"
)

// Alert kinds.
const (
	KindHeld    = "held"
	KindFailed  = "failed"
	KindPartial = "partial"
	KindStale   = "stale"
)

// Alert is one alert as logged and POSTed.
type Alert struct {
	Kind      string `json:"kind"` // held, failed, partial, stale
	Connector string `json:"connector"`
	RunID     string `json:"run_id,omitempty"`
	// Summary is one line a human reads in a chat channel.
	Summary string `json:"summary"`
	// Reason is the hold reason, or the first error.
	Reason string         `json:"reason,omitempty"`
	Counts map[string]int `json:"counts,omitempty"`
	// LastSuccess (stale alerts) is when the last ok or held run finished; zero
	// when there was none since the daemon started watching.
	LastSuccess time.Time `json:"last_success,omitzero"`
	At          time.Time `json:"at"`
	Host        string    `json:"host"`
}

const (
	// queueSize bounds the alerts waiting for the webhook; beyond it they are
	// dropped (with a warning) rather than hold up a run.
	queueSize = 64
	// workers deliver in parallel, so one alert being retried does not delay
	// the next for minutes.
	workers = 2
	// dedupeKeep is how many (connector, kind, run) keys are remembered.
	dedupeKeep = 4096
	// maxSummary keeps a summary to one readable chat line.
	maxSummary = 300
)

// Notifier raises alerts. Its methods are safe for concurrent use.
type Notifier struct {
	cfg  config.Alerts
	log  *zap.Logger
	host string
	// now is a field so tests can run the stale check on a clock of their own.
	now  func() time.Time
	hook *webhook // nil: no webhook

	mu        sync.Mutex
	closed    bool
	seen      map[string]bool
	seenOrder []string

	queue   chan delivery
	stop    chan struct{} // closed by Close: workers empty the queue and return
	abort   context.CancelFunc
	ctx     context.Context // deliveries' context, ended when Close gives up
	wg      sync.WaitGroup
	dropped atomic.Int64 // alerts given up at shutdown
}

type delivery struct {
	alert Alert
	body  []byte
}

// New returns a Notifier for cfg. It resolves the webhook's secrets now, so a
// missing one is a start-up error; errors name the reference, never the value.
// With a webhook it starts the delivery workers: call Close to stop them.
func New(cfg config.Alerts, log *zap.Logger) (*Notifier, error) {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	n := &Notifier{cfg: cfg, log: log.Named("alerts"), host: host, now: time.Now, seen: map[string]bool{}}
	if cfg.Webhook.URL.IsSet() {
		n.hook, err = newWebhook(cfg.Webhook, n.log)
		if err != nil {
			return nil, err
		}
		n.queue = make(chan delivery, queueSize)
		n.stop = make(chan struct{})
		n.ctx, n.abort = context.WithCancel(context.Background())
		for range workers {
			n.wg.Add(1)
			go n.work()
		}
	}
	return n, nil
}

// RunFinished raises the alert a finished run calls for: held, failed or
// partial; ok and dry-run reports are ignored, and so is a report whose alert
// was already raised (same connector, kind and run id). It never blocks: the
// webhook delivery is queued, or dropped with a warning when the queue is full.
func (n *Notifier) RunFinished(rep *engine.Report) {
	a, ok := runAlert(rep)
	if !ok || !n.first(a) {
		return
	}
	n.emit(a)
}

// first reports whether a run alert is new, and remembers it.
func (n *Notifier) first(a Alert) bool {
	if a.RunID == "" {
		return true
	}
	key := a.Connector + "\x00" + a.Kind + "\x00" + a.RunID
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen[key] {
		return false
	}
	n.seen[key] = true
	n.seenOrder = append(n.seenOrder, key)
	if len(n.seenOrder) > dedupeKeep {
		delete(n.seen, n.seenOrder[0])
		n.seenOrder = n.seenOrder[1:]
	}
	return true
}

// emit logs the alert and queues it for the webhook.
func (n *Notifier) emit(a Alert) {
	a.At = n.now().UTC()
	a.Host = n.host
	if n.cfg.Log {
		n.log.Error("alert", alertFields(a)...)
	}
	if n.hook == nil {
		return
	}
	body, err := json.Marshal(a)
	if err != nil { // a struct of strings, ints and times: cannot happen
		n.log.Error("alert not encoded", zap.String("kind", a.Kind), zap.String("connector", a.Connector), zap.Error(err))
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.log.Warn("alert not sent: alerts are shut down", zap.String("kind", a.Kind), zap.String("connector", a.Connector),
			zap.String("webhook", n.hook.label))
		return
	}
	select {
	case n.queue <- delivery{alert: a, body: body}:
	default:
		n.log.Warn("alert dropped: the webhook queue is full", zap.String("kind", a.Kind), zap.String("connector", a.Connector),
			zap.String("run_id", a.RunID), zap.Int("queue", queueSize), zap.String("webhook", n.hook.label))
	}
}

func alertFields(a Alert) []zap.Field {
	f := []zap.Field{zap.String("kind", a.Kind), zap.String("connector", a.Connector)}
	if a.RunID != "" {
		f = append(f, zap.String("run_id", a.RunID))
	}
	f = append(f, zap.String("summary", a.Summary))
	if a.Reason != "" {
		f = append(f, zap.String("reason", a.Reason))
	}
	if len(a.Counts) > 0 {
		f = append(f, zap.Any("counts", a.Counts))
	}
	if !a.LastSuccess.IsZero() {
		f = append(f, zap.Time("last_success", a.LastSuccess))
	}
	return append(f, zap.String("host", a.Host))
}

// work delivers queued alerts until Close; then it empties the queue and returns.
func (n *Notifier) work() {
	defer n.wg.Done()
	for {
		select {
		case d := <-n.queue:
			n.deliver(d)
		case <-n.stop:
			for {
				select {
				case d := <-n.queue:
					n.deliver(d)
				default:
					return
				}
			}
		}
	}
}

func (n *Notifier) deliver(d delivery) {
	if n.hook.deliver(n.ctx, d.alert, d.body) == aborted {
		n.dropped.Add(1)
	}
}

// Close stops taking alerts and waits, at most until ctx ends, for the queued
// and in-flight deliveries; then it abandons the rest, logs how many, and
// returns an error saying so.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	if n.hook == nil {
		return nil
	}
	close(n.stop)
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		n.abort()
		return nil
	case <-ctx.Done():
	}
	// Ending the deliveries' context ends the attempts in flight and turns
	// every queued alert into a count: the workers return at once.
	n.abort()
	<-done
	dropped := n.dropped.Load()
	n.log.Warn("alerts not delivered at shutdown", zap.Int64("dropped", dropped), zap.String("webhook", n.hook.label))
	return fmt.Errorf("alerts: %d not delivered at shutdown: %w", dropped, ctx.Err())
}

// runAlert is the alert a run report calls for, if any.
func runAlert(rep *engine.Report) (Alert, bool) {
	if rep == nil {
		return Alert{}, false
	}
	a := Alert{Connector: rep.Connector, RunID: rep.RunID}
	if c := rep.Counts.Map(); nonZero(c) {
		a.Counts = c
	}
	held := max(len(rep.Held), rep.Counts.Held)
	approve := fmt.Sprintf("dirsync holds list --connector %s", rep.Connector)
	switch rep.Status {
	case engine.StatusHeld:
		a.Kind, a.Reason = KindHeld, rep.HoldReason
		if held > 0 {
			a.Summary = fmt.Sprintf("%s: %s held for approval by run %s; review, then approve or reject: %s",
				rep.Connector, plural(held, "operation"), rep.RunID, approve)
		} else {
			// The source-health gate held the run, but it had nothing
			// destructive to keep back.
			a.Summary = fmt.Sprintf("%s: run %s held by the source-health gate (nothing to approve): %s",
				rep.Connector, rep.RunID, oneLine(rep.HoldReason))
		}
	case engine.StatusFailed:
		a.Kind = KindFailed
		a.Reason = "no error recorded"
		if len(rep.Errors) > 0 {
			a.Reason = rep.Errors[0]
		}
		a.Summary = fmt.Sprintf("%s: run %s failed: %s", rep.Connector, rep.RunID, oneLine(a.Reason))
	case engine.StatusPartial:
		a.Kind = KindPartial
		// The counts come from the report's tally: a big run's report does
		// not list every operation. The first failure is the first listed.
		tally := api.TallyOutcomes(rep.Outcomes, rep.Operations, func(op engine.Operation) (api.Outcome, string) {
			return api.Outcome(op.Outcome), string(op.Action)
		})
		failed := tally.Count(api.OutcomeFailed)
		for _, op := range rep.Operations {
			if op.Outcome == string(api.OutcomeFailed) {
				a.Reason = fmt.Sprintf("%s %s: %s", op.Action, op.Address, op.Error)
				break
			}
		}
		if a.Reason == "" && len(rep.Errors) > 0 {
			a.Reason = rep.Errors[0]
		}
		a.Summary = fmt.Sprintf("%s: %s of %d failed in run %s", rep.Connector, plural(failed, "operation"), tally.Total(), rep.RunID)
		if held > 0 {
			a.Summary += fmt.Sprintf("; %d more held for approval: %s", held, approve)
		}
		if a.Reason != "" { // last: a long error is what truncate cuts
			a.Summary += "; first: " + oneLine(a.Reason)
		}
	default: // ok, dry-run
		return Alert{}, false
	}
	a.Summary = truncate(a.Summary, maxSummary)
	return a, true
}

func nonZero(m map[string]int) bool {
	for _, v := range m {
		if v != 0 {
			return true
		}
	}
	return false
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// oneLine folds a multi-line error into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
