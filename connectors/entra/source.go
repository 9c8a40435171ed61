package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
)

// source reads one tenant. Every read starts from the stored cursor (or from
// nothing) and ends with a new one; nothing is kept between reads.
type source struct {
	cfg    *Config
	log    *zap.Logger
	client *msgraph.GraphServiceClient
	// adapter is the client's request adapter, for requests whose answers
	// are decoded here (see graphUser).
	adapter abstractions.RequestAdapter
	// singly re-reads changed users one request each (rereadSingly), not in
	// batches: only tests and benchmarks set it.
	singly bool
}

var (
	_ connectors.Source      = (*source)(nil)
	_ connectors.Incremental = (*source)(nil)
	_ connectors.FieldOwner  = (*source)(nil)
)

// cursorVersion changes whenever the cursor's meaning does; an older cursor is
// treated as expired (one full read).
const cursorVersion = 1

// cursor is what the state store keeps between runs: Graph's delta links and
// the administrators seen last time (role membership has no delta of its own).
type cursor struct {
	V      int      `json:"v"`
	Users  string   `json:"users"`
	Groups string   `json:"groups,omitempty"`
	Admins []string `json:"admins,omitempty"`
}

// Read implements connectors.Source: a full read.
func (s *source) Read(ctx context.Context, emit connectors.Emit) error {
	_, err := s.ReadChanges(ctx, nil, emit)
	return err
}

// stopWhenDone wraps emit so that nothing more is emitted once ctx is done:
// the rest of a Graph page, or of the groups being read in parallel, is
// dropped and the read ends with the context's error.
func stopWhenDone(ctx context.Context, emit connectors.Emit) connectors.Emit {
	return func(r connectors.Record) error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return emit(r)
	}
}

// Close implements connectors.Source.
func (s *source) Close() error { return nil }

// Fields implements connectors.FieldOwner: every field the connector maps,
// the Microsoft 365 facts (licensed, directory_admin) among them: only an
// Entra connector owns those.
func (s *source) Fields() []string {
	return []string{"display_name", "given_name", "surname", "phone", "department", "title", "aliases", "enabled", "members",
		"licensed", "directory_admin"}
}

// ReadChanges implements connectors.Incremental. With a nil cursor it pages
// through every user (and group) with users/delta and groups/delta; with one, it
// resumes from the stored delta links and re-reads only the objects that changed.
func (s *source) ReadChanges(ctx context.Context, raw []byte, emit connectors.Emit) ([]byte, error) {
	emit = stopWhenDone(ctx, emit)
	var prev *cursor
	if raw != nil {
		c, err := decodeCursor(raw, s.cfg.GraphURL, s.cfg.readsGroups())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", connectors.ErrCursorExpired, err)
		}
		prev = &c
	}
	admins, err := s.readAdmins(ctx)
	if err != nil {
		return nil, err
	}
	next := cursor{V: cursorVersion, Admins: sortedKeys(admins)}
	if prev == nil {
		next.Users, err = s.fullUsers(ctx, admins, emit)
	} else {
		next.Users, err = s.changedUsers(ctx, prev, admins, emit)
	}
	if err != nil {
		return nil, err
	}
	if s.cfg.readsGroups() {
		from := ""
		if prev != nil {
			from = prev.Groups
		}
		if next.Groups, err = s.groups(ctx, from, emit); err != nil {
			return nil, err
		}
	}
	return json.Marshal(next)
}

// decodeCursor reads a stored cursor. Its delta links are followed as they
// are, so each must be a users/ (groups/) link of the configured Graph
// endpoint: a damaged or planted state value must not send the connector's
// requests elsewhere, or read groups as users.
func decodeCursor(raw []byte, graphURL string, groups bool) (cursor, error) {
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.V != cursorVersion || c.Users == "" {
		return cursor{}, errors.New("the stored Graph cursor is not one this version wrote")
	}
	if groups && c.Groups == "" {
		return cursor{}, errors.New("groups were not read last time")
	}
	base, err := url.Parse(graphURL)
	if err != nil {
		return cursor{}, fmt.Errorf("graph_url: %w", err)
	}
	for _, l := range []struct{ kind, link string }{{"users", c.Users}, {"groups", c.Groups}} {
		if l.link == "" {
			continue
		}
		u, err := url.Parse(l.link)
		if err != nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) || u.User != nil ||
			!strings.HasPrefix(path.Clean(u.Path), strings.TrimSuffix(base.Path, "/")+"/"+l.kind+"/") {
			return cursor{}, fmt.Errorf("the stored %s delta link is not a %s/ link of %s", l.kind, l.kind, graphURL)
		}
	}
	return c, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// adminChanges lists users whose administrator flag differs from the cursor's.
func adminChanges(prev []string, now map[string]bool) []string {
	was := map[string]bool{}
	for _, id := range prev {
		was[id] = true
	}
	var out []string
	for id := range now {
		if !was[id] {
			out = append(out, id)
		}
	}
	for id := range was {
		if !now[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// errIncompleteRound is a delta page with neither a next nor a delta link.
var errIncompleteRound = errors.New("the page has neither @odata.nextLink nor @odata.deltaLink: the round is incomplete")
