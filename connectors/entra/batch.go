package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// batchSize is how many requests Graph takes in one JSON batch.
const batchSize = 20

// batchAnswer is one response of a $batch, as Graph's JSON has it.
type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// throttledItem is a batched re-read Graph throttled (429) or could not serve
// for now (503, 504): it is sent again, alone of its batch, after wait.
type throttledItem struct {
	id   string
	wait time.Duration
	err  error
}

// reread fetches users by id and hands them to each (called from one
// goroutine at a time). A user gone since the delta round (404) is skipped:
// the next round reports its removal.
//
// Users are read through JSON batching: 20 GET users/{id} to a POST $batch,
// cfg.Parallel batches at once, so 100 changed users cost 5 requests instead
// of 100. Graph answers each request of a batch on its own: the ones it
// throttled (429, or 503/504) are sent again, in new batches, after the
// longest Retry-After they carry, within max_retries and max_retry_wait as a
// request alone is; any other failure of one is classified as the same
// failure of a request alone (graphError).
func (s *source) reread(ctx context.Context, ids []string, each func(*graphUser) error) error {
	if s.singly {
		return s.rereadSingly(ctx, ids, each)
	}
	var mu sync.Mutex
	emit := func(u *graphUser) error {
		mu.Lock()
		defer mu.Unlock()
		return each(u)
	}
	var waited time.Duration
	for attempt := 1; len(ids) > 0; attempt++ {
		throttled, err := s.rereadRound(ctx, ids, emit)
		if err != nil || len(throttled) == 0 {
			return err
		}
		wait := time.Duration(0)
		for _, t := range throttled {
			wait = max(wait, t.wait)
		}
		retry := attempt <= s.cfg.MaxRetries && waited+wait <= s.cfg.MaxRetryWait && ctx.Err() == nil
		s.log.Warn("graph is throttling or unavailable",
			zap.Int("status", status(throttled[0].err)), zap.String("path", "$batch"), zap.Int("requests", len(throttled)),
			zap.Duration("retry_after", wait), zap.Int("attempt", attempt), zap.Duration("waited", waited), zap.Bool("retrying", retry))
		if !retry {
			return graphError("users/"+throttled[0].id, 1, throttled[0].err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("graph users/%s: waiting to retry: %w", throttled[0].id, context.Cause(ctx))
		case <-t.C:
		}
		waited += wait
		ids = ids[:0:0]
		for _, t := range throttled {
			ids = append(ids, t.id)
		}
	}
	return nil
}

// rereadRound sends ids in batches, cfg.Parallel at once, and returns the
// requests Graph throttled.
func (s *source) rereadRound(ctx context.Context, ids []string, emit func(*graphUser) error) ([]throttledItem, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	var mu sync.Mutex
	var throttled []throttledItem
	for chunk := range slices.Chunk(ids, batchSize) {
		g.Go(func() error {
			t, err := s.rereadBatch(gctx, chunk, emit)
			mu.Lock()
			defer mu.Unlock()
			throttled = append(throttled, t...)
			return err
		})
	}
	err := g.Wait()
	return throttled, err
}

// rereadBatch reads up to 20 users with one $batch. The batch is built and
// serialized by the SDK (msgraph-sdk-go-core's BatchRequest, from the same
// request builders as a read alone) and sent through the same adapter and
// middleware (auth, retry of the batch itself, telemetry); the answer is
// decoded with encoding/json, as user pages are (see graphUser), rather than
// through the SDK's BatchResponse, which turns each body into a generic map.
func (s *source) rereadBatch(ctx context.Context, ids []string, emit func(*graphUser) error) ([]throttledItem, error) {
	batch := msgraphcore.NewBatchRequest(s.adapter)
	byItem := make(map[string]string, len(ids))
	for _, id := range ids {
		req, err := s.client.Users().ByUserId(id).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
		if err != nil {
			return nil, fmt.Errorf("graph users/%s request: %w", id, err)
		}
		item, err := batch.AddBatchRequestStep(*req)
		if err != nil {
			return nil, fmt.Errorf("graph $batch request for users/%s: %w", id, err)
		}
		byItem[*item.GetId()] = id
	}
	req := abstractions.NewRequestInformation()
	req.Method = abstractions.POST
	req.UrlTemplate = "{+baseurl}/$batch"
	req.PathParameters["baseurl"] = s.adapter.GetBaseUrl()
	req.Headers.Add("Accept", "application/json")
	if err := req.SetContentFromParsable(ctx, s.adapter, "application/json", batch); err != nil {
		return nil, fmt.Errorf("graph $batch request: %w", err)
	}
	what := fmt.Sprintf("$batch (re-reading %d changed users from users/%s)", len(ids), ids[0])
	var answer struct {
		Responses []batchAnswer `json:"responses"`
	}
	if err := s.send(ctx, req, &answer); err != nil {
		return nil, graphError(what, 1, err)
	}
	var throttled []throttledItem
	for _, a := range answer.Responses {
		id, ok := byItem[a.ID]
		if !ok {
			return nil, fmt.Errorf("graph %s answered for request id %q, which it was not sent (or twice)", what, a.ID)
		}
		delete(byItem, a.ID)
		switch {
		case a.Status >= 200 && a.Status < 300:
			var u graphUser
			if err := json.Unmarshal(a.Body, &u); err != nil {
				return nil, fmt.Errorf("graph users/%s (in a $batch) answered JSON that does not decode: %w", id, err)
			}
			if err := emit(&u); err != nil {
				return nil, err
			}
		case a.Status == 404:
			s.log.Debug("changed user is gone before it could be read", zap.String("id", id))
		case a.Status == 429 || a.Status == 503 || a.Status == 504:
			throttled = append(throttled, throttledItem{id: id, wait: retryAfterValue(header(a.Headers, "Retry-After")), err: a.err()})
		default:
			return nil, graphError("users/"+id, 1, a.err())
		}
	}
	if len(byItem) > 0 {
		missing := slices.Sorted(maps.Values(byItem))
		return nil, fmt.Errorf("graph %s answered nothing for users/%s", what, strings.Join(missing, ", users/"))
	}
	return throttled, nil
}

// err is a failed request of a batch as the SDK's error for the same
// request sent alone: an ODataError with Graph's status, code and message.
func (a *batchAnswer) err() error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.Body, &body) // a body that is not Graph's error leaves code and message empty
	main := odataerrors.NewMainError()
	main.SetCode(&body.Error.Code)
	main.SetMessage(&body.Error.Message)
	od := odataerrors.NewODataError()
	od.SetErrorEscaped(main)
	od.ResponseStatusCode = a.Status
	od.Message = body.Error.Message
	return od
}

// header reads a batch answer's header by name, in any case.
func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// retryAfterValue reads Retry-After in seconds (Graph never sends a date);
// without one, the SDK's base delay of 2 s.
func retryAfterValue(v string) time.Duration {
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	return 2 * time.Second
}
