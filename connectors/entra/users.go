package entra

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// userFields is the $select of every user read: exactly the mapped properties.
var userFields = []string{
	"id", "userPrincipalName", "mail", "proxyAddresses", "otherMails", "displayName", "givenName", "surname",
	"businessPhones", "mobilePhone", "department", "jobTitle", "accountEnabled", "userType",
	"onPremisesImmutableId", "assignedLicenses",
}

func (s *source) pageHeaders() *abstractions.RequestHeaders {
	h := abstractions.NewRequestHeaders()
	h.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(s.cfg.PageSize))
	return h
}

// usersDelta pages through a users/delta round, from the start (link "") or from
// a delta link, calling each for every user, and returns the round's delta link.
func (s *source) usersDelta(ctx context.Context, link string, each func(models.Userable) error) (string, error) {
	cfg := &users.DeltaRequestBuilderGetRequestConfiguration{Headers: s.pageHeaders()}
	b := s.client.Users().Delta()
	if link == "" {
		cfg.QueryParameters = &users.DeltaRequestBuilderGetQueryParameters{Select: userFields}
	} else {
		b = b.WithUrl(link)
	}
	for pages := 1; ; pages++ {
		resp, err := b.GetAsDeltaGetResponse(ctx, cfg)
		if err != nil {
			return "", graphError("users/delta", pages, err)
		}
		for _, u := range resp.GetValue() {
			if err := each(u); err != nil {
				return "", err
			}
		}
		if next := resp.GetOdataNextLink(); next != nil && *next != "" {
			b, cfg.QueryParameters = s.client.Users().Delta().WithUrl(*next), nil
			continue
		}
		if dl := resp.GetOdataDeltaLink(); dl != nil && *dl != "" {
			return *dl, nil
		}
		return "", graphError("users/delta", pages, errIncompleteRound)
	}
}

// fullUsers reads every user.
func (s *source) fullUsers(ctx context.Context, admins map[string]bool, emit connectors.Emit) (string, error) {
	n := 0
	link, err := s.usersDelta(ctx, "", func(u models.Userable) error {
		if removedReason(u) != "" {
			return nil // a first round lists no removals; nothing to take from one
		}
		n++
		if rec, ok := s.mapUser(u, admins); ok {
			return emit(rec)
		}
		return nil
	})
	if err == nil {
		s.log.Info("users read", zap.Int("users", n), zap.Bool("full", true))
	}
	return link, err
}

