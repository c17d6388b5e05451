package decide

import (
	"fmt"

	"github.com/agentlab/agentlab/internal/stats"
)

// Seed Test 4, "AI Streaming":
//
//	├─ Token processing <1ms?  └─ YES → Network-bound, Rust adds no value
//	├─ Token processing 1-5ms? └─ YES → Rust could help (2-3x speedup)
//	└─ Token processing >5ms?  └─ YES → Rust recommended
const (
	// TokenNetworkBoundMS: "Token processing <1ms → Rust adds no value (network-bound)". Per-token processing is
	// the client's CPU time decoding and accumulating, divided by tokens, in ms.
	TokenNetworkBoundMS = 1.0
	// TokenRustRecommendedMS: "Token processing >5ms → Rust recommended for token layer".
	TokenRustRecommendedMS = 5.0
)

// StreamingClient is one client's per-token processing time, one value per measured stream set (per repeat or
// per concurrency level, as the scenario defines), in ms.
type StreamingClient struct {
	Client     string    `json:"client"`   // e.g. go-sdk, go-lean, rust
	Language   string    `json:"language"` // go | rust
	PerTokenMS []float64 `json:"per_token_processing_ms"`
}

// StreamingInput is what Test 4 is decided on. Reference names the client the seed's question is asked of (the
// official SDK: what the agents would run).
type StreamingInput struct {
	Reference string
	Clients   []StreamingClient
}

// StreamingDecision is Test 4 with its inputs.
type StreamingDecision struct {
	Question string `json:"question"`
	// Bands: the reference client's per-token time against 1 ms and 5 ms.
	NetworkBound   Check  `json:"under_1ms"`
	RustRecommends Check  `json:"over_5ms"`
	Band           string `json:"band"` // network-bound | rust-could-help | rust-recommended | inconclusive | not-evaluated
	Answer         string `json:"answer"`
	// Measured, beyond the seed: each Go client's decode cost against the Rust client's, from the same run.
	GoOverRust []ClientComparison `json:"go_over_rust,omitempty"`
	// GoOverRustNote says why GoOverRust is empty ("not measured: …"); a ratio is never estimated.
	GoOverRustNote string            `json:"go_over_rust_note,omitempty"`
	Inputs         []StreamingClient `json:"inputs"`
}

// ClientComparison is benchstat's row for one Go client against the Rust client.
type ClientComparison struct {
	Client     string           `json:"client"`
	Against    string           `json:"against"`
	Comparison stats.Comparison `json:"comparison"` // A = Rust, B = the Go client: Ratio = Go/Rust per-token cost
}

// Streaming answers Test 4.
func Streaming(in StreamingInput) StreamingDecision {
	d := StreamingDecision{Question: "Token processing <1ms (network-bound)? 1–5ms (Rust could help)? >5ms (Rust recommended)?", Inputs: in.Clients}
	var ref, rust *StreamingClient
	for i := range in.Clients {
		c := &in.Clients[i]
		if c.Client == in.Reference {
			ref = c
		}
		if c.Language == "rust" && rust == nil {
			rust = c
		}
	}
	if ref == nil {
		d.GoOverRustNote = "not measured"
		d.Band, d.Answer = string(NotEvaluated), "not evaluated: the reference client was not measured"
		d.NetworkBound.Answer, d.RustRecommends.Answer = NotEvaluated, NotEvaluated
		return d
	}
	d.NetworkBound = threshold(fmt.Sprintf("Token processing < %.0f ms (%s)?", TokenNetworkBoundMS, ref.Client), ref.PerTokenMS,
		TokenNetworkBoundMS, YesBelow, "ms", "%.4f", map[Answer]string{Yes: "Network-bound, Rust adds no value"})
	d.RustRecommends = threshold(fmt.Sprintf("Token processing > %.0f ms (%s)?", TokenRustRecommendedMS, ref.Client), ref.PerTokenMS,
		TokenRustRecommendedMS, YesAbove, "ms", "%.4f", map[Answer]string{Yes: "Rust recommended"})
	switch {
	case d.NetworkBound.Answer == Yes:
		d.Band, d.Answer = "network-bound", "Network-bound → Rust adds no value"
	case d.RustRecommends.Answer == Yes:
		d.Band, d.Answer = "rust-recommended", "> 5 ms per token → Rust recommended for the token layer"
	case d.NetworkBound.Answer == No && d.RustRecommends.Answer == No:
		d.Band, d.Answer = "rust-could-help", "1–5 ms per token → Rust could help (2–3× speedup)"
	default:
		d.Band, d.Answer = string(Inconclusive), "INCONCLUSIVE: the interval crosses a band edge or n is too small"
	}
	if rust == nil {
		d.GoOverRustNote = "not measured: no Rust client ran"
	} else {
		for _, c := range in.Clients {
			if c.Language == "go" {
				d.GoOverRust = append(d.GoOverRust, ClientComparison{Client: c.Client, Against: rust.Client,
					Comparison: stats.Compare(rust.PerTokenMS, c.PerTokenMS)})
			}
		}
	}
	return d
}
