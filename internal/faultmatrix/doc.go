// Package faultmatrix holds the fault matrix: one end-to-end test that runs
// dirsync against real servers under each fault (a source that breaks, a
// state backend or store that dies, a process killed mid-apply, replicas that
// race) and checks the three things the product promises: nobody wrongly
// disabled or deleted, no change lost, and convergence once the fault clears.
// The test prints the matrix as a table; docs/fault-matrix.md keeps a copy.
package faultmatrix
