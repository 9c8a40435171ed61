package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/outbound"
	"github.com/dirsync/dirsync/outbound/policy"
	"github.com/dirsync/dirsync/outbound/stream"
	redisstate "github.com/dirsync/dirsync/state/redis"
)

// senders is the daemon's outbound side: the rule set behind POST /v1/senders,
// and the policy service and stream consumer when configured.
type senders struct {
	svc    *outbound.Service
	policy net.Listener     // nil when outbound.policy.listen is empty
	polSrv *policy.Server   // with policy; kept for its Stats on /metrics
	stream *stream.Consumer // nil when outbound.stream is off
	wg     sync.WaitGroup
}

// openSenders builds the service and binds the policy listener, so a port
// already in use fails the start rather than a goroutine later.
func (a *app) openSenders() (*senders, error) {
	oc := a.cfg.Outbound
	opts := outbound.Options{Store: a.store, Log: a.log, RateLimit: oc.RateLimit.PerDomain, RatePeriod: oc.RateLimit.Period,
		SeenSize: oc.SeenSize, SeenTTL: oc.SeenTTL, Workers: oc.Workers, Queue: oc.Queue}
	if opts.RateLimit == 0 {
		opts.RateLimit = -1 // per_domain: 0 turns the limit off
	}
	if rb, ok := a.state.(*redisstate.Backend); ok {
		opts.Redis, opts.Prefix = rb.Client(), rb.Prefix()
	}
	svc, err := outbound.New(opts)
	if err != nil {
		return nil, err
	}
	s := &senders{svc: svc}
	if rb, ok := a.state.(*redisstate.Backend); ok && oc.Stream.Enabled {
		host, _ := os.Hostname()
		s.stream, err = stream.New(stream.Options{Client: rb.Client(), Stream: oc.Stream.Name, Group: oc.Stream.Group,
			Consumer: fmt.Sprintf("%s-%d", host, os.Getpid()), ClaimIdle: oc.Stream.ClaimIdle,
			Log: a.log.Named("outbound.stream")})
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
			return nil, fmt.Errorf("outbound.policy.allowed_clients: %w", err)
		}
		s.polSrv = policy.New(policy.Options{Sink: svc, Log: a.log.Named("outbound").Named("policy"),
			AllowedClients: clients, RequireSASLUsername: oc.Policy.RequireSASLUsername})
	}
	return s, nil
}

// start runs the workers, the policy service and the stream consumer until
// ctx is cancelled; wait returns when they have stopped. A sender queued but
// not settled at that point is reported again by its next message, and a
// stream entry not acknowledged stays pending for another replica.
func (s *senders) start(ctx context.Context, a *app) {
	log := a.log.Named("outbound")
	s.wg.Go(func() { s.svc.Run(ctx) })
	if s.policy != nil {
		srv := s.polSrv
		log.Info("policy service listening", zap.String("listen", s.policy.Addr().String()))
		s.wg.Go(func() {
			if err := srv.Serve(ctx, s.policy); err != nil {
				log.Error("policy service stopped", zap.Error(err))
			}
		})
	}
	if s.stream == nil {
		return
	}
	cfg := a.cfg.Outbound.Stream
	log.Info("consuming the sender stream", zap.String("stream", cfg.Name), zap.String("group", cfg.Group))
	s.wg.Go(func() {
		err := s.stream.Run(ctx, func(ctx context.Context, batch []string) error {
			_, err := s.svc.Report(ctx, batch, "stream")
			return err
		})
		if err != nil {
			log.Error("sender stream consumer stopped", zap.Error(err))
		}
	})
}

func (s *senders) wait() { s.wg.Wait() }
