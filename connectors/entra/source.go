package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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

// Close implements connectors.Source.
func (s *source) Close() error { return nil }

// Fields implements connectors.FieldOwner: every field the connector maps.
func (s *source) Fields() []string {
	return []string{"display_name", "given_name", "surname", "phone", "department", "title", "aliases", "enabled", "members"}
}

// ReadChanges implements connectors.Incremental. With a nil cursor it pages
// through every user (and group) with users/delta and groups/delta; with one, it
// resumes from the stored delta links and re-reads only the objects that changed.
func (s *source) ReadChanges(ctx context.Context, raw []byte, emit connectors.Emit) ([]byte, error) {
	var prev *cursor
	if raw != nil {
		prev = &cursor{}
		if err := json.Unmarshal(raw, prev); err != nil || prev.V != cursorVersion || prev.Users == "" {
			return nil, fmt.Errorf("%w: the stored Graph cursor is not one this version wrote", connectors.ErrCursorExpired)
		}
		if s.cfg.readsGroups() && prev.Groups == "" {
			return nil, fmt.Errorf("%w: groups were not read last time", connectors.ErrCursorExpired)
		}
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
