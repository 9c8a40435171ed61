package console

// The sync console's runs (issue 24): the history, one run's page with its
// report, the live progress of a run not finished, the report's download,
// "sync now" and "apply this dry run".

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/api"
)

// runRoutes are the runs pages and their actions. Seeing them needs only
// PermConsole; starting a run needs PermSync.
func (c *Console) runRoutes() []route {
	return []route{
		{"GET " + Prefix + "runs", PermConsole, c.runsPage},
		{"POST " + Prefix + "runs", PermSync, c.syncNow},
		{"GET " + Prefix + "runs/{id}", PermConsole, c.runPage},
		{"GET " + Prefix + "runs/{id}/live", PermConsole, c.runLive},
		{"GET " + Prefix + "runs/{id}/report.json", PermConsole, c.runReportJSON},
		{"POST " + Prefix + "runs/{id}/apply", PermSync, c.applyRun},
	}
}

// Paging of the runs list and of a run's operations.
const (
	runsPageSize = 50
	opsPageSize  = 100
	runPoll      = "every 2s" // how often a run page polls a run not finished
	// htmxStopPolling is the status that ends htmx's polling of an element.
	htmxStopPolling = 286
)

// countKeys are a run's counts in the order a page shows them.
var countKeys = []string{"create", "update", "disable", "enable", "delete", "unchanged", "joined",
	"quarantined", "held", "protected"}

// opActions and opOutcomes are the operations' filters.
var (
	opActions  = []string{"create", "update", "disable", "enable", "delete"}
	opOutcomes = []api.Outcome{api.OutcomePlanned, api.OutcomeApplied, api.OutcomeUnchanged, api.OutcomeFailed, api.OutcomeHeld}
)

// runsView is the data of templates/runs.html.
type runsView struct {
	Connector string
	Status    string
	Cursor    string // where this page starts ("" = the newest runs)
	Runs      []runRow
	// Older is the next page's link ("" on the last page); Newest, on a
	// page after the first, goes back to the first.
	Older, Newest string
	Problem       *problem
	Connectors    []option // the filter's
	Statuses      []option
	Sync          syncForm
}

func (v runsView) PageTitle() string { return "Runs" }

// Caption describes the table.
func (v runsView) Caption() string {
	s := "Runs, newest first"
	if v.Connector != "" {
		s += ", of " + v.Connector
	}
	if v.Status != "" {
		s += ", " + v.Status
	}
	return fmt.Sprintf("%s (%d shown)", s, len(v.Runs))
}

// syncForm is the "sync now" form: the connectors to choose from.
type syncForm struct {
	Connectors []string
	Connector  string // preselected ("" = all)
	Problem    *problem
}

// runRow is one run as the list shows it.
type runRow struct {
	api.Run
	Href   string
	Kind   string // "dry run, full" …
	Took   string
	Counts string // the non-zero counts
	Live   bool   // running or pending
}

// runsPage is the history, newest first, filtered by connector and status,
// cursor-paged, with the "sync now" form for those allowed to sync.
func (c *Console) runsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	v := runsView{Connector: strings.TrimSpace(q.Get("connector")), Status: strings.TrimSpace(q.Get("status")), Cursor: q.Get("cursor")}
	v.Sync = syncForm{Connectors: c.svc.ConnectorNames(), Connector: v.Connector}
	status, err := c.listRuns(r, &v)
	if err != nil {
		return err
	}
	c.render(w, r, s, status, "runs", v)
	return nil
}

