package ldap

import (
	"context"
	"fmt"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		name   string
		lo, hi int
		ok     bool
	}{
		{"member;range=0-1499", "member", 0, 1499, true},
		{"member;range=1500-*", "member", 1500, -1, true},
		{"Member;Range=10-20", "Member", 10, 20, true},
		{"member", "", 0, 0, false},
		{"member;binary", "", 0, 0, false},
		{"member;range=5-1", "", 0, 0, false},
		{"member;range=x-1", "", 0, 0, false},
	} {
		name, lo, hi, ok := parseRange(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		if ok {
			require.Equal(t, []any{tc.name, tc.lo, tc.hi}, []any{name, lo, hi}, tc.in)
		}
	}
}

// fakeResponse replays entries as a goldap.Response.
type fakeResponse struct {
	entries []*goldap.Entry
	i       int
	err     error
}

func (r *fakeResponse) Entry() *goldap.Entry       { return r.entries[r.i-1] }
func (r *fakeResponse) Referral() string           { return "" }
func (r *fakeResponse) Controls() []goldap.Control { return nil }
func (r *fakeResponse) Err() error                 { return r.err }
func (r *fakeResponse) Next() bool {
	if r.i >= len(r.entries) {
		return false
	}
	r.i++
	return true
}

// rangedGroup answers range requests for one group's members the way AD does
// when a group exceeds MaxValRange: step values per answer.
type rangedGroup struct {
	members  []string
	step     int
	requests []string
	lie      bool // answer with the wrong range start
}

func (g *rangedGroup) SearchAsync(_ context.Context, req *goldap.SearchRequest, _ int) goldap.Response {
	attr := req.Attributes[0]
	g.requests = append(g.requests, attr)
	_, lo, _, _ := parseRange(attr)
	if g.lie {
		lo++
	}
	hi := min(lo+g.step, len(g.members))
	name := fmt.Sprintf("member;range=%d-%d", lo, hi-1)
	if hi == len(g.members) {
		name = fmt.Sprintf("member;range=%d-*", lo)
	}
	return &fakeResponse{entries: []*goldap.Entry{{DN: req.BaseDN, Attributes: []*goldap.EntryAttribute{{Name: name, Values: g.members[lo:hi]}}}}}
}

func TestCompleteRangesFetchesEveryRange(t *testing.T) {
	g := &rangedGroup{step: 1500}
	for i := range 4000 {
		g.members = append(g.members, fmt.Sprintf("cn=u%d,ou=staff,dc=example,dc=com", i))
	}
	e := &goldap.Entry{DN: "cn=big,ou=groups,dc=example,dc=com", Attributes: []*goldap.EntryAttribute{
		{Name: "mail", Values: []string{"big@example.com"}},
		{Name: "member;range=0-1499", Values: g.members[:1500]},
	}}
	require.NoError(t, completeRanges(context.Background(), g, e))
	require.Equal(t, []string{"member;range=1500-*", "member;range=3000-*"}, g.requests)
	require.Equal(t, "member", e.Attributes[1].Name)
	require.Equal(t, g.members, e.Attributes[1].Values)
}

func TestCompleteRangesRefusesAGap(t *testing.T) {
	g := &rangedGroup{step: 10, lie: true, members: make([]string, 30)}
	e := &goldap.Entry{DN: "cn=g", Attributes: []*goldap.EntryAttribute{{Name: "member;range=0-9", Values: g.members[:10]}}}
	err := completeRanges(context.Background(), g, e)
	require.ErrorContains(t, err, "asked for values from 10")
}

func TestPartitionsCoverEveryUUIDOnce(t *testing.T) {
	for _, n := range []int{2, 3, 4, 16} {
		s := &source{cfg: &Config{Parallel: n, Preset: "openldap"}, log: zap.NewNop()}
		parts, err := s.partitions(context.Background())
		require.NoError(t, err)
		require.Len(t, parts, n)
		for d := range 16 {
			uuid := fmt.Sprintf("%x1234567-0000-0000-0000-000000000000", d)
			hits := 0
			for _, p := range parts {
				_, err := goldap.CompileFilter("(&(objectClass=*)" + p + ")")
				require.NoError(t, err, p)
				if uuidInPart(uuid, p) {
					hits++
				}
			}
			require.Equal(t, 1, hits, "uuid %s with %d partitions: %v", uuid, n, parts)
		}
	}
}

// uuidInPart evaluates a partition filter's (entryUUID>=X) and (!(entryUUID>=Y))
// terms by string order, as the server's UUID ordering rule does for these values.
func uuidInPart(uuid, part string) bool {
	for _, term := range strings.SplitAfter(part, ")") {
		if term == "" || term == ")" {
			continue
		}
		neg := strings.HasPrefix(term, "(!(")
		v := term[strings.Index(term, ">=")+2 : strings.Index(term, ")")]
		if (uuid >= v) == neg {
			return false
		}
	}
	return true
}

