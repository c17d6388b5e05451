package memstat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

const (
	v1ID = "e3a4974dd508d752abebe38b22b4fae1d810d139964fc3e65fe79797b812266a"
	v2ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// The golden v1 files are a real 64 MiB alloc container's; the figures below were read off them by hand.
func TestCgroupV1Golden(t *testing.T) {
	at := time.Date(2026, 11, 25, 20, 2, 40, 0, time.UTC)
	c := testCgroup("testdata/cgroupv1", func() time.Time { return at })
	got, err := c.Sample(context.Background(), []string{v1ID})
	if err != nil {
		t.Fatal(err)
	}
	want := Sample{Time: at, Source: SourceCgroup, UsageBytes: 70414336, RSSBytes: 68075520, CacheBytes: 1744896,
		InactiveFileBytes: 1744896, MemoryBytes: 70414336 - 1744896, WorkingSetBytes: 70414336 - 1744896,
		CPUUsageNs: 51173054}
	if len(got) != 1 || !sameSample(got[0], want) || got[0].ContainerID != v1ID {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestCgroupV2Golden(t *testing.T) {
	c := testCgroup("testdata/cgroupv2", nil)
	got, err := c.Sample(context.Background(), []string{v2ID})
	if err != nil {
		t.Fatal(err)
	}
	want := Sample{Source: SourceCgroup, UsageBytes: 72351744, RSSBytes: 67633152, CacheBytes: 3985408,
		InactiveFileBytes: 3878912, MemoryBytes: 72351744 - 3878912, WorkingSetBytes: 72351744 - 3878912,
		CPUUsageNs: 48211 * 1000}
	if len(got) != 1 || !sameSample(got[0], want) || got[0].Time.IsZero() {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// testPIDs are the fake init pids of testdata/proc: 101 is the v1 container, 102 the v2 one, 103 a process of
// this "host" that is in no container (what a PID from another namespace finds here).
var testPIDs = map[string]int{v1ID: 101, v2ID: 102, otherNSID: 103}

const otherNSID = "aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff"

// testCgroup reads the fixture hierarchy at root with testdata/proc as /proc.
func testCgroup(root string, now func() time.Time) *Cgroup {
	return newCgroup("testdata/proc", root, now, func(_ context.Context, id string) (int, error) {
		if pid, ok := testPIDs[id]; ok {
			return pid, nil
		}
		return 0, errors.New("no such container")
	})
}

func TestCgroupMissing(t *testing.T) {
	c := testCgroup("testdata/cgroupv1", nil)
	got, err := c.Sample(context.Background(), []string{v1ID, "feedface"})
	if err == nil || !strings.Contains(err.Error(), "no such container") {
		t.Fatalf("err = %v, want the missing container's error", err)
	}
	if len(got) != 1 || got[0].UsageBytes != 70414336 {
		t.Fatalf("the readable container must still be sampled: %+v", got)
	}
}

func TestParseStat(t *testing.T) {
	m, err := parseStat([]byte("cache 10\nrss 20\n\ntotal_inactive_file 5\n"))
	if err != nil || m["cache"] != 10 || m["rss"] != 20 || m["total_inactive_file"] != 5 || len(m) != 3 {
		t.Fatalf("parseStat = %v, %v", m, err)
	}
	for _, bad := range []string{"cache\n", "cache ten\n", "cache -1\n"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

// The memory figure when inactive_file exceeds usage (it can, briefly) must not wrap around.
func TestMemoryFiguresNoUnderflow(t *testing.T) {
	s := Sample{UsageBytes: 100, InactiveFileBytes: 200}
	s.memoryFigures()
	if s.MemoryBytes != 100 {
		t.Fatalf("MemoryBytes = %d, want usage (100)", s.MemoryBytes)
	}
}

// dockerstats.json is the daemon's one-shot answer for the same container as the v1 cgroup files.
func TestDockerStatsGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/dockerstats.json")
	if err != nil {
		t.Fatal(err)
	}
	var st container.StatsResponse
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	got := fromDockerStats(st)
	want := Sample{Time: time.Date(2026, 11, 25, 20, 2, 40, 496355839, time.UTC), Name: "alloc-try",
		Source: SourceDockerStats, UsageBytes: 70414336, RSSBytes: 68075520, CacheBytes: 1744896,
		InactiveFileBytes: 1744896, MemoryBytes: 68669440, WorkingSetBytes: 68669440, CPUUsageNs: 51173054}
	if !sameSample(got, want) || !got.Time.Equal(want.Time) || got.Name != want.Name {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// cadvisor.json is our sidecar's answer for the same container (two housekeeping points).
func TestCAdvisorGolden(t *testing.T) {
	body, err := os.ReadFile("testdata/cadvisor.json")
	if err != nil {
		t.Fatal(err)
	}
	var gotPath, gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.Path, r.URL.RawQuery
		if !strings.HasSuffix(r.URL.Path, v1ID) {
			http.Error(w, "unknown container", http.StatusInternalServerError)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	c := NewCAdvisor(srv.URL+"/", 3)
	got, err := c.Sample(context.Background(), []string{v1ID})
	if err != nil {
		t.Fatal(err)
	}
	if gotPath != "/api/v2.1/stats/"+v1ID || gotQuery != "count=3&type=docker" {
		t.Errorf("request %s?%s", gotPath, gotQuery)
	}
	if len(got) != 2 {
		t.Fatalf("%d samples, want 2", len(got))
	}
	want := Sample{ContainerID: v1ID, Name: "alloc-try", Source: SourceCAdvisor, UsageBytes: 70414336,
		RSSBytes: 68075520, CacheBytes: 1744896, InactiveFileBytes: 1744896, MemoryBytes: 68669440,
		WorkingSetBytes: 68669440, CPUUsageNs: 51173054}
	last := got[1]
	if !sameSample(last, want) || last.Name != want.Name || last.ContainerID != v1ID ||
		!last.Time.Equal(time.Date(2026, 11, 25, 20, 2, 39, 225352561, time.UTC)) || !got[0].Time.Before(last.Time) {
		t.Fatalf("got %+v\nwant %+v", last, want)
	}

	_, err = c.Sample(context.Background(), []string{"feedface"})
	if err == nil || !strings.Contains(err.Error(), "unknown container") {
		t.Fatalf("unknown container: err = %v", err)
	}
}

// sameSample compares the figures (not Time, id, name).
func sameSample(a, b Sample) bool {
	return a.Source == b.Source && a.UsageBytes == b.UsageBytes && a.WorkingSetBytes == b.WorkingSetBytes &&
		a.RSSBytes == b.RSSBytes && a.CacheBytes == b.CacheBytes && a.InactiveFileBytes == b.InactiveFileBytes &&
		a.MemoryBytes == b.MemoryBytes && a.CPUUsageNs == b.CPUUsageNs && (a.Time.IsZero() || b.Time.IsZero() || a.Time.Equal(b.Time))
}

// A pid that exists here but whose cgroup lines do not name the container (the daemon is in another PID
// namespace) must give an error and no reading, whatever files the cgroup root holds.
func TestCgroupOtherPIDNamespace(t *testing.T) {
	c := testCgroup("testdata/cgroupv1", nil)
	got, err := c.Sample(context.Background(), []string{otherNSID})
	if err == nil || !strings.Contains(err.Error(), "another PID namespace") || len(got) != 0 {
		t.Fatalf("got %+v, %v; want no sample and a PID-namespace error", got, err)
	}
}

// The directories come from /proc/<pid>/cgroup, whatever the layout: v1 under memory/ and cpuacct/, v2 the
// unified path (here systemd's system.slice/docker-<id>.scope).
func TestCgroupDirsFromProc(t *testing.T) {
	d, err := cgroupDirsOf("testdata/proc", "testdata/cgroupv1", 101, v1ID)
	if err != nil || d.v2 || d.mem != "testdata/cgroupv1/memory/docker/"+v1ID || d.cpu != "testdata/cgroupv1/cpuacct/docker/"+v1ID {
		t.Errorf("v1: %+v, %v", d, err)
	}
	d, err = cgroupDirsOf("testdata/proc", "testdata/cgroupv2", 102, v2ID)
	if err != nil || !d.v2 || d.mem != "testdata/cgroupv2/system.slice/docker-"+v2ID+".scope" {
		t.Errorf("v2: %+v, %v", d, err)
	}
	if _, err := cgroupDirsOf("testdata/proc", "testdata/cgroupv1", 999, v1ID); err == nil {
		t.Error("a pid absent from /proc gave directories")
	}
}

func TestCgroupPeak(t *testing.T) {
	for _, tc := range []struct {
		root, id, src string
		want          uint64
	}{
		{"testdata/cgroupv1", v1ID, "cgroup memory.max_usage_in_bytes", 75497472},
		{"testdata/cgroupv2", v2ID, "cgroup memory.peak", 73400320},
	} {
		v, src, err := testCgroup(tc.root, nil).peak(context.Background(), tc.id)
		if err != nil || v != tc.want || src != tc.src {
			t.Errorf("%s: %d %q %v; want %d %q", tc.root, v, src, err, tc.want, tc.src)
		}
	}
}
