package entra

import "github.com/dirsync/dirsync/connectors"

// UserFields exposes the $select of user reads to the benchmark's raw baseline.
func UserFields() []string { return userFields }

// RereadSingly makes src re-read changed users one GET users/{id} each, as
// before JSON batching: the reference for the batched re-read.
func RereadSingly(src connectors.Source) { src.(*source).singly = true }
