package api

// The explanation of one object (POST /v1/explain): every stage of a sync for
// one source object. The daemon converts the engine's explanation into these
// types (daemon/apiwire); the JSON field names are the engine's.

// Explanation is what was read, whether the scope admits it, what normalising
// made of it, which store object it joins, and the exact operations a run
// would plan; with apply, the one-object run's report.
type Explanation struct {
	Connector string           `json:"connector"`
	Key       string           `json:"key"`
	Read      ExplainRead      `json:"read"`
	Scope     ExplainScope     `json:"scope"`
	Normalise ExplainNormalise `json:"normalise"`
	Join      ExplainJoin      `json:"join"`
	Plan      ExplainPlan      `json:"plan"`
	// Apply is the one-object run's report (explain --apply).
	Apply *RunReport `json:"apply,omitempty"`
}

// ExplainRead is the object as the source returned it.
type ExplainRead struct {
	// Query is the search that found it, as an admin could run it by hand.
	Query string `json:"query"`
	// Attributes are the raw values, secrets redacted by the connector.
	Attributes map[string][]string `json:"attributes"`
}

// ExplainScope is the scope rules' verdicts.
type ExplainScope struct {
	InScope bool         `json:"in_scope"`
	Checks  []ScopeCheck `json:"checks"`
}

// ScopeCheck is one scope rule and what it said.
type ScopeCheck struct {
	Rule     string `json:"rule"`
	Admitted bool   `json:"admitted"`
	Detail   string `json:"detail,omitempty"`
}

// ExplainNormalise is the mapped and validated record, or why it is quarantined.
type ExplainNormalise struct {
	OK          bool              `json:"ok"`
	Record      *ExplainRecord    `json:"record,omitempty"`
	Quarantined []QuarantineEntry `json:"quarantined,omitempty"`
	Warnings    []QuarantineEntry `json:"warnings,omitempty"`
}

// ExplainRecord is the normalised record a run would plan from.
type ExplainRecord struct {
	Kind        string   `json:"kind"`
	Ref         string   `json:"ref"`
	Anchor      string   `json:"anchor"`
	Address     string   `json:"address"`
	Aliases     []string `json:"aliases,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	GivenName   string   `json:"given_name,omitempty"`
	Surname     string   `json:"surname,omitempty"`
	Phone       string   `json:"phone,omitempty"`
	Department  string   `json:"department,omitempty"`
	Title       string   `json:"title,omitempty"`
	Enabled     bool     `json:"enabled"`
	Members     []string `json:"members,omitempty"`
	// JoinAnchor is another connector's anchor for the same object (hybrid AD +
	// Entra): the record joins that object rather than creating its own.
	JoinAnchor string `json:"join_anchor,omitempty"`
	Deleted    bool   `json:"deleted,omitempty"`
}

// JoinBy is how a record found its store object.
type JoinBy string

// Join methods.
const (
	JoinByAnchor     JoinBy = "anchor"
	JoinByAddress    JoinBy = "address"
	JoinByJoinAnchor JoinBy = "join-anchor"
	JoinByNone       JoinBy = "none"
)

// ExplainJoin says which store object the record belongs to.
type ExplainJoin struct {
	By      JoinBy       `json:"by"`
	Detail  string       `json:"detail"`
	User    *JoinedUser  `json:"user,omitempty"`
	Cached  *CachedEntry `json:"cached,omitempty"`
	Changed bool         `json:"changed_since_last_run"`
}

// JoinedUser is the store object a record joins, in short.
type JoinedUser struct {
	Address   string `json:"address"`
	Kind      string `json:"kind"`
	Origin    string `json:"origin"`
	Anchor    string `json:"anchor,omitempty"`
	Enabled   bool   `json:"enabled"`
	Protected string `json:"protected,omitempty"`
}

// CachedEntry is the object in the connector's cached state. Its field names
// are the state backend's short ones (they were on the wire first).
type CachedEntry struct {
	// Fingerprint of the normalised record as last applied.
	Fingerprint string `json:"f"`
	Kind        string `json:"k,omitempty"`
	// Address is the primary address the object has in the store.
	Address string `json:"a"`
	// Ref is the source's own name for the object (a DN).
	Ref string `json:"r,omitempty"`
	// Missing counts consecutive full runs in which the object was absent.
	Missing int `json:"m,omitempty"`
	// Gone: the engine disabled the object because it went missing.
	Gone bool `json:"g,omitempty"`
}

// ExplainPlan is what a run would do with the object.
type ExplainPlan struct {
	Summary    string            `json:"summary"`
	Operations []PlannedOp       `json:"operations"`
	Refused    []QuarantineEntry `json:"refused,omitempty"`
}

// PlannedOp is one operation and what would stop it (a pending hold, protection).
type PlannedOp struct {
	Change
	Note string `json:"note,omitempty"`
}
