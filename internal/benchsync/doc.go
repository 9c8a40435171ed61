// Package benchsync holds BenchmarkSyncTable, the benchmark behind `make
// bench-sync`: one table of the real dirsync binary's phases (its own read,
// initial sync into SQLite and into PostgreSQL, no-change resync, incremental
// after 1,000 changes) against ldapsearch of the same entries, each with its
// peak RSS from the kernel, against a throwaway slapd of BENCH_USERS users
// (internal/benchdir). It holds no product code and no test.
package benchsync
