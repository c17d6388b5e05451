package loadgen

import (
	"bytes"
	"testing"

	"github.com/agentlab/agentlab/internal/stats"
)

func TestDecodeResult(t *testing.T) {
	r := &Result{SchemaVersion: ResultSchemaVersion, Config: DefaultConfig(), Latency: stats.NewHist(), Sent: 10, Received: 9,
		Errors: map[string]int64{"unknown_target": 1}}
	r.Latency.RecordUS(1500)
	var out bytes.Buffer
	out.WriteString("a log line that slipped onto stdout\n")
	if err := writeJSON(&out, r); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeResult(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Sent != 10 || got.Received != 9 || got.Errors["unknown_target"] != 1 || got.Latency.Count() != 1 ||
		got.Connecting == nil || got.Config.Pattern != PatternTargeted {
		t.Fatalf("decoded %+v", got)
	}
	if _, err := DecodeResult([]byte("loadgen: only 1 of 2 agents registered\n")); err == nil {
		t.Error("no JSON: no error")
	}
	if _, err := DecodeResult([]byte(`{"schema_version":99}`)); err == nil {
		t.Error("a future schema decoded")
	}
}

func TestCombine(t *testing.T) {
	mk := func(agents int, sent, recv int64, lat int64, user float64) *Result {
		r := &Result{Config: Config{Agents: agents, Rate: 100}, Connecting: stats.NewHist(), Register: stats.NewHist(),
			Latency: stats.NewHist(), SendLag: stats.NewHist(), Sent: sent, Received: recv, Errors: map[string]int64{"x": 1},
			Sessions: Sessions{Attempted: agents, Registered: agents, Failures: map[string]int{"dial": 1}},
			CPU:      CPU{UserS: user, WallS: 2, AllowanceCores: 1}}
		r.Latency.RecordUS(lat)
		r.Times = Times{ConnectStart: 10, MeasureStart: 20, MeasureEnd: 30 + lat, End: 40 + lat}
		return r
	}
	c := Combine([]*Result{mk(3, 10, 10, 1000, 0.5), mk(5, 20, 19, 3000, 1.5)})
	if c.Config.Agents != 8 || c.Config.Rate != 200 || c.Sent != 30 || c.Received != 29 || c.Errors["x"] != 2 ||
		c.Sessions.Registered != 8 || c.Sessions.Failures["dial"] != 2 || c.Latency.Count() != 2 {
		t.Fatalf("combined %+v", c)
	}
	if c.Times.MeasureEnd != 3030 || c.Times.End != 3040 || c.Times.ConnectStart != 10 {
		t.Errorf("times %+v", c.Times)
	}
	// Two generators of one core each, 2 CPU-seconds over 2 s: half of their two cores.
	if c.CPU.Utilization != 0.5 {
		t.Errorf("utilization %v", c.CPU.Utilization)
	}
}
