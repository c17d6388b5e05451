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
	"github.com/agentlab/agentlab/internal/rundir"
	"github.com/agentlab/agentlab/scenarios/aistreaming"
	"github.com/agentlab/agentlab/scenarios/busload"
	"github.com/agentlab/agentlab/scenarios/lifecycle"
	"github.com/agentlab/agentlab/scenarios/messaging"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Folder is a results folder read back: every file a scenario writes, typed — the very structs the scenarios
// wrote, so a table or a plot can never drift from the JSON; nil where the run did not write it.
type Folder struct {
	Dir       string
	Spawn     *lifecycle.Comparison // spawn-comparison.json
	Buses     []*busload.File       // <bus>-ws-metrics.json, one per bus measured, in file-name order (go, nats, rust, …)
	Streaming *aistreaming.Result   // ai-streaming.json
	Messaging *messaging.Result     // agent-messaging.json
	Final     *decide.FinalReport   // final-report.json
	// Env is the environment the run recorded (final-report.json's, else the first file's).
	Env   rundir.Environment
	RunID string
	// Planted is the run's planted faults (--plant), nil for a normal run.
	Planted *scenario.Plant
}

// busFileSuffix names every bus's bus-load file (the seed's go-ws-metrics.json and rust-ws-metrics.json).
const busFileSuffix = "-ws-metrics.json"

// ReadFolder reads the results folder dir. A file that is missing is nil; a file that does not decode is an
// error naming it.
func ReadFolder(dir string) (*Folder, error) {
	r := &Folder{Dir: dir}
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
			r.Spawn = new(lifecycle.Comparison)
			v = r.Spawn
		case strings.HasSuffix(n, busFileSuffix):
			f := new(busload.File)
			f.Bus.File = n
			r.Buses = append(r.Buses, f)
			v = f
		case n == "ai-streaming.json":
			r.Streaming = new(aistreaming.Result)
			v = r.Streaming
		case n == "agent-messaging.json":
			r.Messaging = new(messaging.Result)
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
			RunID   string             `json:"run_id"`
			Env     rundir.Environment `json:"environment"`
			Planted *scenario.Plant    `json:"planted"`
		}
		if json.Unmarshal(b, &head) != nil {
			continue
		}
		if r.RunID == "" || n == "final-report.json" {
			r.RunID, r.Env = head.RunID, head.Env
		}
		if head.Planted != nil && head.Planted.On() { // any file of a planted run says so
			r.Planted = head.Planted
		}
	}
	return r, nil
}

// WriteTables writes every scenario's tables, as the run printed them on stdout.
func (r *Folder) WriteTables(w io.Writer) error {
	var errs []error
	if r.Spawn != nil {
		errs = append(errs, r.Spawn.WriteTable(w))
		if r.Spawn.ContainerMem != nil {
			errs = append(errs, scenario.ReportContainerMemory(w, *r.Spawn.ContainerMem))
		}
	}
	errs = append(errs, busload.WriteTables(w, r.Buses))
	if r.Streaming != nil {
		errs = append(errs, r.Streaming.WriteTable(w))
	}
	if r.Messaging != nil {
		errs = append(errs, r.Messaging.WriteTable(w))
	}
	return errors.Join(errs...)
}
