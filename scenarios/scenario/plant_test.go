package scenario

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"
)

func TestPlantFlag(t *testing.T) {
	var p Params
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	p.Register(fs)
	if p.Plant.On() {
		t.Fatal("planted by default")
	}
	if err := fs.Parse([]string{"--plant", "leak-kib=256,delay-ms=60", "--plant", "burn-us=2000"}); err != nil {
		t.Fatal(err)
	}
	want := Plant{LeakKiB: 256, DelayMS: 60, BurnUS: 2000}
	if p.Plant != want || p.Plant.String() != "burn-us=2000,delay-ms=60,leak-kib=256" {
		t.Errorf("parsed %+v (%s), want %+v", p.Plant, p.Plant, want)
	}
	if a := p.Plant.AgentArgs(); !slices.Equal(a, []string{"--plant-leak-kib", "256"}) {
		t.Errorf("agent args %v", a)
	}
	if e := p.Plant.BusEnv(); e["BUS_PLANT_DELAY_MS"] != "60" || e["BUS_PLANT_DROP_EVERY"] != "0" {
		t.Errorf("bus env %v", e)
	}
	if (Plant{BurnUS: 1}).BusEnv() != nil {
		t.Error("no bus fault planted: want nil env")
	}
	for _, bad := range []string{"leak=1", "leak-kib", "leak-kib=-1", "burn-us=x", "drop-every=99999999999"} {
		var q Plant
		if err := q.Set(bad); !errors.Is(err, ErrPlant) {
			t.Errorf("--plant %s: %v, want ErrPlant", bad, err)
		}
	}
}
