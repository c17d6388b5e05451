// Package buses names the buses under test and builds their images: bus-load (Test 2) and agent-messaging
// (Test 5) measure the same buses, so their specs live here, not in either family.
package buses

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agentlab/agentlab/internal/images"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// NATS is the reference bus's name: nats-server, spoken to in its own protocol by the same generator.
const NATS = "nats"

// Spec is one bus under test.
type Spec struct {
	Name  string   `json:"name"` // go | go-netpoll | rust | rust-epoll | nats | node | a --bus-image NAME
	Impl  string   `json:"implementation"`
	Image string   `json:"image"`
	Args  []string `json:"args,omitempty"` // the bus's command line (go-netpoll: --transport=netpoll)
	// Env is the bus's planted faults (--plant delay-ms, drop-every) as BUS_PLANT_* variables; nil in a normal run.
	// Only the lab's own buses (Planted) have the knobs: CheckPlant refuses the others.
	Env  map[string]string `json:"planted_env,omitempty"`
	File string            `json:"-"` // results file
}

// GoNetpoll is the Go bus on its netpoll transport: the same image, --transport=netpoll (epoll loops, no
// goroutine or buffer per idle connection).
const GoNetpoll = "go-netpoll"

// RustEpoll is Rust's best design (rust-bus-epoll/, agentlab/rustepoll): one epoll loop, an envelope scanner, one
// write per drained buffer.
const RustEpoll = "rust-epoll"

// Node is the Node.js bus: nodebus/node-message-bus.js on ws, the seed's node-message-bus.js design.
const Node = "node"

// Known are the lab's buses in report order; both and all name sets of them.
var Known = []string{"go", GoNetpoll, "rust", RustEpoll, NATS, Node}

// Planted are the buses that take the planted bus faults (--plant delay-ms, drop-every: --plant-delay-ms,
// --plant-drop-every, BUS_PLANT_*): the lab's own. NATS and a --bus-image have no such knob.
var Planted = []string{"go", GoNetpoll, "rust", RustEpoll, Node}

// CheckPlant refuses planted bus faults when a bus of the run cannot take them (NATS, a --bus-image): a usage error
// in one line, never a run whose faults were silently left out of one bus. allowed and inBoth are Expand's; a
// --bus that does not expand is left to the caller's own check.
func CheckPlant(p scenario.Params, allowed []string, inBoth ...string) error {
	if p.Plant.BusEnv() == nil {
		return nil
	}
	names, err := Expand(p.Bus, allowed, inBoth...)
	if err != nil {
		return nil
	}
	var cannot []string
	for _, n := range names {
		if !slices.Contains(Planted, n) {
			cannot = append(cannot, n)
		}
	}
	users, _ := ParseBusImages(p.BusImages)
	for _, u := range users {
		cannot = append(cannot, u.Name+" (--bus-image)")
	}
	if len(cannot) == 0 {
		return nil
	}
	return fmt.Errorf("%w %s: %s cannot take planted bus faults (only %s can): name the buses with --bus, without it",
		scenario.ErrPlant, p.Plant.String(), strings.Join(cannot, ", "), strings.Join(Planted, ", "))
}

// Expand reads --bus: a comma-separated list of known buses, "both" (go and rust, plus inBoth: what a family adds
// to its default — bus-load: go-netpoll and rust-epoll, and NATS in the full run) or "all" (every known bus); allowed limits which
// buses the scenario can run (nil: all of Known).
func Expand(bus string, allowed []string, inBoth ...string) ([]string, error) {
	if allowed == nil {
		allowed = Known
	}
	want := map[string]bool{}
	for _, part := range strings.Split(bus, ",") {
		switch part = strings.TrimSpace(part); part {
		case "both":
			want["go"], want["rust"] = true, true
			for _, n := range inBoth {
				want[n] = true
			}
		case "all":
			for _, n := range allowed {
				want[n] = true
			}
		default:
			if !slices.Contains(allowed, part) {
				return nil, fmt.Errorf("--bus %q: want a comma-separated list of %s, both (go and rust) or all (%s)",
					bus, strings.Join(allowed, ", "), strings.Join(allowed, ", "))
			}
			want[part] = true
		}
	}
	var out []string
	for _, n := range Known {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

// UserBus is one --bus-image entry: a user's bus image measured under Name.
type UserBus struct {
	Name, Image string
	Args        []string
}

// ParseBusImages reads --bus-image NAME=IMAGE[,port=8080][,args=A B],... (entries separated by ";" or a new
// NAME=IMAGE). The harness reaches every bus on the protocol's port, 8080 (docs/protocol.md): another port= is
// refused with a clear error rather than measured wrong.
func ParseBusImages(s string) ([]UserBus, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []UserBus
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("--bus-image %q: want NAME=IMAGE[,port=8080][,args=...]", part)
		case k == "port" && len(out) > 0:
			if v != "8080" {
				return nil, fmt.Errorf("--bus-image %s: port=%s: the harness reaches every bus on 8080 (docs/protocol.md); run it there (args=--addr=:8080 or the like)", out[len(out)-1].Name, v)
			}
		case k == "args" && len(out) > 0:
			out[len(out)-1].Args = strings.Fields(v)
		default:
			if k == "" || v == "" || seen[k] || slices.Contains(Known, k) || slices.Contains([]string{"both", "all", "port", "args"}, k) || strings.ContainsAny(k, " ./:") {
				return nil, fmt.Errorf("--bus-image %q: NAME must be new, not a lab bus's name, without spaces, dots, slashes or colons; IMAGE must be given", part)
			}
			seen[k] = true
			out = append(out, UserBus{Name: k, Image: v})
		}
	}
	return out, nil
}

