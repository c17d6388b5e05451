// Command cadvisor is the lab's cAdvisor sidecar: the cAdvisor library (manager + docker provider) behind a small
// HTTP server with the subset of upstream's API the lab reads — /api/v2.1/stats/<name> in the shape
// github.com/google/cadvisor/client/v2 decodes, /metrics (cAdvisor's Prometheus collector) and /healthz.
//
// It is its own module: cAdvisor pulls grpc, containerd, klog and an older moby client that the rest of the lab
// never needs, so they stay out of the main module's build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/cadvisor/lib/cache/memory"
	"github.com/google/cadvisor/lib/container"
	"github.com/google/cadvisor/lib/manager"
	"github.com/google/cadvisor/lib/metrics"
	info "github.com/google/cadvisor/lib/model"
	"github.com/google/cadvisor/lib/utils/sysfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	// Registers the docker container provider.
	_ "github.com/google/cadvisor/container/docker/install"
)

// config holds this command's own flags; cAdvisor's library registers its flags (housekeeping_interval,
// allow_dynamic_housekeeping, docker, docker_only, ...) on flag.CommandLine itself, and klog adds v, logtostderr….
type config struct {
	listenIP        string
	port            int
	storageDuration time.Duration
	metrics         container.MetricSet
}

func main() {
	cfg := config{metrics: container.MetricSet{}}
	flag.StringVar(&cfg.listenIP, "listen_ip", "", "IP to listen on, defaults to all IPs")
	flag.IntVar(&cfg.port, "port", 8080, "port to listen on")
	flag.DurationVar(&cfg.storageDuration, "storage_duration", 2*time.Minute, "how long stats are kept in memory")
	// The lab reads CPU and memory; disk usage would walk container layers, for nothing.
	_ = cfg.metrics.Set("cpu,memory,network")
	flag.Var(&cfg.metrics, "enable_metrics", "comma-separated list of metrics to collect, of: "+container.AllMetrics.String())
	klog.InitFlags(nil)
	// The lab samples containers, not every cgroup of the host.
	_ = flag.Set("docker_only", "true")
	// Housekeep on a steady beat (upstream adds up to +100 % random jitter against thundering herds; the lab has a
	// handful of containers and pairs cAdvisor's points with Docker stats by time).
	_ = flag.Set("jitter_factor", "0")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		klog.Errorf("cadvisor: %v", err)
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

func run(ctx context.Context, cfg config) error {
	m, err := manager.New(memory.New(cfg.storageDuration, nil), sysfs.NewRealSysFs(), manager.HousekeepingConfigFlags,
		// [""] as upstream's strings.Split of an empty flag: the raw factory indexes the whitelist's first entry.
		cfg.metrics, []string{""}, []string{""}, "", 0)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := m.Start(); err != nil {
		return fmt.Errorf("start manager: %w", err)
	}
	defer func() {
		if err := m.Stop(); err != nil {
			klog.Errorf("stop manager: %v", err)
		}
	}()

	srv := &http.Server{
		Addr:              net.JoinHostPort(cfg.listenIP, strconv.Itoa(cfg.port)),
		Handler:           newMux(m, cfg.metrics),
		ReadHeaderTimeout: 5 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	klog.Infof("cadvisor listening on %s (housekeeping %v, metrics %s)", srv.Addr, *manager.HousekeepingInterval,
		cfg.metrics.String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// provider is the part of manager.Manager the HTTP handlers use (a fake in tests).
type provider interface {
	GetRequestedContainersInfo(containerName string, options info.RequestOptions) (map[string]*info.ContainerInfo, error)
	GetVersionInfo() (*info.VersionInfo, error)
	GetMachineInfo() (*info.MachineInfo, error)
}

func newMux(p provider, included container.MetricSet) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /api/v2.1/stats/{name...}", func(w http.ResponseWriter, r *http.Request) {
		serveStats(p, w, r)
	})

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.NewPrometheusCollector(p, nil, included, clock.RealClock{},
			info.RequestOptions{IdType: info.TypeName, Count: 1, Recursive: true}),
		metrics.NewPrometheusMachineCollector(p, included),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

// requestOptions parses the query as upstream's API does: type (name|docker), count (default 64, -1 = all),
// recursive, max_age.
func requestOptions(r *http.Request) (info.RequestOptions, error) {
	q := r.URL.Query()
	opt := info.RequestOptions{IdType: info.TypeName, Count: 64}
	switch t := q.Get("type"); t {
	case "":
	case info.TypeName, info.TypeDocker:
		opt.IdType = t
	default:
		return opt, fmt.Errorf("unknown 'type' %q", t)
	}
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < -1 {
			return opt, fmt.Errorf("invalid 'count' %q", c)
		}
		opt.Count = n
	}
	opt.Recursive = q.Get("recursive") == "true"
	if a := q.Get("max_age"); a != "" {
		d, err := time.ParseDuration(a)
		if err != nil {
			return opt, fmt.Errorf("invalid 'max_age' %q: %w", a, err)
		}
		opt.MaxAge = &d
	}
	return opt, nil
}

func containerName(r *http.Request) string {
	return "/" + strings.Trim(r.PathValue("name"), "/")
}
