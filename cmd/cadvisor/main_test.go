package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clientv2 "github.com/google/cadvisor/client/v2"
	v2 "github.com/google/cadvisor/info/v2"
	"github.com/google/cadvisor/lib/container"
	info "github.com/google/cadvisor/lib/model"
)

const id = "e3a4974dd508d752abebe38b22b4fae1d810d139964fc3e65fe79797b812266a"

// fakeManager holds one docker container with two housekeeping points.
type fakeManager struct{ got []info.RequestOptions }

func (f *fakeManager) GetRequestedContainersInfo(name string, opt info.RequestOptions) (map[string]*info.ContainerInfo, error) {
	f.got = append(f.got, opt)
	t0 := time.Date(2026, 11, 25, 20, 2, 38, 0, time.UTC)
	c := &info.ContainerInfo{
		ContainerReference: info.ContainerReference{Name: "/docker/" + id, Aliases: []string{"alloc", id}, Namespace: "docker"},
		Spec:               info.ContainerSpec{HasCpu: true, HasMemory: true, Image: "alloc:latest"},
	}
	for i := range 2 {
		c.Stats = append(c.Stats, &info.ContainerStats{
			Timestamp: t0.Add(time.Duration(i) * time.Second),
			Cpu:       &info.CpuStats{Usage: info.CpuUsage{Total: uint64(i+1) * 1e9}},
			Memory: &info.MemoryStats{Usage: 70414336, WorkingSet: 68669440, TotalInactiveFile: 1744896,
				RSS: 68075520, Cache: 1744896},
		})
	}
	switch {
	case opt.IdType == info.TypeDocker && strings.TrimPrefix(name, "/") == id:
		return map[string]*info.ContainerInfo{c.Name: c}, nil
	case opt.IdType == info.TypeName && opt.Recursive && name == "/":
		return map[string]*info.ContainerInfo{c.Name: c}, nil
	}
	return nil, errors.New("unknown container " + name)
}

func (f *fakeManager) GetVersionInfo() (*info.VersionInfo, error) {
	return &info.VersionInfo{CadvisorVersion: "test"}, nil
}

func (f *fakeManager) GetMachineInfo() (*info.MachineInfo, error) {
	return &info.MachineInfo{NumCores: 2, MemoryCapacity: 24 << 30}, nil
}

func metricSet(t *testing.T, s string) container.MetricSet {
	ms := container.MetricSet{}
	if err := ms.Set(s); err != nil {
		t.Fatal(err)
	}
	return ms
}

// The upstream client must read our stats endpoint.
func TestStatsReadableByUpstreamClient(t *testing.T) {
	fm := &fakeManager{}
	srv := httptest.NewServer(newMux(fm, metricSet(t, "cpu,memory")))
	defer srv.Close()
	cl, err := clientv2.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cl.Stats(id, &v2.RequestOptions{IdType: v2.TypeDocker, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	ci, ok := got["/docker/"+id]
	if !ok || len(got) != 1 {
		t.Fatalf("answer keys: %v", got)
	}
	if len(ci.Stats) != 2 || ci.Spec.Aliases[0] != "alloc" {
		t.Fatalf("info: %+v", ci)
	}
	last := ci.Stats[1]
	if last.Memory == nil || last.Memory.WorkingSet != 68669440 || last.Memory.TotalInactiveFile != 1744896 ||
		last.Cpu == nil || last.Cpu.Usage.Total != 2e9 || last.CpuInst == nil {
		t.Fatalf("last stat: %+v", last)
	}
	if o := fm.got[0]; o.IdType != info.TypeDocker || o.Count != 2 || o.Recursive {
		t.Fatalf("options passed on: %+v", o)
	}

	if _, err := cl.Stats("nope", &v2.RequestOptions{IdType: v2.TypeDocker, Count: 1}); err == nil {
		t.Fatal("unknown container: no error")
	}
	resp, err := http.Get(srv.URL + "/api/v2.1/stats/" + id + "?type=podman")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad type: %s", resp.Status)
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	srv := httptest.NewServer(newMux(&fakeManager{}, metricSet(t, "cpu,memory")))
	defer srv.Close()
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/metrics": `container_memory_working_set_bytes{id="/docker/` + id + `",image="alloc:latest",name="alloc"} 6.866944e+07 `,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("%s: %s, body lacks %q:\n%.2000s", path, resp.Status, want, b)
		}
	}
}
