package api

import (
	"fmt"
	"net/http"

	"github.com/dirsync/dirsync/outbound"
)

// maxSenders bounds one POST /v1/senders batch.
const maxSenders = 1000

// reportSenders settles a batch of outbound senders: each one is created,
// exists or is ignored with a reason, in the order given.
func (s *server) reportSenders(w http.ResponseWriter, r *http.Request) error {
	if s.senders == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "this process ingests no outbound senders: report them to the dirsync daemon (dirsync serve)"}
	}
	var in ReportSenders
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	switch {
	case len(in.Senders) == 0:
		return badRequest(`"senders" is empty: list the sender addresses, e.g. {"senders": ["alice@example.com"]}`)
	case len(in.Senders) > maxSenders:
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("%d senders in one request: send at most %d at a time", len(in.Senders), maxSenders)}
	}
	res, err := s.senders.Report(r.Context(), in.Senders, "http")
	if err != nil {
		// Nothing is known to be settled: the gateway should send the batch
		// again. The cause (a store or Redis error naming hosts) is logged,
		// never sent: the gateway can do nothing with it.
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Err: err,
			Message: "senders not settled: the store or the state backend did not answer; send the batch again later (the daemon's log has the details)"}
	}
	out := SendersReport{Results: res}
	for _, x := range res {
		switch x.Status {
		case outbound.Created:
			out.Created++
		case outbound.Exists:
			out.Exists++
		default:
			out.Ignored++
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
