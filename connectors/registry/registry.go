// Package registry lists the connector types compiled into dirsync. Adding a
// connector is one package plus one line here; nothing registers itself in init().
package registry

import (
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/entra"
	"github.com/dirsync/dirsync/connectors/file"
	"github.com/dirsync/dirsync/connectors/ldap"
)

// Builtin returns the connector types dirsync ships with.
func Builtin() connectors.Registry {
	return connectors.Registry{
		"entra": entra.New,
		"file":  file.New,
		"ldap":  ldap.New,
	}
}
