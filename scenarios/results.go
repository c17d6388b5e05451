package scenarios

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agentlab/agentlab/decide"
	"github.com/agentlab/agentlab/internal/results"
)

// The typed results, exported under the names of their files for the readers of a results folder (report,
// compare, thresholds): the very structs the scenarios wrote, so a table or a plot can never drift from the JSON.
type (
	SpawnComparison   = comparison        // spawn-comparison.json
	BusFile           = busFile           // <bus>-ws-metrics.json
	BusRun            = busRun            // BusFile.Runs
	BusSummary        = busSummary        // BusFile.Summaries
	AIStreamingResult = aiStreamingResult // ai-streaming.json
)

// Results is a results folder read back: every file a scenario writes, typed; nil where the run did not write it.
type Results struct {
	Dir       string
	Spawn     *SpawnComparison
	Buses     []*BusFile // one per bus measured, in file-name order (go, nats, rust, …)
	Streaming *AIStreamingResult
	Messaging *MessagingResult
	Final     *decide.FinalReport
	// Env is the environment the run recorded (final-report.json's, else the first file's).
	Env   results.Environment
	RunID string
}

// busFileSuffix names every bus's bus-load file (the seed's go-ws-metrics.json and rust-ws-metrics.json).
const busFileSuffix = "-ws-metrics.json"

// ReadResults reads the results folder dir. A file that is missing is nil; a file that does not decode is an
// error naming it.
func ReadResults(dir string) (*Results, error) {
	r := &Results{Dir: dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read results folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s holds no results files (*.json)", dir)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		var v any
		switch {
		case n == "spawn-comparison.json":
			r.Spawn = new(SpawnComparison)
			v = r.Spawn
		case strings.HasSuffix(n, busFileSuffix):
			f := new(BusFile)
			f.Bus.File = n
			r.Buses = append(r.Buses, f)
			v = f
		case n == "ai-streaming.json":
			r.Streaming = new(AIStreamingResult)
			v = r.Streaming
		case n == "agent-messaging.json":
			r.Messaging = new(MessagingResult)
			v = r.Messaging
		case n == "final-report.json":
			r.Final = new(decide.FinalReport)
			v = r.Final
		default:
			continue
		}
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", n, err)
		}
		var head struct {
			RunID string              `json:"run_id"`
			Env   results.Environment `json:"environment"`
		}
		if json.Unmarshal(b, &head) == nil && (r.RunID == "" || n == "final-report.json") {
			r.RunID, r.Env = head.RunID, head.Env
		}
	}
	return r, nil
}

// busResult rebuilds the bus-load result from its files (one per bus, each holding the shared summary, ratios and
// decision), so its table is printed by the same code as at run time.
func (r *Results) busResult() *busLoadResult {
	if len(r.Buses) == 0 {
		return nil
	}
	f0 := r.Buses[0]
	res := &busLoadResult{Params: f0.Parameters, Limits: f0.Limits, Notes: f0.Notes, OpenRates: f0.OpenRates,
		Interrupted: f0.Interrupted, ratios: f0.Comparison, vsNATS: f0.ComparisonNATS, vsGo: f0.ComparisonGo, runs: map[string][]*busRun{}, summaries: map[string][]busSummary{}}
	if f0.Decision != nil {
		res.decision = *f0.Decision
	}
	// The run order: the Go bus first, as bus-load runs them.
	fs := append([]*BusFile(nil), r.Buses...)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Bus.Name == "go" && fs[j].Bus.Name != "go" })
	for _, f := range fs {
		res.Buses = append(res.Buses, f.Bus)
		res.runs[f.Bus.Name] = f.Runs
		res.summaries[f.Bus.Name] = f.Summaries
	}
	return res
}

// Report writes every scenario's tables, as the run printed them on stdout.
func (r *Results) Report(w io.Writer) error {
	var errs []error
	if r.Spawn != nil {
		errs = append(errs, r.Spawn.report(w))
		if r.Spawn.ContainerMem != nil {
			errs = append(errs, reportContainerMemory(w, *r.Spawn.ContainerMem))
		}
	}
	if b := r.busResult(); b != nil {
		errs = append(errs, b.report(w))
	}
	if r.Streaming != nil {
		errs = append(errs, r.Streaming.report(w))
	}
	if r.Messaging != nil {
		errs = append(errs, r.Messaging.report(w))
	}
	return errors.Join(errs...)
}
