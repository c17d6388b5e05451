package memstat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/agentlab/agentlab/internal/dockerx"
)

// Config configures a Sampler. Zero values mean the defaults.
type Config struct {
	// Docker is the daemon the sampled containers run on: Add resolves ids and names with it, and StartCAdvisor
	// checks it is local. Nil (tests) makes Add take ids as given and StartCAdvisor refuse.
	Docker client.APIClient
	// Interval between sampling rounds (default 1 s: cAdvisor housekeeps every second and the daemon's stats
	// answer about once a second per container).
	Interval time.Duration
	// Window, Tolerance and MinDiffBytes parameterise CrossCheck (defaults DefaultWindow, DefaultTolerance,
	// DefaultMinDiffBytes; a negative MinDiffBytes means no floor).
	Window       time.Duration
	Tolerance    float64
	MinDiffBytes int64
	// Now is the sampler's clock (default time.Now): it stamps when a container was added (cAdvisor points older
	// than that are dropped) and samples a source cannot timestamp itself.
	Now func() time.Time
	// Log receives the one line the sampler ever prints: why cAdvisor is not used (default: discarded).
	Log io.Writer
	// Locality, when known, decides the sources at once (a remote daemon: no cgroup source); nil means the
	// sampler probes with the first container added.
	Locality *Locality
}

// Sampler samples a changing set of containers from several sources at a fixed interval and keeps each
// container's time series. Its methods are safe for concurrent use.
type Sampler struct {
	cfg Config

	mu      sync.Mutex
	sources []Source
	targets map[string]*target
	order   []string // ids in the order they were added
	note    string
	errs    map[string]*SourceErrors
	loc     *Locality          // nil until known
	sidecar *CAdvisorContainer // nil once stopped
	info    *SidecarInfo
	stop    context.CancelFunc
	done    chan struct{}
}

type target struct {
	id, name, role string
	active         bool
	added          time.Time // by Config.Now, when first added
	series         []Sample
	last           map[string]Sample // by source: to drop repeats and derive cpu_cores
}

// SourceErrors counts one source's failed readings.
type SourceErrors struct {
	Count int    `json:"count"`
	Last  string `json:"last"`
}

