package scenarios

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/agentlab/agentlab/scenarios/aistreaming"
	"github.com/agentlab/agentlab/scenarios/busload"
	"github.com/agentlab/agentlab/scenarios/lifecycle"
	"github.com/agentlab/agentlab/scenarios/messaging"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// metrics are every metric a figure can have, with units: each family's.
func metrics() map[scenario.Metric]scenario.Unit {
	m := map[scenario.Metric]scenario.Unit{}
	for _, fm := range []map[scenario.Metric]scenario.Unit{lifecycle.Metrics(), busload.Metrics(), aistreaming.Metrics(), messaging.Metrics()} {
		maps.Copy(m, fm)
	}
	return m
}

// KnownMetric reports whether name is a metric some figure can have, and lists them when not.
func KnownMetric(name string) error {
	m := metrics()
	if _, ok := m[scenario.Metric(name)]; ok {
		return nil
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, string(k))
	}
	slices.Sort(names)
	return fmt.Errorf("%w %q; valid: %s", scenario.ErrUnknownMetric, name, strings.Join(names, ", "))
}

// Figures lists the run's figures, scenario by scenario, in a stable order.
func (r *Folder) Figures() []scenario.Figure {
	var out []scenario.Figure
	if r.Spawn != nil {
		out = append(out, r.Spawn.Figures()...)
	}
	out = append(out, busload.Figures(r.Buses)...)
	if r.Streaming != nil {
		out = append(out, r.Streaming.Figures()...)
	}
	if r.Messaging != nil {
		out = append(out, r.Messaging.Figures()...)
	}
	return out
}
