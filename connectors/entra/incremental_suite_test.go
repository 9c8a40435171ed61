package entra_test

import (
	"testing"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
)

// The incremental suite against the fake Graph's delta queries. Users 3 and 4
// are in no group, so changing them changes nothing else.
func TestIncrementalConformance(t *testing.T) {
	tn := newTenant(t, nil)
	tn.seed()
	connectortest.RunIncrementalTests(t, func(t *testing.T) connectors.Source { return tn.open() },
		connectortest.Expect{Users: 6, Groups: 2}, connectortest.Changes{
			Modify: func(t *testing.T, _ []connectors.Record) string {
				u := tn.user(3)
				u.Department = "Marketing"
				tn.srv.PutUser(u)
				return id(3)
			},
			Delete: func(t *testing.T, _ []connectors.Record) string {
				tn.srv.HardDeleteUser(id(4))
				return id(4)
			},
		})
}