// listRuns fills v's filters, rows and page links.
func (c *Console) listRuns(r *http.Request, v *runsView) (int, error) {
	names := v.Sync.Connectors
	v.Connectors = []option{{Value: "", Label: "All connectors", Selected: v.Connector == ""}}
	for _, n := range names {
		v.Connectors = append(v.Connectors, option{Value: n, Label: n, Selected: n == v.Connector})
	}
	if v.Connector != "" && !slices.Contains(names, v.Connector) {
		v.Connectors = append(v.Connectors, option{Value: v.Connector, Label: v.Connector, Selected: true})
	}
	v.Statuses = []option{{Value: "", Label: "Any status", Selected: v.Status == ""}}
	for _, st := range api.RunStatuses {
		v.Statuses = append(v.Statuses, option{Value: string(st), Label: string(st), Selected: string(st) == v.Status})
	}
	if v.Status != "" && !slices.Contains(api.RunStatuses, api.RunStatus(v.Status)) {
		v.Problem = &problem{Status: http.StatusBadRequest, Message: fmt.Sprintf("There is no run status %q: choose one from the list.", v.Status)}
		return http.StatusBadRequest, nil
	}
	page, err := c.svc.Runs(r.Context(), api.RunQuery{Connector: v.Connector, Status: api.RunStatus(v.Status), Cursor: v.Cursor, Limit: runsPageSize})
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
			return 0, err
		}
		v.Problem = p
		return p.Status, nil
	}
	for _, run := range page.Runs {
		v.Runs = append(v.Runs, newRunRow(run))
	}
	link := func(cursor string) string {
		mq := url.Values{}
		if v.Connector != "" {
			mq.Set("connector", v.Connector)
		}
		if v.Status != "" {
			mq.Set("status", v.Status)
		}
		if cursor != "" {
			mq.Set("cursor", cursor)
		}
		if len(mq) == 0 {
			return Prefix + "runs"
		}
		return Prefix + "runs?" + mq.Encode()
	}
	if page.NextCursor != "" {
		v.Older = link(page.NextCursor)
	}
	if v.Cursor != "" {
		v.Newest = link("")
	}
	return http.StatusOK, nil
}

func newRunRow(run api.Run) runRow {
	return runRow{Run: run, Href: Prefix + "runs/" + url.PathEscape(run.RunID), Kind: runKind(run),
		Took: took(run), Counts: countsText(run.Counts), Live: live(run.Status)}
}

// live says whether a run is not finished.
func live(st api.RunStatus) bool { return st == api.RunRunning || st == api.RunPending }

// runKind says what kind of run it is: real or dry, full or incremental.
func runKind(run api.Run) string {
	k := "incremental"
	if run.Full {
		k = "full"
	}
	if run.DryRun {
		return "dry run, " + k
	}
	return k
}

// took is a finished run's duration, rounded for people.
func took(run api.Run) string {
	if run.Finished.IsZero() || run.Started.IsZero() {
		return ""
	}
	return duration(run.Finished.Sub(run.Started))
}