// changedUsers resumes from the cursor. A delta round names changed users with
// only their changed properties, so each is read again in full; removals become
// tombstones. Users whose administrator role changed are read again too.
func (s *source) changedUsers(ctx context.Context, prev *cursor, admins map[string]bool, emit connectors.Emit) (string, error) {
	var changed []string
	seen := map[string]bool{}
	removed := map[string]bool{}
	link, err := s.usersDelta(ctx, prev.Users, func(u models.Userable) error {
		id := deref(u.GetId())
		if id == "" {
			return nil
		}
		if reason := removedReason(u); reason != "" {
			removed[id] = true
			s.log.Debug("user removed in Entra", zap.String("id", id), zap.String("reason", reason))
			return emit(connectors.Record{Kind: connectors.KindUser, Anchor: id, Ref: id, Deleted: true})
		}
		if !seen[id] {
			seen[id] = true
			changed = append(changed, id)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for _, id := range adminChanges(prev.Admins, admins) {
		if !seen[id] && !removed[id] {
			seen[id] = true
			changed = append(changed, id)
		}
	}
	err = s.reread(ctx, changed, func(u models.Userable) error {
		if rec, ok := s.mapUser(u, admins); ok {
			return emit(rec)
		}
		// Out of scope now (turned guest): the engine drops it if it had it.
		return emit(connectors.Record{Kind: connectors.KindUser, Anchor: deref(u.GetId()), Ref: deref(u.GetUserPrincipalName()), Deleted: true})
	})
	if err == nil {
		s.log.Info("users read", zap.Int("changed", len(changed)), zap.Int("removed", len(removed)), zap.Bool("full", false))
	}
	return link, err
}

// reread fetches users by id, cfg.Parallel at a time, and hands them to each in
// id order of arrival (each is called from one goroutine at a time). A user gone
// since the delta round (404) is skipped: the next round reports its removal.
func (s *source) reread(ctx context.Context, ids []string, each func(models.Userable) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	var mu sync.Mutex
	for _, id := range ids {
		g.Go(func() error {
			u, err := s.client.Users().ByUserId(id).Get(gctx, &users.UserItemRequestBuilderGetRequestConfiguration{
				QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
			if status(err) == 404 {
				s.log.Debug("changed user is gone before it could be read", zap.String("id", id))
				return nil
			}
			if err != nil {
				return graphError("users/"+id, 1, err)
			}
			mu.Lock()
			defer mu.Unlock()
			return each(u)
		})
	}
	return g.Wait()
}

// mapUser turns a Graph user into a record; ok=false means out of scope (a
// guest when guests are not included).
func (s *source) mapUser(u models.Userable, admins map[string]bool) (connectors.Record, bool) {
	id := deref(u.GetId())
	if strings.EqualFold(deref(u.GetUserType()), "Guest") && !s.cfg.IncludeGuests {
		return connectors.Record{}, false
	}
	rec := connectors.Record{
		Kind:        connectors.KindUser,
		Anchor:      id,
		Ref:         deref(u.GetUserPrincipalName()),
		DisplayName: deref(u.GetDisplayName()),
		GivenName:   deref(u.GetGivenName()),
		Surname:     deref(u.GetSurname()),
		Department:  deref(u.GetDepartment()),
		Title:       deref(u.GetJobTitle()),
		Disabled:    u.GetAccountEnabled() != nil && !*u.GetAccountEnabled(),
		Admin:       admins[id],
		Licensed:    len(u.GetAssignedLicenses()) > 0,
	}
	if rec.Ref == "" {
		rec.Ref = id
	}
	if phones := u.GetBusinessPhones(); len(phones) > 0 {
		rec.Phone = phones[0]
	} else {
		rec.Phone = deref(u.GetMobilePhone())
	}
	rec.Mail, rec.Aliases = addresses(deref(u.GetMail()), u.GetProxyAddresses(), u.GetOtherMails())
	if imm := deref(u.GetOnPremisesImmutableId()); imm != "" {
		if guid, err := immutableIDToGUID(imm); err == nil {
			rec.JoinAnchor = guid
		} else {
			s.log.Debug("onPremisesImmutableId is not a base64 objectGUID: no hybrid join", zap.String("user", rec.Ref), zap.Error(err))
		}
	}
	return rec, true
}

// addresses picks the primary address (mail, else the SMTP: proxy address) and
// the aliases (smtp: proxy addresses and otherMails), primary excluded.
func addresses(mail string, proxies, others []string) (string, []string) {
	var aliases []string
	for _, p := range proxies {
		prefix, addr, ok := strings.Cut(p, ":")
		if !ok || !strings.EqualFold(prefix, "smtp") || addr == "" {
			continue // x500:, sip: and the like are not mail addresses
		}
		if prefix == "SMTP" && mail == "" {
			mail = addr
			continue
		}
		aliases = append(aliases, addr)
	}
	aliases = append(aliases, others...)
	out := aliases[:0]
	for _, a := range aliases {
		if !strings.EqualFold(a, mail) {
			out = append(out, a)
		}
	}
	return mail, out
}

// immutableIDToGUID turns onPremisesImmutableId (base64 of the AD objectGUID's
// bytes, as Entra Connect writes it) into the GUID string the ldap connector
// uses as the AD user's anchor.
func immutableIDToGUID(imm string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(imm)
	if err != nil {
		return "", fmt.Errorf("not base64: %w", err)
	}
	return dirmap.FormatGUID(b)
}

// removedReason returns the @removed reason of a delta entry ("" when present).
func removedReason(p interface{ GetAdditionalData() map[string]any }) string {
	v, ok := p.GetAdditionalData()["@removed"]
	if !ok || v == nil {
		return ""
	}
	if m, ok := v.(map[string]any); ok {
		switch r := m["reason"].(type) {
		case *string:
			if r != nil {
				return *r
			}
		case string:
			return r
		}
	}
	return "removed"
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
