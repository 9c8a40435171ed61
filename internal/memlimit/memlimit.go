// Package memlimit derives the Go runtime's soft memory limit (GOMEMLIMIT)
// from the memory limit of the container the process runs in, so the garbage
// collector works harder as the heap nears the limit instead of the kernel's
// OOM killer ending the process.
//
// The command calls Set once at start-up; an explicit GOMEMLIMIT in the
// environment always wins. It also calls SetGCPercent, which gives the heap
// less headroom over what is live than the runtime's default.
package memlimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction of the container's limit given to the Go heap: the rest is left
// for what the runtime does not count (goroutine stacks outside the heap,
// cgo and SQLite's own allocations, the kernel's page cache charged to the
// cgroup).
const Fraction = 0.9

// unlimited is what cgroup v1 reports for "no limit" (a page-rounded
// MaxInt64); anything this large is no limit.
const unlimited = 1 << 62

// Set sets the runtime's soft memory limit to Fraction of the cgroup's
// memory limit and returns it. It does nothing (and returns 0) when the
// GOMEMLIMIT environment variable is set (the runtime already applied it) or
// when the process has no memory limit.
func Set() (int64, error) {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return 0, nil
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil // not Linux: no cgroup to read
		}
		return 0, fmt.Errorf("memory limit: %w", err)
	}
	limit, err := CgroupLimit(os.DirFS("/sys/fs/cgroup"), cg)
	if err != nil || limit == 0 {
		return 0, err
	}
	soft := int64(float64(limit) * Fraction)
	debug.SetMemoryLimit(soft)
	return soft, nil
}

// GCPercent is the garbage collector's target (GOGC) dirsync runs with: the
// heap may grow half again over what is live before a collection, instead of
// doubling. A sync's live heap is its per-object bookkeeping, and the
// headroom over it is most of the rest of its peak. Measured with make
// bench-sync at 100,000 users, GOGC=100 against 50 in one session: peak RSS
// of the initial sync into SQLite 259 → 221 MB (and 7.9 → 9.7 s: SQLite
// allocates much), into PostgreSQL 249 → 211 MB (7.6 → 8.1 s), of a
// no-change resync 210 → 184 MB and of an incremental run 155 → 140 MB (no
// slower). A daemon lives on its incremental runs; GOGC=100 in the
// environment buys the initial sync's seconds back.
const GCPercent = 50

// SetGCPercent sets the collector's target to GCPercent and returns it, or
// does nothing (and returns 0) when the GOGC environment variable is set
// (the runtime already applied it).
func SetGCPercent() int {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return 0
	}
	debug.SetGCPercent(GCPercent)
	return GCPercent
}

// CgroupLimit returns the memory limit in bytes of the cgroup that
// procSelfCgroup (the content of /proc/self/cgroup) names, read from root (the
// cgroup file system, /sys/fs/cgroup), or 0 when there is none. It reads
// cgroup v2 (memory.max) and v1 (memory/memory.limit_in_bytes); inside a
// container the cgroup's path is often not mounted, and the limit is then
// read from the root of the mount, which is the container's own cgroup.
func CgroupLimit(root fs.FS, procSelfCgroup []byte) (int64, error) {
	var v2, v1 string
	haveV2, haveV1 := false, false
	sc := bufio.NewScanner(bytes.NewReader(procSelfCgroup))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2, haveV2 = parts[2], true
		case hasController(parts[1], "memory"):
			v1, haveV1 = parts[2], true
		}
	}
	if haveV1 {
		return firstLimit(root, path.Join("memory", v1, "memory.limit_in_bytes"), "memory/memory.limit_in_bytes")
	}
	if haveV2 {
		return firstLimit(root, path.Join(v2, "memory.max"), "memory.max")
	}
	return 0, nil
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// firstLimit reads the first of the files that exists.
func firstLimit(root fs.FS, names ...string) (int64, error) {
	for _, name := range names {
		name = strings.TrimPrefix(path.Clean(name), "/")
		raw, err := fs.ReadFile(root, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("memory limit: %w", err)
		}
		return parseLimit(name, raw)
	}
	return 0, nil
}

func parseLimit(name string, raw []byte) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory limit: cgroup file %s holds %q, not a number of bytes: %w", name, s, err)
	}
	if n >= unlimited || n > math.MaxInt64 {
		return 0, nil
	}
	return int64(n), nil
}
