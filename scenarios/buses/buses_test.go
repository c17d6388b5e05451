package buses

import (
	"strings"
	"testing"

	"github.com/agentlab/agentlab/scenarios/scenario"
)

func TestExpand(t *testing.T) {
	for in, want := range map[string]string{
		"both":      "go,rust",
		"node,rust": "rust,node",
		"all":       "go,go-netpoll,rust,rust-epoll,nats,node",
		"go,both":   "go,rust",
		"node":      "node",
	} {
		got, err := Expand(in, nil)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("Expand(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if got, err := Expand("all", []string{"go", "rust", Node}); err != nil || strings.Join(got, ",") != "go,rust,node" {
		t.Errorf("Expand(all) for messaging = %v, %v", got, err)
	}
	for _, bad := range []string{"ruby", "go,,rust", ""} {
		if _, err := Expand(bad, nil); err == nil {
			t.Errorf("Expand(%q) accepted", bad)
		}
	}
	if _, err := Expand("nats", []string{"go", "rust", Node}); err == nil {
		t.Error("messaging accepted nats")
	}
}

func TestParseBusImages(t *testing.T) {
	got, err := ParseBusImages("mine=agentlab/gobus:latest,port=8080,args=--queue-len=512 --x,theirs=img:1")
	if err != nil || len(got) != 2 || got[0].Name != "mine" || got[0].Image != "agentlab/gobus:latest" ||
		strings.Join(got[0].Args, " ") != "--queue-len=512 --x" || got[1].Name != "theirs" || got[1].Image != "img:1" {
		t.Fatalf("ParseBusImages = %+v, %v", got, err)
	}
	for _, bad := range []string{"mine", "go=x", "mine=x,port=9000", "a=x,a=y", "port=8080", "m.e=x", "all=x"} {
		if _, err := ParseBusImages(bad); err == nil {
			t.Errorf("ParseBusImages(%q) accepted", bad)
		}
	}
}

// Planted bus faults go to the lab's buses only; a run with NATS or a user's image is refused, whatever --bus says.
func TestCheckPlant(t *testing.T) {
	for _, tc := range []struct {
		bus, images, plant string
		inBoth             []string
		refused            string // a bus named in the error; "" = accepted
	}{
		{"go,go-netpoll,rust,rust-epoll,node", "", "delay-ms=60,drop-every=100", nil, ""},
		{"both", "", "drop-every=10", []string{GoNetpoll}, ""},
		{"both", "", "drop-every=10", []string{GoNetpoll, NATS}, "nats"},
		{"all", "", "delay-ms=1", nil, "nats"},
		{"go", "mine=example/bus", "delay-ms=1", nil, "mine (--bus-image)"},
		{"go,nats", "", "leak-kib=4,burn-us=10", nil, ""}, // no bus fault planted
	} {
		p := scenario.Params{Bus: tc.bus, BusImages: tc.images}
		if err := p.Plant.Set(tc.plant); err != nil {
			t.Fatal(err)
		}
		err := CheckPlant(p, nil, tc.inBoth...)
		if tc.refused == "" && err != nil || tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused+" cannot take")) {
			t.Errorf("--bus %s --bus-image %q --plant %s: %v; want refused: %q", tc.bus, tc.images, tc.plant, err, tc.refused)
		}
	}
}
