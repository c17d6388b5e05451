package memstat

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/internal/labtest"
)

const mib = 1 << 20

// testImages builds the alloc helper and the cAdvisor sidecar (a nested module, so through EnsureAdhoc with the
// lab's own Dockerfile; the result is the same agentlab/cadvisor:<hash> the lab's builder makes).
func testImages(t *testing.T, r *labtest.Run) (alloc, cadvisor string) {
	t.Helper()
	b := images.NewBuilder(r.Client, r.Root, logWriter{t})
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	alloc, err := b.EnsureAdhoc(ctx, images.Adhoc{Repo: "agentlab-test/alloc", GoPackage: "./internal/memstat/testdata/alloc"})
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(r.Root, "images", "cadvisor.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	cadvisor, err = b.EnsureAdhoc(ctx, images.Adhoc{Repo: "agentlab/cadvisor", ModuleDir: "cmd/cadvisor", GoPackage: ".", Dockerfile: df})
	if err != nil {
		t.Fatal(err)
	}
	return alloc, cadvisor
}

// runAlloc starts the alloc helper holding n MiB and waits for its "ready".
func runAlloc(t *testing.T, r *labtest.Run, img string, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, img,
		testcontainers.WithCmd("-mib", itoa(n)),
		testcontainers.WithLabels(r.Labels("alloc")),
		testcontainers.WithWaitStrategy(wait.ForLog("ready").WithStartupTimeout(30*time.Second)))
	if c != nil {
		t.Cleanup(func() { testcontainers.TerminateContainer(c, testcontainers.StopTimeout(0)) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return c.GetContainerID()
}

func TestIntegrationAlloc64MiB(t *testing.T) {
	r := labtest.Docker(t)
	allocImg, cadImg := testImages(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var log bytes.Buffer
	s := NewSampler(Config{Docker: r.Client, Log: &log}, DefaultSources(r.Client, nil)...)
	if !s.StartCAdvisor(ctx, cadImg, testcontainers.WithLabels(r.Labels("cadvisor"))) {
		t.Fatalf("cAdvisor did not start: %s", log.String())
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.Stop(context.Background())
		}
	})
	res := s.Recording()
	t.Logf("cAdvisor %s ready after %v at %s", res.CAdvisor.Image, time.Duration(res.CAdvisor.ReadyAfter), res.CAdvisor.URL)

	idle := runAlloc(t, r, allocImg, 0)
	big := runAlloc(t, r, allocImg, 64)
	added := time.Now()
	for id, role := range map[string]string{idle: "idle", big: "alloc64"} {
		if err := s.Add(ctx, id, role); err != nil {
			t.Fatal(err)
		}
	}
	s.Start(ctx)

	// Enough points of both sources for a steady figure and a few cross-check pairs.
	const want = 6
	deadline := time.Now().Add(60 * time.Second)
	var firstCAdvisor time.Duration
	for {
		res = s.Recording()
		ready := true
		for _, id := range []string{idle, big} {
			c, _ := res.Container(id)
			nc := len(c.Of(SourceCAdvisor))
			if nc > 0 && firstCAdvisor == 0 {
				firstCAdvisor = time.Since(added)
			}
			ready = ready && nc >= want && len(c.Of(SourceDockerStats)) >= want
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(res, "", " ")
			t.Fatalf("not enough samples within 60 s:\n%.4000s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped = true
	res = s.Recording()
	t.Logf("first cAdvisor sample of a new container after %v; sources %v; note %q; errors %v", firstCAdvisor,
		res.Sources, res.Note, fmtErrs(res.Errors))

	idleC, _ := res.Container(idle)
	bigC, _ := res.Container(big)
	for _, src := range res.Sources {
		base, got := median(idleC.Of(src)), median(bigC.Of(src))
		if base == 0 || got == 0 {
			t.Errorf("%s: no figure (idle %d, alloc %d samples)", src, len(idleC.Of(src)), len(bigC.Of(src)))
			continue
		}
		above := float64(got) - float64(base)
		t.Logf("%-12s idle %6.2f MiB  alloc64 %6.2f MiB  above idle %6.2f MiB  (rss %6.2f, cache %5.2f, inactive_file %5.2f MiB; %d samples)",
			src, float64(base)/mib, float64(got)/mib, above/mib, float64(last(bigC.Of(src)).RSSBytes)/mib,
			float64(last(bigC.Of(src)).CacheBytes)/mib, float64(last(bigC.Of(src)).InactiveFileBytes)/mib, len(bigC.Of(src)))
		if above < 0.9*64*mib || above > 1.1*64*mib {
			t.Errorf("%s: alloc64 is %.2f MiB above idle, want 64 MiB ± 10 %%", src, above/mib)
		}
	}
	for _, c := range []ContainerResult{idleC, bigC} {
		for _, cc := range c.CrossCheck {
			t.Logf("%s: %s vs %s: %d pairs, max diff %.2f %%, mean %.2f %%, %d flagged", c.Role, cc.A, cc.B, cc.Pairs,
				100*cc.MaxRelDiff, 100*cc.MeanRelDiff, len(cc.Flagged))
			if !cc.OK() {
				t.Errorf("%s: %s vs %s disagree: %+v", c.Role, cc.A, cc.B, cc)
			}
		}
		if len(c.CrossCheck) == 0 || c.CrossCheck[0].A != SourceCAdvisor {
			t.Errorf("%s: no cAdvisor cross-check: %+v", c.Role, c.CrossCheck)
		}
	}
	// Stop removed the sidecar.
	if n := countRole(t, r, "cadvisor"); n != 0 {
		t.Errorf("%d cadvisor containers left after Stop", n)
	}
}

// A sidecar that never becomes ready (it listens on another port) degrades the sampler to Docker stats, with one
// note and one log line, and leaves no container behind.
func TestIntegrationDegradesWithoutCAdvisor(t *testing.T) {
	r := labtest.Docker(t)
	allocImg, cadImg := testImages(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var log bytes.Buffer
	s := NewSampler(Config{Docker: r.Client, Log: &log}, NewDockerStats(r.Client))
	start := time.Now()
	ok := s.StartCAdvisor(ctx, cadImg, testcontainers.WithLabels(r.Labels("cadvisor")),
		testcontainers.WithCmdArgs("-port=8081"),
		testcontainers.WithWaitStrategyAndDeadline(3*time.Second, wait.ForHTTP("/healthz").WithPort(CAdvisorPort)))
	if ok {
		t.Fatal("a sidecar that never answers /healthz was accepted")
	}
	t.Logf("gave up after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(log.String()))
	if n := countRole(t, r, "cadvisor"); n != 0 {
		t.Errorf("%d cadvisor containers left after the failed start", n)
	}

	id := runAlloc(t, r, allocImg, 8)
	if err := s.Add(ctx, id, "alloc8"); err != nil {
		t.Fatal(err)
	}
	s.Start(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, _ := s.Recording().Container(id)
		if len(c.Of(SourceDockerStats)) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker stats gave %d samples in 20 s", len(c.Of(SourceDockerStats)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	res := s.Recording()
	if !slices.Equal(res.Sources, []string{SourceDockerStats}) || res.CAdvisor != nil {
		t.Errorf("sources %v, cadvisor %+v", res.Sources, res.CAdvisor)
	}
	if !strings.HasPrefix(res.Note, "cAdvisor not used") || strings.Count(log.String(), "\n") != 1 {
		t.Errorf("note %q, log %q: want one note and one line", res.Note, log.String())
	}
	c, _ := res.Container(id)
	if m := last(c.Of(SourceDockerStats)).MemoryBytes; m < 8*mib || m > 16*mib {
		t.Errorf("8 MiB container at %.2f MiB", float64(m)/mib)
	}
}

func countRole(t *testing.T, r *labtest.Run, role string) int {
	t.Helper()
	cs, err := r.Client.ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", "agentlab.run-id="+r.ID).Add("label", "agentlab.role="+role)})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs.Items)
}

func median(ss []Sample) uint64 {
	if len(ss) == 0 {
		return 0
	}
	v := make([]uint64, len(ss))
	for i, s := range ss {
		v[i] = s.MemoryBytes
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func last(ss []Sample) Sample {
	if len(ss) == 0 {
		return Sample{}
	}
	return ss[len(ss)-1]
}

func fmtErrs(m map[string]*SourceErrors) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+": "+itoa(v.Count)+" ("+v.Last+")")
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

func itoa(n int) string { return strconv.Itoa(n) }

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
