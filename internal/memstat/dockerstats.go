package memstat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// DockerStats reads the Docker stats API, one one-shot request per container (stream=false, one-shot=true: the
// daemon answers at once instead of waiting a second for a previous sample). Containers are queried concurrently.
type DockerStats struct {
	cli client.APIClient
}

// NewDockerStats returns a source on the daemon cli talks to.
func NewDockerStats(cli client.APIClient) *DockerStats { return &DockerStats{cli: cli} }

// Name implements Source.
func (d *DockerStats) Name() string { return SourceDockerStats }

// Sample implements Source.
func (d *DockerStats) Sample(ctx context.Context, ids []string) ([]Sample, error) {
	out := make([]Sample, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { out[i], errs[i] = d.one(ctx, id) })
	}
	wg.Wait()
	got := out[:0]
	for i := range out {
		if errs[i] == nil {
			got = append(got, out[i])
		}
	}
	return got, errors.Join(errs...)
}

func (d *DockerStats) one(ctx context.Context, id string) (Sample, error) {
	res, err := d.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: false})
	if err != nil {
		return Sample{}, fmt.Errorf("docker stats %.12s: %w", id, err)
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return Sample{}, fmt.Errorf("docker stats %.12s: decode: %w", id, err)
	}
	if st.Read.IsZero() || st.Read.Year() < 2000 {
		// A stopped container answers with an all-zero record rather than an error.
		return Sample{}, fmt.Errorf("docker stats %.12s: no reading (container not running?)", id)
	}
	s := fromDockerStats(st)
	s.ContainerID = id
	return s, nil
}

// fromDockerStats converts a Linux stats record.
func fromDockerStats(st container.StatsResponse) Sample {
	s := Sample{
		Time:       st.Read,
		Name:       strings.TrimPrefix(st.Name, "/"),
		Source:     SourceDockerStats,
		UsageBytes: st.MemoryStats.Usage,
		CPUUsageNs: st.CPUStats.CPUUsage.TotalUsage,
	}
	s.memoryFromStat(st.MemoryStats.Stats)
	s.memoryFigures()
	return s
}
