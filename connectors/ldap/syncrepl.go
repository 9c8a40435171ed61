package ldap

import (
	"context"
	"errors"
	"fmt"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
)

// errPresentPhase reports that the server answered a refresh with a present phase
// (the UUIDs that still exist) instead of the deleted ones. Working out deletions
// from it needs the whole directory's UUIDs, which is what a full read does.
var errPresentPhase = errors.New("the server answered with a present phase (no session log covers the cookie)")

// syncreplChanges runs an RFC 4533 refreshOnly per base DN from its cookie:
// changed entries come whole, deletions as UUIDs. A UUID outside this connector's
// scope is emitted like any other and ignored downstream, since nothing here was
// ever synchronised under it.
func (s *source) syncreplChanges(ctx context.Context, c *cursor, emit connectors.Emit) error {
	conn, err := s.cfg.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	filter := "(|" + s.cfg.userFilter()
	if s.cfg.readsGroups() {
		filter += s.cfg.GroupFilter
	}
	filter += ")"
	for _, base := range s.cfg.BaseDNs {
		cookie, ok := c.Sync[base]
		if !ok {
			return connectors.ErrCursorExpired
		}
		next, err := s.syncrepl(ctx, conn, base, filter, cookie, emit)
		if errors.Is(err, errPresentPhase) {
			s.log.Info("sync refresh without a session log: full read", zap.String("base", base))
			return connectors.ErrCursorExpired
		}
		if err != nil {
			return err
		}
		c.Sync[base] = next
	}
	return nil
}

// syncrepl runs one refreshOnly search and returns the cookie to continue from.
func (s *source) syncrepl(ctx context.Context, conn *goldap.Conn, base, filter string, cookie []byte, emit connectors.Emit) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	attrs := s.attributes()
	req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	resp := conn.Syncrepl(ctx, req, s.cfg.PageSize, goldap.SyncRequestModeRefreshOnly, cookie, false)
	next := cookie
	deleted := func(uuids []string) error {
		for _, u := range uuids {
			if err := emit(connectors.Record{Anchor: u, Deleted: true}); err != nil {
				return err
			}
		}
		return nil
	}
	for resp.Next() {
		var err error
		if e := resp.Entry(); e != nil {
			err = s.syncEntry(ctx, conn, e, resp.Controls(), emit)
		} else {
			for _, ctl := range resp.Controls() {
				switch ctl := ctl.(type) {
				case *goldap.ControlSyncInfo:
					var uuids []string
					uuids, next, err = syncInfo(ctl, next)
					if err == nil {
						err = deleted(uuids)
					}
				case *goldap.ControlSyncDone:
					if len(ctl.Cookie) > 0 {
						next = ctl.Cookie
					}
					if !ctl.RefreshDeletes && cookie != nil {
						err = errPresentPhase
					}
				}
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if err := resp.Err(); err != nil {
		if goldap.IsErrorWithCode(err, 4096) { // e-syncRefreshRequired
			return nil, connectors.ErrCursorExpired
		}
		return nil, fmt.Errorf("sync refresh under %q: %w", base, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return next, nil
}

// syncEntry handles one entry of a refresh by its Sync State control.
func (s *source) syncEntry(ctx context.Context, conn *goldap.Conn, e *goldap.Entry, ctls []goldap.Control, emit connectors.Emit) error {
	st, _ := goldap.FindControl(ctls, goldap.ControlTypeSyncState).(*goldap.ControlSyncState)
	if st != nil {
		switch st.State {
		case goldap.SyncStateDelete:
			return emit(connectors.Record{Anchor: st.EntryUUID.String(), Deleted: true})
		case goldap.SyncStatePresent:
			return errPresentPhase
		}
	}
	rec, skip, err := s.mapEntry(ctx, conn, e)
	if err != nil || skip != "" {
		return err
	}
	return emit(rec)
}

// syncInfo reads an intermediate Sync Info message: deleted UUIDs, a new cookie,
// or the sign of a present phase.
func syncInfo(ctl *goldap.ControlSyncInfo, cookie []byte) ([]string, []byte, error) {
	pick := func(c []byte) []byte {
		if len(c) > 0 {
			return c
		}
		return cookie
	}
	switch ctl.Value {
	case goldap.SyncInfoNewcookie:
		return nil, pick(ctl.NewCookie.Cookie), nil
	case goldap.SyncInfoRefreshDelete:
		return nil, pick(ctl.RefreshDelete.Cookie), nil
	case goldap.SyncInfoRefreshPresent:
		return nil, nil, errPresentPhase
	case goldap.SyncInfoSyncIdSet:
		if !ctl.SyncIdSet.RefreshDeletes {
			return nil, nil, errPresentPhase
		}
		uuids := make([]string, 0, len(ctl.SyncIdSet.SyncUUIDs))
		for _, u := range ctl.SyncIdSet.SyncUUIDs {
			uuids = append(uuids, u.String())
		}
		return uuids, pick(ctl.SyncIdSet.Cookie), nil
	}
	return nil, cookie, nil
}