func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// countsText is the non-zero counts, in countKeys order ("none" for none).
func countsText(m map[string]int) string {
	var parts []string
	for _, k := range countKeys {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

// syncNow starts runs (POST /console/runs): all connectors or one,
// incremental or full, real or dry. The answer comes at once as a flash,
// and the browser goes to the run's page (the runs list when several runs
// started, or the run went to the leader).
func (c *Console) syncNow(w http.ResponseWriter, r *http.Request, s *session) error {
	in := api.TriggerSync{DryRun: r.PostFormValue("dry_run") == "1", Full: r.PostFormValue("mode") == "full"}
	if n := strings.TrimSpace(r.PostFormValue("connector")); n != "" {
		in.Connectors = []string{n}
	}
	return c.trigger(w, r, s, in, "")
}

// trigger starts in's runs and answers: the flash and the redirect, or the
// runs page with the refusal.
func (c *Console) trigger(w http.ResponseWriter, r *http.Request, s *session, in api.TriggerSync, applied string) error {
	runs, err := c.svc.Trigger(r.Context(), in)
	ids := make([]string, 0, len(runs))
	for _, t := range runs {
		ids = append(ids, t.RunID)
	}
	fields := []zap.Field{zap.String("admin", s.Address), zap.Strings("connectors", in.Connectors),
		zap.Bool("dry_run", in.DryRun), zap.Bool("full", in.Full), zap.Strings("run_ids", ids)}
	if applied != "" {
		fields = append(fields, zap.String("applies_dry_run", applied))
	}
	if err != nil {
		c.log.Info("sync trigger refused", append(fields, zap.Error(err))...)
		p := c.describe(r, err)
		if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
			return err
		}
		v := runsView{Sync: syncForm{Connectors: c.svc.ConnectorNames(), Problem: p}}
		if len(in.Connectors) == 1 {
			v.Sync.Connector = in.Connectors[0]
		}
		if _, lerr := c.listRuns(r, &v); lerr != nil {
			return lerr
		}
		c.render(w, r, s, p.Status, "runs", v)
		return nil
	}
	c.log.Info("sync triggered from the console", fields...)
	msgs := make([]string, 0, len(runs))
	for _, t := range runs {
		msgs = append(msgs, c.triggerMessage(r, in, t))
	}
	msg := strings.Join(msgs, " ")
	if applied != "" {
		msg = "Applying dry run " + applied + ": " + msg
	}
	if len(runs) == 1 && !runs[0].Forwarded {
		return c.done(w, r, s, Prefix+"runs/"+url.PathEscape(runs[0].RunID), msg)
	}
	if len(runs) == 0 {
		msg = "No connector is enabled: nothing to run."
	}
	return c.done(w, r, s, Prefix+"runs", msg)
}

// triggerMessage says what became of one triggered run: started, queued
// behind the run in progress, joined the pending run, or forwarded.
func (c *Console) triggerMessage(r *http.Request, in api.TriggerSync, t api.TriggeredRun) string {
	what := "Sync"
	if in.DryRun {
		what = "Dry run"
	}
	what += " of " + t.Connector
	switch {
	case t.Forwarded:
		return fmt.Sprintf("%s forwarded to the leader replica (run %s): it appears in the list once the leader runs it.", what, t.RunID)
	case t.Queued:
		// The pending run is shared by every trigger until it starts: more than
		// this one means it was there already.
		if d, err := c.svc.Run(r.Context(), t.RunID); err == nil && d.Triggers > 1 {
			return fmt.Sprintf("%s joined the pending run (%d requests), which starts when the run in progress ends.", what, d.Triggers)
		}
		return what + " queued behind the run in progress: it starts when that run ends."
	}
	return what + " started."
}

// runView is the data of templates/run.html (and of its live part).
type runView struct {
	api.Run
	Report  *api.RunReport
	Live    bool
	Kind    string
	Took    string
	Counts  []countItem
	Reasons []string // why the run ended as it did
	Ops     []opRow
	OpTotal int // operations matching the filters
	// Listed and AllOps are how many operations the report lists and the
	// run had, and AuditHref the audit log of the run's changes: a big
	// run's report lists only some of them (Listed < AllOps).
	Listed    int
	AllOps    int
	AuditHref string
	Action    string
	Outcome   string
	Actions   []option
	Outcomes  []option
	Page      int
	Pages     int
	Prev      string
	Next      string
	Failed    []opRow
	Self      string // the run page's path
	LiveHref  string
	Poll      string // htmx's trigger while the run is not finished
	Now       time.Time
}

func (v runView) PageTitle() string { return "Run of " + v.Connector }

// opRow is one operation as a page shows it: its field changes as text.
type opRow struct {
	api.Operation
	Changes []changeRow
}

func newOpRow(op api.Operation) opRow {
	row := opRow{Operation: op}
	for _, ch := range op.Changes {
		row.Changes = append(row.Changes, changeRow{Field: ch.Field, Before: auditValue(ch.Before),
			After: auditValue(ch.After), NoBefore: ch.Before == nil})
	}
	return row
}

// countItem is one count of a run.
type countItem struct {
	Name  string
	Value int
}

// runPage is one run: its status and why, its timings and counts, its
// operations (paged, filtered), failures, quarantine, warnings and holds.
func (c *Console) runPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.svc.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := c.newRunView(r, d)
	c.render(w, r, s, http.StatusOK, "run", v)
	return nil
}

// runLive answers a run page's polling: the progress while the run is not
// finished; once it is, the whole run body, which replaces the page's (and
// stops the polling). A browser without htmx is sent to the run page.
func (c *Console) runLive(w http.ResponseWriter, r *http.Request, s *session) error {
	if r.Header.Get("HX-Request") != "true" {
		http.Redirect(w, r, Prefix+"runs/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
		return nil
	}
	d, err := c.svc.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		// Not the error page inside the progress line: its words, and 286,
		// which stops htmx's polling.
		p := c.describe(r, err)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(htmxStopPolling)
		return c.fragment(w, "run", "progress-problem", viewOf(s, p))
	}
	v := c.newRunView(r, d)
	name := "progress"
	if !v.Live {
		name = "runbody"
		w.Header().Set("HX-Retarget", "#run-body")
		w.Header().Set("HX-Reswap", "outerHTML")
	}
	return c.fragment(w, "run", name, viewOf(s, v))
}

