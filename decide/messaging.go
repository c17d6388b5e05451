package decide

import "fmt"

// Seed Test 5, "Agent Messaging":
//
//	├─ Success rate >95%?  ├─ YES → Persistent agents viable   └─ NO → Architecture needs fixes
//	├─ P95 latency <100ms? ├─ YES → Excellent UX (Slack-like)  └─ NO → Optimize routing
//	└─ Zero errors?        ├─ YES → Production-ready           └─ NO → Review error logs
const (
	// MessagingSuccessPct: "Success rate >95% → Architecture is viable", per clean run, in %.
	MessagingSuccessPct = 95.0
	// MessagingP95MS: "P95 latency <100ms → Feels instant (Slack-like)", per-turn p95 per clean run, in ms.
	MessagingP95MS = 100.0
)

// MessagingBus is one bus's clean (fault-free) runs, one value per run.
type MessagingBus struct {
	Bus        string    `json:"bus"`
	SuccessPct []float64 `json:"success_pct"`
	P95MS      []float64 `json:"p95_ms"`
	Errors     int64     `json:"errors"` // bus error frames + timeouts + disconnects + context errors, all clean runs
}

// MessagingVerdict is Test 5 for one bus.
type MessagingVerdict struct {
	Bus     string `json:"bus"`
	Success Check  `json:"success_over_95pct"`
	P95     Check  `json:"p95_under_100ms"`
	Zero    Check  `json:"zero_errors"`
}

// MessagingDecision is Test 5 with its inputs, per bus. Fault runs are reported beside it by the scenario, never
// mixed into these clean verdicts.
type MessagingDecision struct {
	Question string             `json:"question"`
	Buses    []MessagingVerdict `json:"buses"`
	Inputs   []MessagingBus     `json:"inputs"`
}

// Messaging answers Test 5.
func Messaging(in []MessagingBus) MessagingDecision {
	d := MessagingDecision{Question: "Success rate >95%? P95 latency <100ms? Zero errors?", Inputs: in}
	for _, b := range in {
		v := MessagingVerdict{Bus: b.Bus}
		v.Success = threshold("Success rate > 95 %?", b.SuccessPct, MessagingSuccessPct, YesAbove, "%", "%.2f",
			map[Answer]string{Yes: "Persistent agents viable", No: "Architecture needs fixes"})
		v.P95 = threshold("P95 latency < 100 ms?", b.P95MS, MessagingP95MS, YesBelow, "ms", "%.2f",
			map[Answer]string{Yes: "Excellent UX (Slack-like)", No: "Optimize routing"})
		// Errors are a count, not an estimate.
		zero := 0.0
		v.Zero = Check{Question: "Zero errors?", Threshold: &zero, Unit: "errors"}
		switch {
		case len(b.SuccessPct) == 0:
			v.Zero.Answer, v.Zero.Detail = NotEvaluated, "no clean run"
		case b.Errors == 0:
			v.Zero.Answer, v.Zero.Then, v.Zero.Detail = Yes, "Production-ready", fmt.Sprintf("0 errors in %d clean runs", len(b.SuccessPct))
		default:
			v.Zero.Answer, v.Zero.Then, v.Zero.Detail = No, "Review error logs", fmt.Sprintf("%d errors in %d clean runs", b.Errors, len(b.SuccessPct))
		}
		d.Buses = append(d.Buses, v)
	}
	return d
}
