// Package buses names the buses under test and builds their images: bus-load (Test 2) and agent-messaging
// (Test 5) measure the same buses, so their specs live here, not in either family.
package buses

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// NATS is the reference bus's name: nats-server, spoken to in its own protocol by the same generator.
const NATS = "nats"

// Spec is one bus under test.
type Spec struct {
	Name  string   `json:"name"` // go | go-netpoll | rust | nats
	Impl  string   `json:"implementation"`
	Image string   `json:"image"`
	Args  []string `json:"args,omitempty"` // the bus's command line (go-netpoll: --transport=netpoll)
	// Env is the bus's planted faults (--plant delay-ms, drop-every) as BUS_PLANT_* variables; nil in a normal run
	// and for NATS, which has no such knob.
	Env  map[string]string `json:"planted_env,omitempty"`
	File string            `json:"-"` // results file
}

// GoNetpoll is the Go bus on its netpoll transport: the same image, --transport=netpoll (epoll loops, no
// goroutine or buffer per idle connection).
const GoNetpoll = "go-netpoll"

// Images builds the images of the buses --bus names. The Rust bus is left out, with one line on env.Log prefixed
// by who saying why, under --skip-rust or when cargo is missing (unless --bus rust asked for it alone).
func Images(ctx context.Context, env *scenario.Env, who string) ([]Spec, []string, error) {
	p := env.Params
	var out []Spec
	var notes []string
	if p.Bus == "go" || p.Bus == "both" || p.Bus == "all" || p.Bus == GoNetpoll {
		ref, err := env.Images.Ensure(ctx, "gobus")
		if err != nil {
			return nil, nil, err
		}
		if p.Bus != GoNetpoll {
			out = append(out, Spec{Name: "go", Impl: "gobus (Go, gorilla/websocket)", Image: ref, File: "go-ws-metrics.json"})
		}
		if p.Bus == GoNetpoll || p.Bus == "all" {
			out = append(out, Spec{Name: GoNetpoll, Impl: "gobus --transport=netpoll (Go, epoll loops, gobwas/ws)",
				Image: ref, Args: []string{"--transport=netpoll"}, File: "go-netpoll-ws-metrics.json"})
		}
	}
	if p.Bus == "rust" || p.Bus == "both" || p.Bus == "all" {
		switch ref, err := env.Images.Ensure(ctx, "rustbus"); {
		case p.SkipRust && p.Bus != "rust":
			notes = append(notes, "Rust bus left out (--skip-rust): Go bus only, no ratios")
		case errors.Is(err, images.ErrNoCargo) && p.Bus != "rust":
			notes = append(notes, "Rust bus left out: "+images.ErrNoCargo.Error()+" (install Rust, or pass --skip-rust): Go bus only, no ratios")
		case err != nil:
			return nil, nil, err
		default:
			out = append(out, Spec{Name: "rust", Impl: "rust-message-bus (Rust, tokio-tungstenite)", Image: ref, File: "rust-ws-metrics.json"})
		}
	}
	if p.Bus == "nats" || p.Bus == "all" {
		ref, err := env.Images.Ensure(ctx, "nats")
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Spec{Name: NATS, Impl: "nats-server v2.15.3 (the reference: NATS protocol, same generator)", Image: ref, File: "nats-ws-metrics.json"})
	}
	if pe := p.Plant.BusEnv(); pe != nil {
		for i := range out {
			if out[i].Name != NATS {
				out[i].Env = pe
			}
		}
		notes = append(notes, "PLANTED bus faults (--plant "+p.Plant.String()+") on the Go and Rust buses; NATS has none")
	}
	for _, n := range notes {
		fmt.Fprintln(env.Log, who+": "+n)
	}
	return out, notes, nil
}