// Images builds the images of the buses --bus names (inBoth: see Expand), then adds every --bus-image. The Rust bus is left out, with
// one line on env.Log prefixed by who saying why, under --skip-rust or when cargo is missing (unless --bus asked
// for it alone); so is the Node.js bus on a host without node (images.ErrNoRuntime). A user's image must exist:
// nothing is pulled.
func Images(ctx context.Context, env *scenario.Env, who string, inBoth ...string) ([]Spec, []string, error) {
	p := env.Params
	names, err := Expand(p.Bus, nil, inBoth...)
	if err != nil {
		return nil, nil, err
	}
	only := len(names) == 1
	has := func(n string) bool { return slices.Contains(names, n) }
	var out []Spec
	var notes []string
	if has("go") || has(GoNetpoll) {
		ref, err := env.Images.Ensure(ctx, "gobus")
		if err != nil {
			return nil, nil, err
		}
		if has("go") {
			out = append(out, Spec{Name: "go", Impl: "gobus (Go, gorilla/websocket)", Image: ref, File: "go-ws-metrics.json"})
		}
		if has(GoNetpoll) {
			out = append(out, Spec{Name: GoNetpoll, Impl: "gobus --transport=netpoll (Go, epoll loops, gobwas/ws)",
				Image: ref, Args: []string{"--transport=netpoll"}, File: "go-netpoll-ws-metrics.json"})
		}
	}
	// Each Rust design is left out, with a note, under --skip-rust or without cargo, unless asked for alone.
	for _, r := range []struct {
		name, image, impl, file, figure string
	}{
		{"rust", "rustbus", "rust-message-bus (Rust, tokio-tungstenite)", "rust-ws-metrics.json", "Rust bus"},
		{RustEpoll, "rustepoll", "rust-bus-epoll (Rust, one epoll loop, envelope scanner)", "rust-epoll-ws-metrics.json", "Rust bus " + RustEpoll},
	} {
		if !has(r.name) {
			continue
		}
		switch ref, err := env.Images.Ensure(ctx, r.image); {
		case p.SkipRust && !only:
			notes = append(notes, r.figure+" left out (--skip-rust): no Rust ratios")
		case errors.Is(err, images.ErrNoCargo) && !only:
			notes = append(notes, r.figure+" left out: "+images.ErrNoCargo.Error()+" (install Rust, or pass --skip-rust): no Rust ratios")
		case err != nil:
			return nil, nil, err
		default:
			out = append(out, Spec{Name: r.name, Impl: r.impl, Image: ref, File: r.file})
		}
	}
	if has(NATS) {
		ref, err := env.Images.Ensure(ctx, "nats")
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Spec{Name: NATS, Impl: "nats-server v2.15.3 (the reference: NATS protocol, same generator)", Image: ref, File: "nats-ws-metrics.json"})
	}
	if has(Node) {
		switch ref, err := env.Images.Ensure(ctx, "nodebus"); {
		case errors.Is(err, images.ErrNoRuntime) && !only:
			notes = append(notes, "Node.js bus left out: "+err.Error()+" (apt-get install nodejs node-ws)")
		case err != nil:
			return nil, nil, err
		default:
			impl := "nodebus (Node.js, ws)"
			if v := imageLabel(ctx, env, ref, images.RuntimeLabel); v != "" {
				impl = "nodebus (Node.js " + strings.TrimPrefix(v, "node ") + ", ws)"
			}
			out = append(out, Spec{Name: Node, Impl: impl, Image: ref, File: "node-ws-metrics.json"})
		}
	}
	users, err := ParseBusImages(p.BusImages)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range users {
		if env.Docker == nil {
			return nil, nil, fmt.Errorf("--bus-image %s: needs a Docker daemon", u.Name)
		}
		if _, err := env.Docker.ImageInspect(ctx, u.Image); err != nil {
			return nil, nil, fmt.Errorf("%w: --bus-image %s=%s: image not found (nothing is pulled: build or load it first): %v",
				scenario.ErrEnvironment, u.Name, u.Image, err)
		}
		out = append(out, Spec{Name: u.Name, Impl: "user image " + u.Image, Image: u.Image, Args: u.Args,
			File: u.Name + "-ws-metrics.json"})
	}
	if pe := p.Plant.BusEnv(); pe != nil {
		// Every bus of a planted run takes the faults: a bus without the knobs was refused by CheckPlant (and is
		// refused here, should a caller not have checked), never run clean beside the planted ones.
		var names []string
		for i := range out {
			if !slices.Contains(Planted, out[i].Name) { // NATS, or a --bus-image (its name is never a lab bus's)
				return nil, nil, fmt.Errorf("%w: %s: %w %s: %s cannot take planted bus faults (only %s can)", scenario.ErrEnvironment,
					who, scenario.ErrPlant, p.Plant.String(), out[i].Name, strings.Join(Planted, ", "))
			}
			out[i].Env = pe
			names = append(names, out[i].Name)
		}
		notes = append(notes, "PLANTED bus faults (--plant "+p.Plant.String()+") on "+strings.Join(names, ", "))
	}
	for _, n := range notes {
		fmt.Fprintln(env.Log, who+": "+n)
	}
	return out, notes, nil
}

// imageLabel reads one label of image ref ("" when it cannot).
func imageLabel(ctx context.Context, env *scenario.Env, ref, key string) string {
	if env.Docker == nil {
		return ""
	}
	img, err := env.Docker.ImageInspect(ctx, ref)
	if err != nil || img.Config == nil {
		return ""
	}
	return img.Config.Labels[key]
}