// NewSampler returns a sampler on the given sources (see DefaultSources); StartCAdvisor adds the cAdvisor source.
func NewSampler(cfg Config, sources ...Source) *Sampler {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.MinDiffBytes == 0 {
		cfg.MinDiffBytes = DefaultMinDiffBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	s := &Sampler{cfg: cfg, sources: sources, targets: map[string]*target{}, errs: map[string]*SourceErrors{}}
	if cfg.Locality != nil {
		s.setLocality(*cfg.Locality)
	}
	return s
}

// DefaultSources are Docker stats on cli plus, when the daemon is on a unix socket and a cgroup tree is mounted
// here, the cgroup files. Whether the daemon's containers are really visible here is only known with a container
// to probe: a Sampler checks with the first container added (DetectLocality) and drops the cgroup source when the
// daemon is remote; the cgroup source itself never reads a container whose init pid's cgroup lines here do not
// name it. Callers that know the Locality use SourcesFor.
func DefaultSources(cli client.APIClient, now func() time.Time) []Source {
	srcs := []Source{NewDockerStats(cli)}
	if isLocalDaemon(cli.DaemonHost()) && exists(DefaultCgroupRoot) {
		srcs = append(srcs, newCgroup(DefaultProcRoot, DefaultCgroupRoot, now, inspectPID(cli)))
	}
	return srcs
}

// SourcesFor are Docker stats on cli plus, for a local daemon only, the cgroup files.
func SourcesFor(loc Locality, cli client.APIClient, now func() time.Time) []Source {
	srcs := []Source{NewDockerStats(cli)}
	if c, err := NewCgroupFor(loc, cli, now); err == nil {
		srcs = append(srcs, c)
	}
	return srcs
}

// Fast is the source to read one container on every sample: the cgroup files when the daemon is local (instant),
// Docker stats otherwise (the daemon answers about once a second per container).
func Fast(loc Locality, cli client.APIClient, now func() time.Time) Source {
	if c, err := NewCgroupFor(loc, cli, now); err == nil {
		return c
	}
	return NewDockerStats(cli)
}

// Descriptions of a Read's figure, by source.
const (
	ReadCgroup      = "cgroup files (memstat): memory usage − inactive file cache (the docker stats figure); CPU from cpuacct.usage / cpu.stat"
	ReadDockerStats = "Docker stats API (memstat): memory usage − inactive file cache; CPU cpu_stats.cpu_usage.total_usage"
)

// setLocality fixes the sampler's locality and, for a remote daemon, drops the cgroup source. Call with s.mu held.
func (s *Sampler) setLocality(loc Locality) {
	s.loc = &loc
	if loc.Local {
		return
	}
	kept := s.sources[:0:0]
	for _, src := range s.sources {
		if src.Name() != SourceCgroup {
			kept = append(kept, src)
		}
	}
	s.sources = kept
}

// Locality is the sampler's locality: Config.Locality, or what the first Add found; false until then.
func (s *Sampler) Locality() (Locality, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loc == nil {
		return Locality{}, false
	}
	return *s.loc, true
}

// detect fixes the locality with container id as the probe, once.
func (s *Sampler) detect(ctx context.Context, id string) {
	s.mu.Lock()
	known := s.loc != nil
	s.mu.Unlock()
	if known || s.cfg.Docker == nil {
		return
	}
	loc := DetectLocality(ctx, s.cfg.Docker, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loc == nil {
		s.setLocality(loc)
	}
}

// Read reads container id now with the fastest source the locality allows — the cgroup files when local, else
// Docker stats — and returns the sample with a description of its source (ReadCgroup or ReadDockerStats). A
// container being sampled gets the reading in its series too. This is what a scenario calls on every sample of
// a short-lived container (Add it for the run, Read it, Remove it when the run ends).
func (s *Sampler) Read(ctx context.Context, id string) (Sample, string, error) {
	s.detect(ctx, id)
	s.mu.Lock()
	var cg, ds Source
	for _, src := range s.sources {
		switch src.Name() {
		case SourceCgroup:
			cg = src
		case SourceDockerStats:
			ds = src
		}
	}
	s.mu.Unlock()
	full := s.fullID(id)
	for _, c := range []struct {
		src  Source
		desc string
	}{{cg, ReadCgroup}, {ds, ReadDockerStats}} {
		if c.src == nil {
			continue
		}
		got, err := c.src.Sample(ctx, []string{full})
		if err != nil || len(got) != 1 {
			continue
		}
		s.mu.Lock()
		s.record(got[0])
		s.mu.Unlock()
		return got[0], c.desc, nil
	}
	return Sample{}, "", fmt.Errorf("memstat: no reading of %s from %v", short(id), s.Recording().Sources)
}

// fullID maps a prefix of an added container to its full id (sources key samples by the id they were asked).
func (s *Sampler) fullID(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, full := range s.order {
		if full == id || (len(id) >= 12 && len(full) > len(id) && full[:len(id)] == id) {
			return full
		}
	}
	return id
}

// StartCAdvisor starts the cAdvisor sidecar from image img (options as RunCAdvisor's; the caller passes the
// labels) and adds it as a source. The sidecar runs on the daemon's host (its binds are that host's paths), so it
// serves a remote daemon too, reached at the mapped port like any container. It never fails the run: when a bind
// source is missing on a local daemon's host or the sidecar does not become ready within CAdvisorReadyTimeout,
// the sampler goes on with the other
// sources, records why in Recording.Note and writes that one line to Config.Log — so the caller need not report it
// again. It returns whether cAdvisor is in use.
func (s *Sampler) StartCAdvisor(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) bool {
	s.mu.Lock()
	running := s.sidecar != nil
	s.mu.Unlock()
	if running {
		return true
	}
	var err error
	if s.cfg.Docker == nil {
		err = errors.New("no docker client")
	} else {
		err = cadvisorPreflight(s.cfg.Docker.DaemonHost(), dockerx.SelfContainer() != "", os.Stat)
	}
	var c *CAdvisorContainer
	if err == nil {
		c, err = RunCAdvisor(ctx, img, opts...)
	}
	if err != nil {
		if c != nil {
			// Remove the half-started sidecar now; a failed removal is for the run's label cleanup.
			_ = testcontainers.TerminateContainer(c, testcontainers.StopTimeout(0))
		}
		s.degrade(err)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sidecar = c
	s.info = &SidecarInfo{Image: img, ID: c.GetContainerID(), URL: c.URL(), ReadyAfter: Duration(c.ReadyAfter)}
	// Ask for enough housekeeping points (1 s apart) to cover a round, plus slack for jitter.
	s.sources = append(s.sources, c.Source(int(s.cfg.Interval/time.Second)+2))
	return true
}

// degrade records the note once and says it once.
func (s *Sampler) degrade(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.note != "" {
		return
	}
	var names []string
	for _, src := range s.sources {
		names = append(names, src.Name())
	}
	s.note = fmt.Sprintf("cAdvisor not used, sampling with %s only: %v", strings.Join(names, ", "), err)
	fmt.Fprintln(s.cfg.Log, "memstat: "+s.note)
}

// Add starts sampling container id (any form the daemon accepts) under role. Adding a removed container again
// resumes its series.
func (s *Sampler) Add(ctx context.Context, id, role string) error {
	full, name := id, ""
	if s.cfg.Docker != nil {
		res, err := s.cfg.Docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("memstat: add %s: %w", id, err)
		}
		full, name = res.Container.ID, trimSlash(res.Container.Name)
		s.detect(ctx, full)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.targets[full]
	if !ok {
		t = &target{id: full, name: name, last: map[string]Sample{}, added: s.cfg.Now()}
		s.targets[full] = t
		s.order = append(s.order, full)
	}
	t.role, t.active = role, true
	return nil
}

// Remove stops sampling container id (full or unique prefix); its series stays in the results.
func (s *Sampler) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for full, t := range s.targets {
		if full == id || (len(id) >= 12 && len(full) > len(id) && full[:len(id)] == id) {
			t.active = false
		}
	}
}

// Start samples every Interval in the background until Stop or ctx ends. It takes a first round at once.
func (s *Sampler) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		tick := time.NewTicker(s.cfg.Interval)
		defer tick.Stop()
		for {
			s.SampleOnce(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// Stop ends sampling and removes the cAdvisor sidecar; it is final. The recording stays available.
func (s *Sampler) Stop(ctx context.Context) error {
	s.mu.Lock()
	stop, done, sidecar := s.stop, s.done, s.sidecar
	s.stop, s.sidecar = nil, nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if sidecar != nil {
		if err := sidecar.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
			return fmt.Errorf("memstat: stop cadvisor: %w", err)
		}
	}
	return nil
}

// SampleOnce takes one round: every source reads every active container, concurrently.
func (s *Sampler) SampleOnce(ctx context.Context) {
	s.mu.Lock()
	srcs := append([]Source(nil), s.sources...)
	var ids []string
	for _, id := range s.order {
		if s.targets[id].active {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	if len(ids) == 0 || len(srcs) == 0 {
		return
	}
	// A round must not outlive the next one by much: a hung source loses its round, not the series.
	rctx, cancel := context.WithTimeout(ctx, max(2*s.cfg.Interval, 3*time.Second))
	defer cancel()
	got := make([][]Sample, len(srcs))
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Go(func() { got[i], errs[i] = src.Sample(rctx, ids) })
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, src := range srcs {
		got[i] = s.dropHistory(src, got[i])
		if errs[i] != nil && ctx.Err() == nil {
			e := s.errs[src.Name()]
			if e == nil {
				e = &SourceErrors{}
				s.errs[src.Name()] = e
			}
			e.Count++
			e.Last = errs[i].Error()
		}
		for _, smp := range got[i] {
			s.record(smp)
		}
	}
}

// dropHistory drops the points of history sources (cAdvisor) read before their container was added — often
// while it was still starting. Such sources only run against a local daemon, so their clock is ours; sources
// that read on request need no filter (and a remote daemon's clock may differ from ours).
func (s *Sampler) dropHistory(src Source, batch []Sample) []Sample {
	if h, ok := src.(Historic); !ok || !h.Historic() {
		return batch
	}
	out := batch[:0:0]
	for _, smp := range batch {
		if t := s.targets[smp.ContainerID]; t != nil && smp.Time.Before(t.added) {
			continue
		}
		out = append(out, smp)
	}
	return out
}

// Memory reads the containers' memory now from the sampler's first source (Docker stats with DefaultSources)
// and returns the sum of memory_bytes with a description of the figure — the shape of the scenarios'
// containerMemory. Readings of containers being sampled also join their series.
func (s *Sampler) Memory(ctx context.Context, ids []string) (float64, string, error) {
	s.mu.Lock()
	if len(s.sources) == 0 {
		s.mu.Unlock()
		return 0, "", errors.New("memstat: no source")
	}
	src := s.sources[0]
	s.mu.Unlock()
	got, err := src.Sample(ctx, ids)
	if err != nil {
		return 0, "", fmt.Errorf("memstat: %w", err)
	}
	sum := 0.0
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, smp := range got {
		sum += float64(smp.MemoryBytes)
		s.record(smp)
	}
	return sum, fmt.Sprintf("%s memory_bytes (usage − inactive_file), summed over %d containers", src.Name(), len(got)), nil
}

// record appends smp to its container's series unless that source already gave this reading.
func (s *Sampler) record(smp Sample) {
	t := s.targets[smp.ContainerID]
	if t == nil {
		return
	}
	if smp.Time.IsZero() {
		smp.Time = s.cfg.Now()
	}
	prev, ok := t.last[smp.Source]
	if ok && !smp.Time.After(prev.Time) {
		return
	}
	if ok && smp.CPUUsageNs >= prev.CPUUsageNs {
		cores := float64(smp.CPUUsageNs-prev.CPUUsageNs) / float64(smp.Time.Sub(prev.Time).Nanoseconds())
		smp.CPUCores = &cores
	}
	if t.name == "" {
		t.name = smp.Name
	}
	t.last[smp.Source] = smp
	smp.ContainerID, smp.Name = "", ""
	t.series = append(t.series, smp)
}

// Recording is the sampler's output, ready for JSON.
type Recording struct {
	// Sources are the sources in use, in the order they were added.
	Sources  []string `json:"sources"`
	Interval Duration `json:"interval"`
	// Note says, once, what the sampler had to do without (cAdvisor).
	Note string `json:"note,omitempty"`
	// Locality says whether the daemon's containers were visible here and why (nil: no container was added);
	// a remote daemon is sampled without the cgroup source.
	Locality *Locality                `json:"locality,omitempty"`
	CAdvisor *SidecarInfo             `json:"cadvisor,omitempty"`
	Errors   map[string]*SourceErrors `json:"errors,omitempty"`
	// Containers are in the order they were added.
	Containers []ContainerResult `json:"containers"`
	// SeriesMax, when not 0, is the most samples per container and source the series keep (Downsampled); the
	// summaries and cross-checks are of every sample.
	SeriesMax int `json:"series_max_per_source,omitempty"`
}

// SidecarInfo describes the cAdvisor sidecar that was used.
type SidecarInfo struct {
	Image      string   `json:"image"`
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	ReadyAfter Duration `json:"ready_after"`
}

// ContainerResult is one container's series and cross-checks.
type ContainerResult struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	// Series holds every source's samples, by time (id and name left out: they are the container's).
	Series []Sample `json:"series"`
	// Summary is per source.
	Summary map[string]Summary `json:"summary"`
	// CrossCheck compares cAdvisor, then the cgroup files, with Docker stats — the pairs that have samples.
	CrossCheck []Comparison `json:"cross_check"`
}

// Summary condenses one source's series of one container.
type Summary struct {
	Samples         int     `json:"samples"`
	MemoryMinBytes  uint64  `json:"memory_min_bytes"`
	MemoryMaxBytes  uint64  `json:"memory_max_bytes"`
	MemoryMeanBytes uint64  `json:"memory_mean_bytes"`
	MemoryLastBytes uint64  `json:"memory_last_bytes"`
	CPUCoresMean    float64 `json:"cpu_cores_mean"`
}

// Of returns the container's samples from source, by time.
func (c ContainerResult) Of(source string) []Sample {
	var out []Sample
	for _, s := range c.Series {
		if s.Source == source {
			out = append(out, s)
		}
	}
	return out
}

// Container returns the result of the container with this id (full or unique prefix of at least 12), or false.
func (r Recording) Container(id string) (ContainerResult, bool) {
	for _, c := range r.Containers {
		if c.ID == id || (len(id) >= 12 && len(c.ID) > len(id) && c.ID[:len(id)] == id) {
			return c, true
		}
	}
	return ContainerResult{}, false
}

// Recording returns what has been sampled so far, cross-checked.
func (s *Sampler) Recording() Recording {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Recording{Interval: Duration(s.cfg.Interval), Note: s.note, Containers: []ContainerResult{}}
	if s.loc != nil {
		l := *s.loc
		r.Locality = &l
	}
	for _, src := range s.sources {
		r.Sources = append(r.Sources, src.Name())
	}
	if s.info != nil {
		i := *s.info
		r.CAdvisor = &i
	}
	if len(s.errs) > 0 {
		r.Errors = map[string]*SourceErrors{}
		for k, v := range s.errs {
			e := *v
			r.Errors[k] = &e
		}
	}
	for _, id := range s.order {
		t := s.targets[id]
		c := ContainerResult{ID: t.id, Name: t.name, Role: t.role, Series: byTime(t.series),
			Summary: map[string]Summary{}, CrossCheck: []Comparison{}}
		for _, src := range r.Sources {
			if sm, ok := summarize(c.Of(src)); ok {
				c.Summary[src] = sm
			}
		}
		ref := c.Of(SourceDockerStats)
		for _, other := range []string{SourceCAdvisor, SourceCgroup} {
			if o := c.Of(other); len(o) > 0 && len(ref) > 0 {
				c.CrossCheck = append(c.CrossCheck, CrossCheck(o, ref, s.cfg.Window, s.cfg.Tolerance,
					uint64(max(s.cfg.MinDiffBytes, 0))))
			}
		}
		r.Containers = append(r.Containers, c)
	}
	return r
}

func summarize(ss []Sample) (Summary, bool) {
	if len(ss) == 0 {
		return Summary{}, false
	}
	sm := Summary{Samples: len(ss), MemoryMinBytes: ss[0].MemoryBytes, MemoryLastBytes: ss[len(ss)-1].MemoryBytes}
	var sum float64
	var cpu float64
	ncpu := 0
	for _, s := range ss {
		sm.MemoryMinBytes = min(sm.MemoryMinBytes, s.MemoryBytes)
		sm.MemoryMaxBytes = max(sm.MemoryMaxBytes, s.MemoryBytes)
		sum += float64(s.MemoryBytes)
		if s.CPUCores != nil {
			cpu += *s.CPUCores
			ncpu++
		}
	}
	sm.MemoryMeanBytes = uint64(sum / float64(len(ss)))
	if ncpu > 0 {
		sm.CPUCoresMean = cpu / float64(ncpu)
	}
	return sm, true
}

// Duration marshals as a Go duration string ("1.5s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

func trimSlash(name string) string {
	if len(name) > 0 && name[0] == '/' {
		return name[1:]
	}
	return name
}
