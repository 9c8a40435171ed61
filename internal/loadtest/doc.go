// Package loadtest holds the admin API load test: a real `dirsync serve`
// answers a crowd of concurrent API clients (reads, writes, sign-ins, sync
// triggers) while it synchronises thousands of users from the test OpenLDAP,
// and the synchronised users must come out exactly as from a run without load.
//
// The package has no code of its own; the test is in load_test.go. `make test`
// runs a short size (50 clients, 10 s, 2,000 users); `make load` sets
// DIRSYNC_LOAD=full for the size (200 clients, 60 s, 10,000 users).
package loadtest
