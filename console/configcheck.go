package console

import (
	"net/http"
	"time"

	"github.com/dirsync/dirsync/api"
)

// The configuration check (issue 24): `dirsync config check` over the
// configuration the daemon runs, each line with what was found or how to fix
// it. It only reads, so viewing it needs only the console.

func (c *Console) configRoutes() []route {
	return []route{{"GET " + Prefix + "config", PermConsole, c.configCheckPage}}
}

// configCheckView is the data of templates/configcheck.html.
type configCheckView struct {
	Problem *problem
	api.ConfigCheck
	Rows []configCheckRow
	// Cached: the result is a recent one answered again, not this request's.
	Cached bool
}

func (configCheckView) PageTitle() string { return "Configuration check" }

// configCheckRow is one line as the table shows it.
type configCheckRow struct {
	api.CheckLine
	What string // the check in words
	Took string // "" = not timed
}

// checkWords are the checks in words.
var checkWords = map[string]string{
	"configuration": "Configuration",
	"secret":        "Secret",
	"state":         "State backend",
	"store":         "Store",
	"mail":          "Mail server",
	"connector":     "Connector",
}

// timedChecks are the checks that connect to something, and are timed.
var timedChecks = map[string]bool{"state": true, "store": true, "mail": true, "connector": true}

// configCheckPage runs (or answers a recent) check; ?fresh=1 runs it anew.
func (c *Console) configCheckPage(w http.ResponseWriter, r *http.Request, s *session) error {
	fresh := r.URL.Query().Get("fresh") == "1"
	asked := c.svc.Now()
	cc, err := c.svc.ConfigCheck(r.Context(), fresh)
	status := http.StatusOK
	v := configCheckView{}
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
			return err
		}
		v.Problem, status = p, p.Status
	}
	v.ConfigCheck = cc
	v.Cached = err == nil && cc.Generated.Before(asked.Add(-time.Second))
	for _, l := range cc.Checks {
		row := configCheckRow{CheckLine: l, What: checkWords[l.Check]}
		if row.What == "" {
			row.What = l.Check
		}
		switch {
		case l.TookSeconds > 0:
			row.Took = ovDuration(time.Duration(l.TookSeconds * float64(time.Second)))
		case timedChecks[l.Check] && l.Status != api.CheckSkipped:
			row.Took = "under 1ms" // the check counts whole milliseconds
		}
		v.Rows = append(v.Rows, row)
	}
	c.render(w, r, s, status, "configcheck", v)
	return nil
}