func TestPrepareReportsEveryProblem(t *testing.T) {
	c := &Config{URL: "http://x", StartTLS: true, Preset: "novell", PageSize: 9000, Incremental: "poll",
		BaseDNs: []string{"not a dn"}, UserFilter: "objectClass=user", BindDN: "cn=svc"}
	var fields []string
	for _, err := range c.Prepare(t.TempDir()) {
		var fe *connectors.FieldError
		require.ErrorAs(t, err, &fe, "%v", err)
		fields = append(fields, fe.Field)
	}
	require.ElementsMatch(t, []string{"url", "preset", "base_dns[0]", "user_filter", "page_size", "incremental", "bind_password"}, fields)
}

func TestPrepareADPageSizeCap(t *testing.T) {
	c := &Config{URL: "ldaps://dc1:636", Preset: "ad", PageSize: 2000, BaseDNs: []string{"DC=example,DC=com"}}
	errs := c.Prepare(t.TempDir())
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "at most 1000")
}

func TestMemberOfValuesAreEscaped(t *testing.T) {
	c := &Config{UserFilter: "(objectClass=user)", MemberOf: []string{`CN=Sales (EU)*,OU=G,DC=x`}}
	f := c.userFilter()
	require.Equal(t, `(&(objectClass=user)(|(memberOf=CN=Sales \28EU\29\2a,OU=G,DC=x)))`, f)
	_, err := goldap.CompileFilter(f)
	require.NoError(t, err)
}

func TestSyncInfoDeletesAndPresentPhase(t *testing.T) {
	uuids, cookie, err := syncInfo(&goldap.ControlSyncInfo{Value: goldap.SyncInfoSyncIdSet,
		SyncIdSet: &goldap.ControlSyncInfoSyncIdSet{RefreshDeletes: true, Cookie: []byte("c2")}}, []byte("c1"))
	require.NoError(t, err)
	require.Empty(t, uuids)
	require.Equal(t, "c2", string(cookie))
	_, _, err = syncInfo(&goldap.ControlSyncInfo{Value: goldap.SyncInfoSyncIdSet,
		SyncIdSet: &goldap.ControlSyncInfoSyncIdSet{RefreshDeletes: false}}, nil)
	require.ErrorIs(t, err, errPresentPhase)
	_, cookie, err = syncInfo(&goldap.ControlSyncInfo{Value: goldap.SyncInfoRefreshDelete,
		RefreshDelete: &goldap.ControlSyncInfoRefreshDelete{}}, []byte("keep"))
	require.NoError(t, err)
	require.Equal(t, "keep", string(cookie))
}

func TestEscapeBytes(t *testing.T) {
	require.Equal(t, `\00\ff\2a`, escapeBytes([]byte{0, 0xff, '*'}))
}

func TestPrepareRefusesNestedBaseDNs(t *testing.T) {
	c := &Config{URL: "ldaps://dc1:636", Preset: "ad", BaseDNs: []string{"OU=Staff,DC=example,DC=com", "ou=sales, ou=staff,dc=example,dc=com"}}
	errs := c.Prepare(t.TempDir())
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "base_dns[1]")
	require.ErrorContains(t, errs[0], "read twice")
}

func TestPreparePlaintextBind(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = accepted
	}{
		{"simple bind over ldap://", Config{URL: "ldap://dc1:389", BindDN: "cn=svc"},
			"ldap://dc1:389 sends the bind password of cn=svc in clear: use ldaps:// or start_tls: true; only in a lab, set allow_plaintext_bind: true"},
		{"start_tls", Config{URL: "ldap://dc1:389", StartTLS: true, BindDN: "cn=svc"}, ""},
		{"ldaps", Config{URL: "ldaps://dc1:636", BindDN: "cn=svc"}, ""},
		{"explicit lab opt-in", Config{URL: "ldap://dc1:389", BindDN: "cn=svc", AllowPlaintextBind: true}, ""},
		{"anonymous", Config{URL: "ldap://dc1:389"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Preset, c.BaseDNs = "openldap", []string{"dc=example,dc=com"}
			if c.BindDN != "" {
				c.BindPassword, _ = parseSecret("${PW}")
			}
			errs := c.Prepare(t.TempDir())
			if tc.want == "" {
				require.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1)
			var fe *connectors.FieldError
			require.ErrorAs(t, errs[0], &fe)
			require.Equal(t, "url", fe.Field)
			require.Contains(t, fe.Message, tc.want)
		})
	}
}
