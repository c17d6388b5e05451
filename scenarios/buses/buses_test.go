package buses

import (
	"strings"
	"testing"
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
