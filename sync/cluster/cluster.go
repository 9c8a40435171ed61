// Package cluster lets several dirsync replicas share one state backend without
// stepping on each other: they elect one leader through a lease in the backend
// (state.Coordinator), only the leader runs the schedule, and on-demand runs a
// follower receives are queued in the backend for the leader to start.
//
// Leadership only decides who starts runs. What keeps two writers of one
// connector apart is the run lock and its fencing token (package engine), so a
// moment with two replicas believing they lead costs a skipped run, never a
// double write.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/state"
)

// DefaultLease is the leader lease's length when none is configured. A leader
// that dies without releasing it is replaced at most this long afterwards.
const DefaultLease = 15 * time.Second

// triggerWait is how long one read of the trigger queue blocks.
const triggerWait = time.Second

// Options configure a Node.
type Options struct {
	// Lease is the leader lease's length (DefaultLease if zero); it is renewed
	// every third of it.
	Lease time.Duration
	// OnElected is called (in its own goroutine) each time this node becomes leader.
	OnElected func()
	// Start starts a run a follower forwarded; called on the leader only.
	Start func(state.Trigger)
	// Now is the clock the lease is counted by (time.Now if nil); tests set it
	// to check the lease's end exactly instead of racing a real one.
	Now func() time.Time
}

// Node is this replica's part in the election.
type Node struct {
	coord state.Coordinator
	id    string
	opts  Options
	log   *zap.Logger

	mu          sync.Mutex
	leaderUntil time.Time
	elected     chan struct{} // closed while leader; replaced on stepping down
}

// New returns a Node with a unique id (host:pid:random).
func New(coord state.Coordinator, opts Options, log *zap.Logger) *Node {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	return &Node{coord: coord, id: id, opts: opts, log: log.Named("cluster").With(zap.String("node", id)),
		elected: make(chan struct{})}
}

// ID names this replica in the lease, in forwarded triggers and in logs.
func (n *Node) ID() string { return n.id }

// IsLeader reports whether this node holds the leader lease now. The lease is
// counted from before the request that took or renewed it, so this node stops
// believing it leads before Redis lets anyone else take over; a node paused
// past its lease sees it has lapsed the moment it resumes.
func (n *Node) IsLeader() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.opts.Now().Before(n.leaderUntil)
}

// Forward queues a run for the leader.
func (n *Node) Forward(ctx context.Context, t state.Trigger) error {
	t.From, t.At = n.id, n.opts.Now().UTC()
	if err := n.coord.PublishTrigger(ctx, t); err != nil {
		return fmt.Errorf("forward the run of %s to the leader: %w", t.Connector, err)
	}
	n.log.Info("run forwarded to the leader", zap.String("connector", t.Connector), zap.String("run_id", t.RunID))
	return nil
}

// Run campaigns until ctx is done, then releases the lease if held. While this
// node leads, it also starts the runs followers forward.
func (n *Node) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n.consume(ctx) }()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		t.Reset(n.campaign(ctx))
		select {
		case <-ctx.Done():
			// Release first: the trigger reader may sit in a blocking read for
			// up to a second, and another replica should not wait for it.
			n.stepDown("shutting down")
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := n.coord.ReleaseLeader(rctx, n.id); err != nil {
				n.log.Warn("leader lease not released; it expires by itself", zap.Error(err))
			}
			wg.Wait()
			return
		case <-t.C:
		}
	}
}

// campaign takes or renews the lease once, and says when to try next: a third
// of the lease from now, or just after another holder's lease runs out, so a
// leader that died is replaced within the lease time.
func (n *Node) campaign(ctx context.Context) time.Duration {
	every := n.opts.Lease / 3
	start := n.opts.Now()
	rctx, cancel := context.WithTimeout(ctx, every)
	l, err := n.coord.HoldLeader(rctx, n.id, n.opts.Lease)
	cancel()
	if ctx.Err() != nil {
		return every
	}
	if err != nil {
		// The lease may still be ours until it runs out: IsLeader says so by the clock.
		n.log.Warn("leader lease not renewed", zap.Error(err))
		if !n.IsLeader() {
			n.stepDown("the state backend does not answer")
		}
		return every
	}
	if !l.Held {
		n.stepDown("held by " + l.Holder)
		if l.Left > 0 && l.Left < every {
			return l.Left + 10*time.Millisecond
		}
		return every
	}
	n.mu.Lock()
	was := n.isElected()
	n.leaderUntil = start.Add(n.opts.Lease)
	if !was {
		close(n.elected)
	}
	n.mu.Unlock()
	if !was {
		n.log.Info("became leader: this replica runs the schedule", zap.Duration("lease", n.opts.Lease))
		if n.opts.OnElected != nil {
			go n.opts.OnElected()
		}
	}
	return every
}

// stepDown forgets the lease; it logs when this node was leading.
func (n *Node) stepDown(why string) {
	n.mu.Lock()
	wasLeader := n.isElected()
	n.leaderUntil = time.Time{}
	if wasLeader {
		n.elected = make(chan struct{})
	}
	n.mu.Unlock()
	if wasLeader {
		n.log.Info("no longer leader", zap.String("reason", why))
	}
}

// isElected reports whether elected is closed (n.mu held).
func (n *Node) isElected() bool {
	select {
	case <-n.elected:
		return true
	default:
		return false
	}
}

// consume starts forwarded runs while this node leads.
func (n *Node) consume(ctx context.Context) {
	for {
		n.mu.Lock()
		elected := n.elected
		n.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-elected:
		}
		if !n.IsLeader() {
			// Elected once, but the lease lapsed (paused, or the backend is gone);
			// campaign decides what happens next.
			select {
			case <-ctx.Done():
				return
			case <-time.After(n.opts.Lease / 3):
			}
			continue
		}
		ts, err := n.coord.ReadTriggers(ctx, n.id, triggerWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("reading forwarded runs", zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(triggerWait):
			}
			continue
		}
		for _, t := range ts {
			n.log.Info("starting a forwarded run", zap.String("connector", t.Connector), zap.String("run_id", t.RunID),
				zap.String("from", t.From))
			if n.opts.Start != nil {
				n.opts.Start(t)
			}
			if err := n.coord.AckTriggers(ctx, t.ID); err != nil {
				n.log.Warn("forwarded run not acknowledged; it may start again", zap.String("run_id", t.RunID), zap.Error(err))
			}
		}
	}
}
