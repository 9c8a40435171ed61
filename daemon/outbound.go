package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/outbound"
	"github.com/dirsync/dirsync/outbound/policy"
	"github.com/dirsync/dirsync/outbound/stream"
	"github.com/dirsync/dirsync/state"
	redisstate "github.com/dirsync/dirsync/state/redis"
	"github.com/dirsync/dirsync/store"
)

// senders is the daemon's outbound side: the rule set behind POST /v1/senders,
// and the policy service and stream consumer when configured.
type senders struct {
	cfg    config.Outbound
	log    *zap.Logger // "outbound"
	svc    *outbound.Service
	policy net.Listener     // nil when outbound.policy.listen is empty
	polSrv *policy.Server   // with policy; kept for its Stats on /metrics
	stream *stream.Consumer // nil when outbound.stream is off
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// openSenders builds the service and binds the policy listener, so a port
// already in use fails the start rather than a goroutine later. The stream
// lives in the state's Redis: it is found by type assertion.
func openSenders(oc config.Outbound, st store.Store, sb state.Backend, log *zap.Logger) (*senders, error) {
	// The service, the policy server and the stream consumer each name
	// themselves (outbound, policy, stream): they are given the root logger,
	// or the "outbound" one, never a logger already named after them.
	opts := outbound.Options{Store: st, Log: log, RateLimit: oc.RateLimit.PerDomain, RatePeriod: oc.RateLimit.Period,
		SeenSize: oc.SeenSize, SeenTTL: oc.SeenTTL, Workers: oc.Workers, Queue: oc.Queue}
	if opts.RateLimit == 0 {
		opts.RateLimit = -1 // per_domain: 0 turns the limit off
	}
	rb, isRedis := sb.(*redisstate.Backend)
	if isRedis {
		opts.Redis, opts.Prefix = rb.Client(), rb.Prefix()
	}
	svc, err := outbound.New(opts)
	if err != nil {
		return nil, err
	}
	s := &senders{cfg: oc, log: log.Named("outbound"), svc: svc}
	if isRedis && oc.Stream.Enabled {
		host, _ := os.Hostname()
		s.stream, err = stream.New(stream.Options{Client: rb.Client(), Stream: oc.Stream.Name, Group: oc.Stream.Group,
			Consumer: fmt.Sprintf("%s-%d", host, os.Getpid()), ClaimIdle: oc.Stream.ClaimIdle, Log: s.log})
		if err != nil {
			return nil, fmt.Errorf("outbound.stream: %w", err)
		}
	}
	if l := oc.Policy.Listen; l != "" {
		if s.policy, err = net.Listen("tcp", l); err != nil {
			return nil, fmt.Errorf("listen on %s (outbound.policy.listen): %w", l, err)
		}
		clients, err := oc.Policy.Clients() // checked by config validation
		if err != nil {
			_ = s.policy.Close()
			return nil, fmt.Errorf("outbound.policy.allowed_clients: %w", err)
		}
		s.polSrv = policy.New(policy.Options{Sink: svc, Log: s.log,
			AllowedClients: clients, RequireSASLUsername: oc.Policy.RequireSASLUsername})
	}
	return s, nil
}

// start runs the workers, the policy service and the stream consumer until
// stop; a sender queued but not settled then is reported again by its next
// message, and a stream entry not acknowledged stays pending for another
// replica.
func (s *senders) start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() { s.svc.Run(ctx) })
	if s.policy != nil {
		srv := s.polSrv
		s.log.Info("policy service listening", zap.String("listen", s.policy.Addr().String()))
		s.wg.Go(func() {
			if err := srv.Serve(ctx, s.policy); err != nil {
				s.log.Error("policy service stopped", zap.Error(err))
			}
		})
	}
	if s.stream == nil {
		return nil
	}
	s.log.Info("consuming the sender stream", zap.String("stream", s.cfg.Stream.Name), zap.String("group", s.cfg.Stream.Group))
	s.wg.Go(func() {
		err := s.stream.Run(ctx, func(ctx context.Context, batch []string) error {
			_, err := s.svc.Report(ctx, batch, "stream")
			return err
		})
		if err != nil {
			s.log.Error("sender stream consumer stopped", zap.Error(err))
		}
	})
	return nil
}

// stop ends what start started and returns when it has.
func (s *senders) stop(context.Context) error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// close releases the policy listener (the policy server closed it already
// when it ran).
func (s *senders) close() {
	if s.policy != nil {
		_ = s.policy.Close()
	}
}
