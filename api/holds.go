package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/store"
)

// Held operations: listed with their status, approved or rejected one by one
// or in bulk.

var holdStatuses = []HoldStatus{HoldPending, HoldApplied, HoldRejected, HoldExpired}

func joinStatuses(ss []HoldStatus) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

func (s *Service) holdsOr503() (Holds, error) {
	if s.holds == nil {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "this process keeps no holds: ask the dirsync daemon (dirsync serve)"}
	}
	return s.holds, nil
}

// Holds lists held operations of a connector ("" = all) with a status (""
// = all).
func (s *Service) Holds(ctx context.Context, connector string, status HoldStatus) ([]Hold, error) {
	h, err := s.holdsOr503()
	if err != nil {
		return nil, err
	}
	if status != "" && !slices.Contains(holdStatuses, status) {
		return nil, badRequest("status %q: use one of %s", status, joinStatuses(holdStatuses))
	}
	list, err := h.Holds(ctx, connector, string(status))
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []Hold{}
	}
	return list, nil
}

func (s *server) listHolds(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.holdsOr503(); err != nil {
		return err
	}
	q, err := query(r, "connector", "status")
	if err != nil {
		return err
	}
	list, err := s.Holds(r.Context(), q.Get("connector"), HoldStatus(q.Get("status")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, HoldList{Holds: list})
	return nil
}

// DecideHolds approves or rejects the holds d selects (ids, or every
// pending one of a run or a connector) as actor: one result per operation,
// refused ones with their code.
func (s *Service) DecideHolds(ctx context.Context, actor store.Actor, d DecideHolds, approve bool) ([]HoldResult, error) {
	h, err := s.holdsOr503()
	if err != nil {
		return nil, err
	}
	if len(d.IDs) == 0 && d.RunID == "" && d.Connector == "" {
		return nil, badRequest(`say which holds: "ids", or every pending one of a "run_id" or a "connector"`)
	}
	res, err := h.Decide(ctx, d, approve, actor.Name)
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = []HoldResult{}
	}
	return res, nil
}

func (s *server) approveHold(w http.ResponseWriter, r *http.Request) error {
	return s.decideOne(w, r, true)
}

func (s *server) rejectHold(w http.ResponseWriter, r *http.Request) error {
	return s.decideOne(w, r, false)
}

func (s *server) approveHolds(w http.ResponseWriter, r *http.Request) error {
	return s.decideMany(w, r, true)
}

func (s *server) rejectHolds(w http.ResponseWriter, r *http.Request) error {
	return s.decideMany(w, r, false)
}

// decideOne decides the hold named in the path; a refusal is the answer's
// error (404 hold_not_found, 409 hold_decided, 409 hold_expired when the
// approval found the operation no longer planned or too old, or 422
// apply_failed when the store refused the approved operation).
func (s *server) decideOne(w http.ResponseWriter, r *http.Request, approve bool) error {
	id := r.PathValue("id")
	res, err := s.DecideHolds(r.Context(), adminActor(r), DecideHolds{IDs: []string{id}}, approve)
	if err != nil {
		return err
	}
	for _, x := range res {
		switch x.Code {
		case CodeHoldNotFound:
			return &apiError{Status: http.StatusNotFound, Code: x.Code, Message: x.Error + "; GET /v1/holds lists them"}
		case CodeHoldDecided, CodeHoldExpired:
			return &apiError{Status: http.StatusConflict, Code: x.Code, Message: x.Error}
		case CodeApplyFailed:
			return &apiError{Status: http.StatusUnprocessableEntity, Code: x.Code, Message: x.Error}
		case "":
		default:
			// Only catalogued codes reach the wire (TestErrorCatalogue).
			return fmt.Errorf("hold %s: result code %q is not in the catalogue: %s", x.ID, x.Code, x.Error)
		}
	}
	writeJSON(w, http.StatusOK, HoldResults{Results: res})
	return nil
}

// decideMany decides in bulk: 200 with one result per operation, refused
// ones included with their code.
func (s *server) decideMany(w http.ResponseWriter, r *http.Request, approve bool) error {
	if _, err := s.holdsOr503(); err != nil {
		return err
	}
	var in DecideHolds
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	res, err := s.DecideHolds(r.Context(), adminActor(r), in, approve)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, HoldResults{Results: res})
	return nil
}
