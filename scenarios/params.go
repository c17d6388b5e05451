package scenarios

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/agentlab/agentlab/scenarios/aistreaming"
	"github.com/agentlab/agentlab/scenarios/busload"
	"github.com/agentlab/agentlab/scenarios/lifecycle"
	"github.com/agentlab/agentlab/scenarios/messaging"
	"github.com/agentlab/agentlab/scenarios/scenario"
)

// Params are the knobs of a run: one flag set for the whole lab, as the seed had. The shared flags are
// scenario.Params; each family owns a flags struct next to its quick sizes and checks. final-report.json's
// "parameters" is one flat object: the shared keys, then each family's.
type Params struct {
	scenario.Params
	Lifecycle   lifecycle.Flags
	BusLoad     busload.Flags
	AIStreaming aistreaming.Flags
	Messaging   messaging.Flags
}

// Register defines every flag on fs, with its default; --help lists exactly these.
func (p *Params) Register(fs *flag.FlagSet) {
	p.Params.Register(fs)
	p.Lifecycle.Register(fs)
	p.BusLoad.Register(fs)
	p.Messaging.Register(fs)
	p.AIStreaming.Register(fs)
}

// MarshalJSON writes one flat object: the shared flags' keys, then each family's, in that order.
func (p Params) MarshalJSON() ([]byte, error) {
	var out bytes.Buffer
	out.WriteByte('{')
	for _, part := range []any{p.Params, p.Lifecycle, p.BusLoad, p.Messaging, p.AIStreaming} {
		b, err := json.Marshal(part)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimSpace(b)
		if len(b) < 2 || b[0] != '{' {
			return nil, fmt.Errorf("parameters: %T is not a JSON object", part)
		}
		if inner := b[1 : len(b)-1]; len(inner) > 0 {
			if out.Len() > 1 {
				out.WriteByte(',')
			}
			out.Write(inner)
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}
