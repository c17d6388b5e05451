package memstat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CAdvisor reads our cAdvisor sidecar's /api/v2.1/stats/<id>?type=docker&count=N — the request
// github.com/google/cadvisor/client/v2 makes — with a context per request, which that client cannot take.
type CAdvisor struct {
	base  string
	count int
	http  *http.Client
}

// NewCAdvisor returns a source on the cAdvisor at baseURL (http://host:port). Each request asks for the count most
// recent housekeeping points (at least 1), so a sampler slower than cAdvisor's 1 s housekeeping loses none.
func NewCAdvisor(baseURL string, count int) *CAdvisor {
	if count < 1 {
		count = 1
	}
	return &CAdvisor{base: strings.TrimSuffix(baseURL, "/"), count: count, http: &http.Client{Timeout: 5 * time.Second}}
}

// Name implements Source.
func (c *CAdvisor) Name() string { return SourceCAdvisor }

// Historic implements Historic: answers hold up to count past housekeeping points.
func (c *CAdvisor) Historic() bool { return true }

// Sample implements Source: the container's recent stats, oldest first.
func (c *CAdvisor) Sample(ctx context.Context, ids []string) ([]Sample, error) {
	res := make([][]Sample, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { res[i], errs[i] = c.one(ctx, id) })
	}
	wg.Wait()
	var out []Sample
	for _, r := range res {
		out = append(out, r...)
	}
	return out, errors.Join(errs...)
}

// cadvisorInfo is the part of cAdvisor's v2.ContainerInfo we read.
type cadvisorInfo struct {
	Spec struct {
		Aliases []string `json:"aliases"`
	} `json:"spec"`
	Stats []struct {
		Timestamp time.Time `json:"timestamp"`
		CPU       *struct {
			Usage struct {
				Total uint64 `json:"total"`
			} `json:"usage"`
		} `json:"cpu"`
		Memory *struct {
			Usage             uint64 `json:"usage"`
			Cache             uint64 `json:"cache"`
			RSS               uint64 `json:"rss"`
			WorkingSet        uint64 `json:"working_set"`
			TotalInactiveFile uint64 `json:"total_inactive_file"`
		} `json:"memory"`
	} `json:"stats"`
}

func (c *CAdvisor) one(ctx context.Context, id string) ([]Sample, error) {
	q := url.Values{"type": {"docker"}, "count": {strconv.Itoa(c.count)}}
	u := c.base + "/api/v2.1/stats/" + url.PathEscape(id) + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("cadvisor %.12s: %w", id, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cadvisor %.12s: %w", id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("cadvisor %.12s: read: %w", id, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cadvisor %.12s: %s: %s", id, resp.Status, strings.TrimSpace(string(body)))
	}
	var infos map[string]cadvisorInfo
	if err := json.Unmarshal(body, &infos); err != nil {
		return nil, fmt.Errorf("cadvisor %.12s: decode: %w", id, err)
	}
	return fromCAdvisor(id, infos)
}

// fromCAdvisor converts the one container of a type=docker answer (keyed by its cgroup name, /docker/<id>).
func fromCAdvisor(id string, infos map[string]cadvisorInfo) ([]Sample, error) {
	if len(infos) != 1 {
		return nil, fmt.Errorf("cadvisor %.12s: %d containers in answer, want 1", id, len(infos))
	}
	var out []Sample
	for _, ci := range infos {
		name := ""
		for _, a := range ci.Spec.Aliases {
			if a != id && !strings.HasPrefix(id, a) {
				name = a // the aliases are the container's name and its id
				break
			}
		}
		for _, st := range ci.Stats {
			if st.Memory == nil {
				continue
			}
			s := Sample{
				Time:              st.Timestamp,
				ContainerID:       id,
				Name:              name,
				Source:            SourceCAdvisor,
				UsageBytes:        st.Memory.Usage,
				RSSBytes:          st.Memory.RSS,
				CacheBytes:        st.Memory.Cache,
				InactiveFileBytes: st.Memory.TotalInactiveFile,
			}
			s.memoryFigures()
			// cAdvisor computes the working set itself; keep its figure (it equals ours when both are sane).
			s.WorkingSetBytes = st.Memory.WorkingSet
			if st.CPU != nil {
				s.CPUUsageNs = st.CPU.Usage.Total
			}
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if len(out) == 0 {
		return nil, fmt.Errorf("cadvisor %.12s: no stats yet", id)
	}
	return out, nil
}
