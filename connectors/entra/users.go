package entra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
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

// graphUser is a user as Graph's JSON has it (only the selected properties).
//
// User pages are the bulk of every read, so they are decoded here with
// encoding/json rather than into the SDK's models: the request still goes
// through the SDK (request builders, auth provider, retry and telemetry
// middleware, error mapping), but the SDK's generic parse tree and backing
// store made a 100,000-user read 4.8 times slower than a raw fetch.
type graphUser struct {
	ID                    string   `json:"id"`
	UserPrincipalName     string   `json:"userPrincipalName"`
	Mail                  *string  `json:"mail"`
	ProxyAddresses        []string `json:"proxyAddresses"`
	OtherMails            []string `json:"otherMails"`
	DisplayName           *string  `json:"displayName"`
	GivenName             *string  `json:"givenName"`
	Surname               *string  `json:"surname"`
	BusinessPhones        []string `json:"businessPhones"`
	MobilePhone           *string  `json:"mobilePhone"`
	Department            *string  `json:"department"`
	JobTitle              *string  `json:"jobTitle"`
	AccountEnabled        *bool    `json:"accountEnabled"`
	UserType              *string  `json:"userType"`
	OnPremisesImmutableID *string  `json:"onPremisesImmutableId"`
	AssignedLicenses      []struct {
		SkuID string `json:"skuId"`
	} `json:"assignedLicenses"`
	Removed *struct {
		Reason string `json:"reason"`
	} `json:"@removed"`
}

type userPage struct {
	Value     []graphUser `json:"value"`
	NextLink  string      `json:"@odata.nextLink"`
	DeltaLink string      `json:"@odata.deltaLink"`
}

// errorMapping turns every error status into the SDK's ODataError.
var errorMapping = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// send sends a request built by the SDK through its adapter and decodes the JSON
// answer into out.
func (s *source) send(ctx context.Context, req *abstractions.RequestInformation, out any) error {
	raw, err := s.adapter.SendPrimitive(ctx, req, "[]byte", errorMapping)
	if err != nil {
		return err
	}
	body, _ := raw.([]byte)
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("graph answered with JSON that does not decode: %w", err)
	}
	return nil
}

// usersDelta pages through a users/delta round, from the start (link "") or from
// a delta link, calling each for every user, and returns the round's delta link.
func (s *source) usersDelta(ctx context.Context, link string, each func(*graphUser) error) (string, error) {
	cfg := &users.DeltaRequestBuilderGetRequestConfiguration{Headers: s.pageHeaders()}
	b := s.client.Users().Delta()
	if link == "" {
		cfg.QueryParameters = &users.DeltaRequestBuilderGetQueryParameters{Select: userFields}
	} else {
		b = b.WithUrl(link)
	}
	for pages := 1; ; pages++ {
		req, err := b.ToGetRequestInformation(ctx, cfg)
		if err != nil {
			return "", fmt.Errorf("graph users/delta request: %w", err)
		}
		var page userPage
		if err := s.send(ctx, req, &page); err != nil {
			return "", graphError("users/delta", pages, err)
		}
		for i := range page.Value {
			if err := each(&page.Value[i]); err != nil {
				return "", err
			}
		}
		if page.NextLink != "" {
			b, cfg.QueryParameters = s.client.Users().Delta().WithUrl(page.NextLink), nil
			continue
		}
		if page.DeltaLink != "" {
			return page.DeltaLink, nil
		}
		return "", graphError("users/delta", pages, errIncompleteRound)
	}
}

