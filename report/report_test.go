package report

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/scenarios"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fixture is a real `--scenario all --quick --mock` results folder (testdata/run), copied so Write can add to it.
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	es, err := os.ReadDir("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join("testdata/run", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestMarkdownGolden(t *testing.T) {
	r, err := scenarios.ReadFolder("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	d, err := build(r)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	d.markdown(&got)
	// The golden file holds report.md up to the stdout tables: those are each scenario's, with golden files of
	// their own in scenarios/testdata; below, every line of them is checked to be in report.md.
	const golden = "testdata/report.md.golden"
	own := got.Bytes()[:bytes.Index(got.Bytes(), []byte("\n## Tables (as printed on stdout)"))]
	if *update {
		if err := os.WriteFile(golden, own, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./report -run Golden -update creates it)", err)
	}
	if !bytes.Equal(own, want) {
		t.Errorf("report.md differs from %s (go test ./report -run Golden -update after an intended change)", golden)
	}
	// Every table printed on stdout is in report.md.
	var tables bytes.Buffer
	if err := r.WriteTables(&tables); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(tables.String()), "\n") {
		if !strings.Contains(got.String(), line) {
			t.Fatalf("stdout line missing from report.md: %q", line)
		}
	}
	for _, want := range []string{"## Migration scenario", "## Docker cost analysis", "## Decision tree", "memory savings"} {
		if !strings.Contains(got.String(), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

func TestBenchTxtParsesWithBenchfmt(t *testing.T) {
	r, err := scenarios.ReadFolder("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Bench(&b, r); err != nil {
		t.Fatal(err)
	}
	rd := benchfmt.NewReader(&b, "bench.txt")
	n := 0
	units := map[string]bool{}
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.Result:
			n++
			for _, v := range rec.Values {
				units[v.Unit] = true
			}
		case *benchfmt.SyntaxError:
			t.Fatalf("benchfmt: %v", rec)
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 50 || !units["latency_p95_ms"] || !units["per_token_cpu_ms"] || !units["time_mean_ms"] || !units["success_pct"] {
		t.Errorf("%d results, units %v", n, units)
	}
}

func TestCompareWithItselfIsNoChange(t *testing.T) {
	r, err := scenarios.ReadFolder("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Compare(&b, r, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "WARNING") {
		t.Errorf("same environment warned:\n%s", out)
	}
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, " n=") || strings.HasPrefix(line, "medians") {
			continue
		}
		rows++
		if !strings.Contains(line, "~ (p=") {
			t.Errorf("a run against itself must be ~: %q", line)
		}
	}
	if rows < 50 {
		t.Errorf("only %d rows compared:\n%s", rows, out)
	}
}

func TestCompareWarnsOnEnvironment(t *testing.T) {
	a, _ := scenarios.ReadFolder("testdata/run")
	b, _ := scenarios.ReadFolder("testdata/run")
	b.Env.CPUs, b.Env.GitCommit = a.Env.CPUs*2, "0123456789abcdef"
	var out bytes.Buffer
	if err := Compare(&out, a, b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "WARNING: the environments differ (cpus") || !strings.Contains(out.String(), "git commit") {
		t.Errorf("no warning:\n%s", out.String())
	}
}

func TestThresholds(t *testing.T) {
	names := scenarios.Default().Names()
	for _, bad := range []string{"bus-load.go.targeted.latency_p95_ms", "latency<5", "bus-load.go.targeted.latency_p95_ms<<5", "x.go.latency_p95_ms<5",
		"bus-load.go.targeted.bogus_ms<5", "bus-load.go.targeted.latency_p95_ms<abc"} {
		if _, err := ParseThreshold(bad, names); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseThreshold("bus-load.go.targeted.latency_p95_ms<50", names); err != nil {
		t.Fatal(err)
	}
	r, err := scenarios.ReadFolder("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	var ts []Threshold
	for _, s := range []string{"bus-load.go.targeted.latency_p95_ms<100000", "bus-load.go.targeted.latency_p95_ms<0.001",
		"agent-messaging.go.direct.success_pct>=0", "bus-load.nats.targeted.latency_p95_ms<50"} {
		th, err := ParseThreshold(s, names)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, th)
	}
	rs := Evaluate(ts, r)
	if !rs[0].Pass || rs[1].Pass || !rs[2].Pass || rs[3].Pass || rs[3].Measured {
		t.Errorf("%+v", rs)
	}
	var out bytes.Buffer
	if PrintThresholds(&out, rs) || !strings.Contains(out.String(), "✓ bus-load.go.targeted.latency_p95_ms<100000") ||
		!strings.Contains(out.String(), "✗ bus-load.nats.targeted.latency_p95_ms<50: not measured") {
		t.Errorf("printed:\n%s", out.String())
	}
}

// proxy counts every connection made to it and the first line of each (the request that left the page).
type proxy struct {
	ln   net.Listener
	mu   sync.Mutex
	seen []string
}

func newProxy(t *testing.T) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				if line = strings.TrimSpace(line); line == "" {
					// A connection that sends no request line within 2 s made no request: Chromium preconnects
					// to its proxy speculatively, and such an idle socket (from the control page's run) can be
					// counted after the control, where it used to read as a request of report.html's.
					return
				}
				p.mu.Lock()
				p.seen = append(p.seen, line)
				p.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

// browserHosts are Chromium's own services (updates, network time, sign-in), which it may call whatever page it
// shows even with background networking disabled: requests to exactly these hosts are not the page's.
var browserHosts = []string{"clients2.google.com", "update.googleapis.com", "accounts.google.com",
	"optimizationguide-pa.googleapis.com", "edgedl.me.gvt1.com", "redirector.gvt1.com", "safebrowsingohttpgateway.googleapis.com"}

// requests are the requests seen, leaving out the browser's own (browserHosts).
func (p *proxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
next:
	for _, r := range p.seen {
		f := strings.Fields(r)
		if len(f) >= 2 {
			target := f[1] // CONNECT host:443, or GET http://host/path
			target = strings.TrimPrefix(strings.TrimPrefix(target, "http://"), "https://")
			host := strings.SplitN(strings.SplitN(target, "/", 2)[0], ":", 2)[0]
			for _, h := range browserHosts {
				if host == h {
					continue next
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// chromium loads url headless, every request sent to the counting proxy, and returns the rendered DOM.
func chromium(t *testing.T, bin, url string, p *proxy) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--disable-default-apps", "--no-pings", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
		"--metrics-recording-only", "--safebrowsing-disable-auto-update", "--disable-breakpad",
		"--disable-features=NetworkTimeServiceQuerying,Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
		"--user-data-dir="+t.TempDir(),
		"--proxy-server=http://"+p.ln.Addr().String(), "--proxy-bypass-list=<-loopback>",
		"--virtual-time-budget=3000", "--dump-dom", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return string(out)
}

var externalRef = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:|//)|url\(\s*["']?\s*(https?:|//)|<script|<link`)

func TestHTMLRendersOfflineInChromium(t *testing.T) {
	bin := ""
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium on PATH (apt-get install -y chromium): report.html is not checked in a browser here")
	}
	dir := fixture(t)
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if m := externalRef.Find(page); m != nil {
		t.Errorf("report.html refers outside itself: %q", m)
	}
	p := newProxy(t)

	// The control: a page that does reach out is seen by the proxy, so silence below means something.
	ctl := filepath.Join(t.TempDir(), "control.html")
	os.WriteFile(ctl, []byte(`<!DOCTYPE html><html><body><img src="http://agentlab.invalid/x.png"></body></html>`), 0o644)
	chromium(t, bin, "file://"+ctl, p)
	if len(p.requests()) == 0 {
		t.Fatal("the control page's request did not reach the proxy: the check would see nothing")
	}
	before := len(p.requests())

	dom := chromium(t, bin, "file://"+filepath.Join(dir, "report.html"), p)
	if got := p.requests()[before:]; len(got) > 0 {
		t.Errorf("report.html made %d requests: %q", len(got), got)
	}
	plots := strings.Count(string(page), "<figure")
	if plots < 8 || strings.Count(dom, "<svg") < plots {
		t.Errorf("rendered %d svg of %d plots", strings.Count(dom, "<svg"), plots)
	}
	for _, want := range []string{"Migration scenario", "Docker cost analysis", "Decision tree", "Bus latency CDF", "Messaging fault recovery",
		"Streaming decode cost per client", "Time per task per lifecycle pattern", "Memory over time"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
}

func TestThresholdsFile(t *testing.T) {
	names := scenarios.Default().Names()
	f := filepath.Join(t.TempDir(), "thresholds")
	os.WriteFile(f, []byte("# the seed's bars\nbus-load.go.targeted.latency_p95_ms<50\n\nagent-messaging.go.direct.success_pct>95 # Test 5\n"), 0o644)
	ts, err := ReadThresholds(f, names)
	if err != nil || len(ts) != 2 || ts[1].Limit != 95 || ts[1].Op != ">" {
		t.Fatalf("%v %+v", err, ts)
	}
	os.WriteFile(f, []byte("bus-load.go.targeted.latency_p95_ms<50\nbus-load.go.targeted.latency_p95_ms 50\n"), 0o644)
	if _, err := ReadThresholds(f, names); err == nil || !strings.Contains(err.Error(), ":2: bad threshold") {
		t.Errorf("want the line number: %v", err)
	}
}

// The stdout summary of a full run names the chosen migration scenario (or why none), every criterion with its
// answer, and the cost figures — the same rows report.md has.
func TestSummary(t *testing.T) {
	r, err := scenarios.ReadFolder("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Summary(&b, r.Final); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	md, err := os.ReadFile("testdata/report.md.golden")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{r.Final.Migration.Answer, "Docker cost analysis", "estimated Docker cost reduction"} {
		if !strings.Contains(out, want) || !strings.Contains(string(md), want) {
			t.Errorf("summary or report.md lacks %q:\n%s", want, out)
		}
	}
	for _, s := range r.Final.Migration.Scenarios {
		for _, c := range s.Criteria {
			if !strings.Contains(out, c.Criterion) {
				t.Errorf("summary lacks criterion %q", c.Criterion)
			}
		}
	}
}

// The decision table names the Go and Rust buses Test 2 was decided on (when two designs of a language ran) and a
// bus-vs-NATS row per bus we build.
func TestDecisionTableGoBusAndNATS(t *testing.T) {
	r, err := scenarios.ReadFolder("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	b := r.Final.Decisions.MessageBus
	if b == nil {
		t.Fatal("the fixture has no message-bus decision")
	}
	b.GoBus, b.GoBusNote = "go-netpoll", "Go = go-netpoll, Go's best design here: … go 1 vs go-netpoll 2"
	b.RustBus, b.RustBusNote = "rust-epoll", "Rust = rust-epoll, Rust's best design here: … rust 1 vs rust-epoll 2"
	b.VsNATS = []decide.Check{{Question: "rust bus delivers more per CPU-second than NATS?", Answer: decide.Inconclusive}}
	d, err := build(r)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	d.markdown(&got)
	for _, want := range []string{"| 2 bus | the Go bus decided on | go-netpoll |", "Go's best design here",
		"| 2 bus | the Rust bus decided on | rust-epoll |", "Rust's best design here",
		"| 2 bus vs NATS | rust bus delivers more per CPU-second than NATS? | inconclusive |"} {
		if !strings.Contains(got.String(), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// A planted run (--plant) says so first, in red, in both reports; a normal run says nothing of the kind.
func TestPlantedRunBanner(t *testing.T) {
	dir := fixture(t)
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	if md, _ := os.ReadFile(filepath.Join(dir, "report.md")); strings.Contains(string(md), "PLANTED") {
		t.Error("a normal run's report mentions a planted run")
	}
	p := filepath.Join(dir, "final-report.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "{", `{"planted":{"leak_kib":256},`, 1))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(md), `<span style="color:red">**PLANTED RUN (--plant leak-kib=256)`) {
		t.Errorf("report.md lacks the red planted banner:\n%.400s", md)
	}
	if !strings.Contains(string(html), `class="planted" style="color:#c00`) || !strings.Contains(string(html), "PLANTED RUN (--plant leak-kib=256)") {
		t.Error("report.html lacks the red planted banner")
	}
}
