package memlimit

import (
	"os"
	"runtime/debug"
	"testing"
	"testing/fstest"
)

func TestCgroupLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  fstest.MapFS
		cgroup string
		want   int64
		bad    bool
	}{
		{name: "v2 limit", cgroup: "0::/kubepods/pod1\n",
			files: fstest.MapFS{"kubepods/pod1/memory.max": {Data: []byte("268435456\n")}}, want: 268435456},
		{name: "v2 no limit", cgroup: "0::/user.slice\n",
			files: fstest.MapFS{"user.slice/memory.max": {Data: []byte("max\n")}}},
		{name: "v2 path not mounted: the mount's root is the container's cgroup", cgroup: "0::/docker/abc\n",
			files: fstest.MapFS{"memory.max": {Data: []byte("104857600\n")}}, want: 104857600},
		{name: "v1 limit", cgroup: "5:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n",
			files: fstest.MapFS{"memory/docker/abc/memory.limit_in_bytes": {Data: []byte("536870912\n")}}, want: 536870912},
		{name: "v1 unlimited", cgroup: "4:memory:/\n",
			files: fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")}}},
		{name: "v1 path not mounted", cgroup: "4:memory:/process_api/x\n",
			files: fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("1073741824\n")}}, want: 1073741824},
		{name: "no cgroup file system", cgroup: "0::/\n", files: fstest.MapFS{}},
		{name: "no memory controller", cgroup: "5:cpu:/\n", files: fstest.MapFS{"memory.max": {Data: []byte("1")}}},
		{name: "garbage", cgroup: "0::/\n", files: fstest.MapFS{"memory.max": {Data: []byte("lots")}}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CgroupLimit(tc.files, []byte(tc.cgroup))
			if tc.bad {
				if err == nil {
					t.Fatalf("no error, limit %d", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestSetLeavesAnExplicitGOMEMLIMIT(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	t.Setenv("GOMEMLIMIT", "123MiB")
	got, err := Set()
	if err != nil || got != 0 {
		t.Fatalf("Set() = %d, %v with GOMEMLIMIT set; want 0, nil", got, err)
	}
	if now := debug.SetMemoryLimit(-1); now != before {
		t.Fatalf("limit changed from %d to %d", before, now)
	}
}

func TestSetAppliesTheContainersLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	got, err := Set()
	if err != nil {
		t.Fatal(err)
	}
	if got == 0 {
		t.Skip("this process has no cgroup memory limit")
	}
	if now := debug.SetMemoryLimit(-1); now != got {
		t.Fatalf("Set() = %d, runtime limit %d", got, now)
	}
}

// TestSetGCPercent: without GOGC in the environment the collector's target
// becomes GCPercent; with it, the environment's value stays.
func TestSetGCPercent(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	t.Setenv("GOGC", "80")
	if got := SetGCPercent(); got != 0 {
		t.Errorf("with GOGC set: SetGCPercent() = %d, want 0", got)
	}
	if now := debug.SetGCPercent(100); now != 100 {
		t.Errorf("with GOGC set the target changed to %d", now)
	}

	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	if got := SetGCPercent(); got != GCPercent {
		t.Errorf("SetGCPercent() = %d, want %d", got, GCPercent)
	}
	if now := debug.SetGCPercent(100); now != GCPercent {
		t.Errorf("target after SetGCPercent = %d, want %d", now, GCPercent)
	}
}