// viewOf is the layout's data around a fragment: what its templates ask of it.
func viewOf(s *session, data any) view {
	return view{Admin: s.Address, CSRF: s.csrf(), perms: s.perms, Data: data}
}

// fragment writes one template of a page without the layout (an htmx swap).
func (c *Console) fragment(w http.ResponseWriter, page, name string, v view) error {
	t, ok := c.pages.byName[page]
	if !ok {
		return fmt.Errorf("no console template %s", page)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, v); err != nil {
		return fmt.Errorf("render %s/%s: %w", page, name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
	return nil
}

func (c *Console) newRunView(r *http.Request, d api.RunDetail) runView {
	q := r.URL.Query()
	self := Prefix + "runs/" + url.PathEscape(d.RunID)
	v := runView{Run: d.Run, Report: d.Report, Live: live(d.Status), Kind: runKind(d.Run), Took: took(d.Run),
		Action: q.Get("action"), Outcome: q.Get("outcome"), Self: self, LiveHref: self + "/live", Now: c.now()}
	if v.Live {
		v.Poll = runPoll
	}
	counts := d.Counts
	if d.Report != nil {
		counts = d.Report.Counts.Map()
	}
	for _, k := range countKeys {
		if n, ok := counts[k]; ok {
			v.Counts = append(v.Counts, countItem{Name: k, Value: n})
		}
	}
	v.Reasons = runReasons(d)
	v.Actions = []option{{Value: "", Label: "Any action", Selected: v.Action == ""}}
	for _, a := range opActions {
		v.Actions = append(v.Actions, option{Value: a, Label: a, Selected: a == v.Action})
	}
	v.Outcomes = []option{{Value: "", Label: "Any outcome", Selected: v.Outcome == ""}}
	if d.Report == nil {
		return v
	}
	for _, op := range d.Report.Operations {
		if op.Outcome == api.OutcomeFailed {
			v.Failed = append(v.Failed, newOpRow(op))
		}
	}
	// The filter's counts are the run's, not the list's: a big run's
	// report does not list every operation.
	tally := d.Report.Tally()
	for _, o := range opOutcomes {
		v.Outcomes = append(v.Outcomes, option{Value: string(o), Label: fmt.Sprintf("%s (%d)", o, tally.Count(o)),
			Selected: string(o) == v.Outcome})
	}
	if d.Report.OperationsOmitted > 0 {
		v.Listed = len(d.Report.Operations)
		v.AllOps = v.Listed + d.Report.OperationsOmitted
		v.AuditHref = auditHref(url.Values{"run": {d.RunID}})
	}
	var match []api.Operation
	for _, op := range d.Report.Operations {
		if (v.Action == "" || op.Action == v.Action) && (v.Outcome == "" || string(op.Outcome) == v.Outcome) {
			match = append(match, op)
		}
	}
	v.OpTotal = len(match)
	v.Pages = max(1, (len(match)+opsPageSize-1)/opsPageSize)
	v.Page, _ = strconv.Atoi(q.Get("page"))
	v.Page = min(max(v.Page, 1), v.Pages)
	for _, op := range match[(v.Page-1)*opsPageSize : min(v.Page*opsPageSize, len(match))] {
		v.Ops = append(v.Ops, newOpRow(op))
	}
	pageHref := func(p int) string {
		pq := url.Values{}
		if v.Action != "" {
			pq.Set("action", v.Action)
		}
		if v.Outcome != "" {
			pq.Set("outcome", v.Outcome)
		}
		if p > 1 {
			pq.Set("page", strconv.Itoa(p))
		}
		if len(pq) == 0 {
			return self + "#operations"
		}
		return self + "?" + pq.Encode() + "#operations"
	}
	if v.Page > 1 {
		v.Prev = pageHref(v.Page - 1)
	}
	if v.Page < v.Pages {
		v.Next = pageHref(v.Page + 1)
	}
	return v
}

// runReasons say why a run has its status, in words.
func runReasons(d api.RunDetail) []string {
	var out []string
	switch d.Status {
	case api.RunPending:
		out = append(out, "Queued behind this connector's run in progress: it starts when that run ends.")
		if d.Triggers > 1 {
			out = append(out, fmt.Sprintf("%d requests joined it (%s).", d.Triggers, strings.Join(d.RequestedBy, ", ")))
		}
	case api.RunOK:
		out = append(out, "Every planned change was applied.")
	case api.RunDryRun:
		out = append(out, "A dry run: the plan below was computed and nothing was changed.")
	}
	if d.Report != nil {
		if d.Report.HoldReason != "" {
			out = append(out, d.Report.HoldReason)
		}
		out = append(out, d.Report.Errors...)
	} else if d.Error != "" {
		out = append(out, d.Error)
	}
	return out
}

// runReportJSON downloads the run as GET /v1/runs/{id} answers it.
func (c *Console) runReportJSON(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.svc.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("encode run %s: %w", d.RunID, err)
	}
	name := "dirsync-run-" + safeFileName(d.Connector) + "-" + safeFileName(d.RunID) + ".json"
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, _ = w.Write([]byte(b.String()))
	return nil
}

// safeFileName keeps letters, digits, '-', '_' and '.' of s.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// applyRun applies a dry run: the same connector, for real, with the same
// full or incremental choice. It reads the source again, so the changes are
// the dry run's plan unless the source changed in between.
func (c *Console) applyRun(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.svc.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !d.DryRun || live(d.Status) {
		c.render(w, r, s, http.StatusConflict, "error", errorPage{Title: "Not a finished dry run",
			Message: fmt.Sprintf("Run %s is not a finished dry run, so there is no plan to apply. "+
				"Use “Sync now” on the runs page to start a run.", d.RunID),
			Back: Prefix + "runs/" + url.PathEscape(d.RunID)})
		return nil
	}
	return c.trigger(w, r, s, api.TriggerSync{Connectors: []string{d.Connector}, Full: d.Full}, d.RunID)
}

// Elapsed is how long a run not finished has been running (or waiting).
func (v runView) Elapsed() string {
	if v.Started.IsZero() {
		return ""
	}
	return duration(v.Now.Sub(v.Started).Truncate(time.Second))
}

// stageRow is one stage of a running run, as the live progress lists it.
type stageRow struct {
	Label  string
	State  string // done, current or todo
	Detail string // the current stage's counts
}

// runStages are the engine's stages in order, with their labels.
var runStages = []struct {
	stage api.Stage
	label string
}{
	{api.StageRead, "Read the source"},
	{api.StagePlan, "Plan the changes"},
	{api.StageApply, "Apply them to the store"},
	{api.StageCommit, "Commit the state"},
}

// Stages is where a running run is: each stage done, current or to come
// (none before the engine's first word, and for a pending run).
func (v runView) Stages() []stageRow {
	p := v.Progress
	if p == nil || v.Status != api.RunRunning {
		return nil
	}
	at := slices.IndexFunc(runStages, func(s struct {
		stage api.Stage
		label string
	}) bool {
		return s.stage == p.Stage
	})
	var out []stageRow
	for i, st := range runStages {
		row := stageRow{Label: st.label, State: "todo"}
		switch {
		case i < at:
			row.State = "done"
		case i == at:
			row.State, row.Detail = "current", p.String()
		}
		if v.DryRun && (st.stage == api.StageApply || st.stage == api.StageCommit) {
			row.Detail = "not in a dry run"
		}
		out = append(out, row)
	}
	return out
}

// Applicable says whether the run is a finished dry run, whose plan "Apply
// this run" runs for real.
func (v runView) Applicable() bool { return v.DryRun && !v.Live }

// Filtered says whether the operations are filtered.
func (v runView) Filtered() bool { return v.Action != "" || v.Outcome != "" }
