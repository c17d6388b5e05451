package scenarios

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// fake is a scenario that records the parameters it ran with.
type fake struct {
	name   string
	docker bool
	err    error
	quick  int // --iterations under --quick
	got    *scenario.Params
}

func (f fake) Name() string      { return f.name }
func (f fake) Describe() string  { return f.name }
func (f fake) NeedsDocker() bool { return f.docker }
func (f fake) ApplyQuick(p *scenario.Params, set func(string) bool) {
	if !set("iterations") {
		p.Iterations = f.quick
	}
}
func (f fake) Run(ctx context.Context, env *scenario.Env) (*scenario.Outcome, error) {
	*f.got = env.Params
	return &scenario.Outcome{Files: []scenario.File{{Name: f.name + ".json", Value: map[string]int{"x": 1}}},
		Report: func(io.Writer) error { return nil }}, f.err
}

func TestAllRunsEveryScenarioWithItsOwnQuickSizes(t *testing.T) {
	var pa, pb, pc scenario.Params
	a := All(fake{name: "a", quick: 20, got: &pa}, fake{name: "b", quick: 7, err: errors.New("boom"), got: &pb},
		fake{name: "c", quick: 3, got: &pc})
	p := scenario.Params{Iterations: 100, Agents: 10, Sample: time.Millisecond, Quick: true}
	if err := scenario.Prepare(a, &p, p.IsSet); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	out, err := a.Run(context.Background(), &scenario.Env{Params: p, Log: &log, Now: time.Now})
	if err == nil || !strings.Contains(err.Error(), "1 of 3 scenarios failed: b") {
		t.Errorf("err = %v", err)
	}
	if pa.Iterations != 20 || pb.Iterations != 7 || pc.Iterations != 3 {
		t.Errorf("quick sizes not each scenario's own: %d %d %d", pa.Iterations, pb.Iterations, pc.Iterations)
	}
	if len(out.Files) != 3 || len(out.Scenarios) != 3 || out.Scenarios[1].Status != decide.StatusFailed || out.Scenarios[2].Status != decide.StatusOK {
		t.Errorf("files %d, scenarios %+v", len(out.Files), out.Scenarios)
	}
	if !strings.Contains(log.String(), "[3/3] c") || !strings.Contains(log.String(), "ETA") {
		t.Errorf("progress: %s", log.String())
	}
	// An explicit flag wins over every scenario's --quick size.
	p.Explicit = []string{"iterations"}
	p.Iterations = 5
	if _, err := a.Run(context.Background(), &scenario.Env{Params: p, Log: &log, Now: time.Now}); err == nil {
		t.Error("b fails")
	}
	if pa.Iterations != 5 || pc.Iterations != 5 {
		t.Errorf("explicit --iterations lost: %d %d", pa.Iterations, pc.Iterations)
	}
}

func TestAllSkipDocker(t *testing.T) {
	var pa, pb scenario.Params
	a := All(fake{name: "a", docker: true, got: &pa}, fake{name: "b", got: &pb})
	r, err := scenario.Resolve(a, scenario.Params{SkipDocker: true})
	if err != nil || r.NeedsDocker() {
		t.Fatalf("resolve: %v, needs docker %v", err, r != nil && r.NeedsDocker())
	}
	out, err := r.Run(context.Background(), &scenario.Env{Params: scenario.Params{Iterations: 1, Agents: 1, Sample: time.Millisecond}, Log: &bytes.Buffer{}, Now: time.Now})
	if err != nil || len(out.Scenarios) != 2 || out.Scenarios[0].Status != decide.StatusSkipped {
		t.Errorf("%v %+v", err, out.Scenarios)
	}
	if _, err := scenario.Resolve(fake{name: "d", docker: true}, scenario.Params{SkipDocker: true}); err == nil {
		t.Error("a Docker-only scenario under --skip-docker must be refused")
	}
	// The registry's all keeps the process patterns of spawn.
	r, err = scenario.Resolve(lookup(t, Default(), "all"), scenario.Params{SkipDocker: true})
	if err != nil || r.NeedsDocker() || len(r.(allScenario).subs) != 1 || len(r.(allScenario).skipped) != 3 {
		t.Errorf("registry all without Docker: %v %+v", err, r)
	}
}

// cancelling is a scenario that cancels the run while it runs, as a Ctrl-C would.
type cancelling struct {
	fake
	cancel context.CancelFunc
}

func (c cancelling) Run(ctx context.Context, env *scenario.Env) (*scenario.Outcome, error) {
	c.cancel()
	return &scenario.Outcome{Files: []scenario.File{{Name: c.name + ".json", Value: 1}}}, ctx.Err()
}

func TestAllInterruptedKeepsWhatRan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var pa, pc scenario.Params
	a := All(fake{name: "a", got: &pa}, cancelling{fake{name: "b"}, cancel}, fake{name: "c", got: &pc})
	out, err := a.Run(ctx, &scenario.Env{Params: scenario.Params{Iterations: 1, Agents: 1, Sample: time.Millisecond},
		Log: &bytes.Buffer{}, Now: time.Now})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	var st []string
	for _, s := range out.Scenarios {
		st = append(st, s.Status)
	}
	if strings.Join(st, ",") != "ok,interrupted,not-run" || len(out.Files) != 2 || pc.Iterations != 0 {
		t.Errorf("statuses %v, %d files, c ran: %v", st, len(out.Files), pc.Iterations != 0)
	}
}

func lookup(t *testing.T, r Registry, name string) scenario.Scenario {
	t.Helper()
	s, ok := r.Lookup(name)
	if !ok {
		t.Fatalf("%s is not registered", name)
	}
	return s
}