// fullUsers reads every user.
func (s *source) fullUsers(ctx context.Context, admins map[string]bool, emit connectors.Emit) (string, error) {
	n := 0
	link, err := s.usersDelta(ctx, "", func(u *graphUser) error {
		if u.Removed != nil {
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
	link, err := s.usersDelta(ctx, prev.Users, func(u *graphUser) error {
		if u.ID == "" {
			return nil
		}
		if u.Removed != nil {
			removed[u.ID] = true
			s.log.Debug("user removed in Entra", zap.String("id", u.ID), zap.String("reason", u.Removed.Reason))
			return emit(connectors.Record{Kind: connectors.KindUser, Anchor: u.ID, Ref: u.ID, Deleted: true})
		}
		if !seen[u.ID] {
			seen[u.ID] = true
			changed = append(changed, u.ID)
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
	err = s.reread(ctx, changed, func(u *graphUser) error {
		if rec, ok := s.mapUser(u, admins); ok {
			return emit(rec)
		}
		// Out of scope now (turned guest): the engine drops it if it had it.
		return emit(connectors.Record{Kind: connectors.KindUser, Anchor: u.ID, Ref: u.UserPrincipalName, Deleted: true})
	})
	if err == nil {
		s.log.Info("users read", zap.Int("changed", len(changed)), zap.Int("removed", len(removed)), zap.Bool("full", false))
	}
	return link, err
}

// rereadSingly is reread one GET users/{id} per user, cfg.Parallel at a time:
// what reread did before JSON batching, kept as the reference the batched
// re-read is tested and benchmarked against (export_test.go selects it).
func (s *source) rereadSingly(ctx context.Context, ids []string, each func(*graphUser) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	var mu sync.Mutex
	for _, id := range ids {
		g.Go(func() error {
			req, err := s.client.Users().ByUserId(id).ToGetRequestInformation(gctx, &users.UserItemRequestBuilderGetRequestConfiguration{
				QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
			if err != nil {
				return fmt.Errorf("graph users/%s request: %w", id, err)
			}
			var u graphUser
			err = s.send(gctx, req, &u)
			if status(err) == 404 {
				s.log.Debug("changed user is gone before it could be read", zap.String("id", id))
				return nil
			}
			if err != nil {
				return graphError("users/"+id, 1, err)
			}
			mu.Lock()
			defer mu.Unlock()
			return each(&u)
		})
	}
	return g.Wait()
}

// mapUser turns a Graph user into a record; ok=false means out of scope (a
// guest when guests are not included).
func (s *source) mapUser(u *graphUser, admins map[string]bool) (connectors.Record, bool) {
	if isGuest(u) && !s.cfg.IncludeGuests {
		return connectors.Record{}, false
	}
	return s.userRecord(u, admins), true
}

func isGuest(u *graphUser) bool { return strings.EqualFold(deref(u.UserType), "Guest") }

// userRecord maps a Graph user, in scope or not.
func (s *source) userRecord(u *graphUser, admins map[string]bool) connectors.Record {
	rec := connectors.Record{
		Kind:        connectors.KindUser,
		Anchor:      u.ID,
		Ref:         u.UserPrincipalName,
		DisplayName: deref(u.DisplayName),
		GivenName:   deref(u.GivenName),
		Surname:     deref(u.Surname),
		Department:  deref(u.Department),
		Title:       deref(u.JobTitle),
		Disabled:    u.AccountEnabled != nil && !*u.AccountEnabled,
		Admin:       admins[u.ID],
		Licensed:    len(u.AssignedLicenses) > 0,
	}
	if rec.Ref == "" {
		rec.Ref = u.ID
	}
	if len(u.BusinessPhones) > 0 {
		rec.Phone = u.BusinessPhones[0]
	} else {
		rec.Phone = deref(u.MobilePhone)
	}
	var warn *connectors.FieldError
	rec.Mail, rec.MailFallback, rec.Aliases, warn = userAddresses(deref(u.Mail), u.ProxyAddresses, u.OtherMails, s.cfg.preferMail())
	if warn != nil {
		rec.Warnings = append(rec.Warnings, *warn)
	}
	if imm := deref(u.OnPremisesImmutableID); imm != "" {
		if guid, err := immutableIDToGUID(imm); err == nil {
			rec.JoinAnchor = guid
		} else {
			s.log.Debug("onPremisesImmutableId is not a base64 objectGUID: no hybrid join", zap.String("user", rec.Ref), zap.Error(err))
		}
	}
	return rec
}

// addresses is userAddresses without the warning, for groups.
func addresses(mail string, proxies, others []string, preferMail bool) (string, []string) {
	mail, _, aliases, _ := userAddresses(mail, proxies, others, preferMail)
	return mail, aliases
}

// userAddresses picks the primary address and the aliases (smtp: proxy
// addresses and otherMails), primary excluded. The SMTP: proxy address, what
// Exchange sends as, wins over a disagreeing mail, which is kept as an alias
// with a warning (dirmap.PickPrimary, the rule of the AD preset too), unless
// preferMail (the connector's primary_address: mail). fallback is the address
// that lost (connectors.Record.MailFallback).
func userAddresses(mail string, proxies, others []string, preferMail bool) (primary, fallback string, _ []string, _ *connectors.FieldError) {
	var aliases []string
	for _, p := range proxies {
		prefix, addr, ok := strings.Cut(p, ":")
		if !ok || !strings.EqualFold(prefix, "smtp") || addr == "" {
			continue // x500:, sip: and the like are not mail addresses
		}
		if prefix == "SMTP" && primary == "" {
			primary = addr
			continue
		}
		aliases = append(aliases, addr)
	}
	aliases = append(aliases, others...)
	mail, other, warn := dirmap.PickPrimary(mail, primary, preferMail)
	if other != "" {
		aliases = append(aliases, other)
	}
	out := aliases[:0]
	for _, a := range aliases {
		if !strings.EqualFold(a, mail) {
			out = append(out, a)
		}
	}
	return mail, other, out, warn
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
