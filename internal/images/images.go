// Package images builds the lab's container images with no registry: a static binary compiled on the host, copied
// into a FROM scratch image by the daemon's legacy builder. An image is tagged agentlab/<name>:<hash>, the hash
// covering the Dockerfile and the binary, so unchanged code is never rebuilt, plus the stable alias :latest.
package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/moby/moby/client"
)

// ErrNoCargo is returned when an image needs the Rust toolchain and cargo is not on PATH.
var ErrNoCargo = errors.New("cargo not found on PATH")

// Spec says how to produce one image.
type Spec struct {
	// Name is the short name: the image is agentlab/<Name>.
	Name string
	// GoPackage is the main package to compile with CGO_ENABLED=0 (relative to the repository root), or
	// BuildScript a script (relative to the root) that builds the binary and prints its path as its last line.
	GoPackage   string
	BuildScript string
	// ModuleDir is the directory to run `go build` in, for a main package in a nested module ("" = root).
	ModuleDir string
	// NeedsCargo marks images whose script needs cargo, so a missing toolchain is reported as ErrNoCargo.
	NeedsCargo bool
	// Bundle marks the lab image: its build context also carries every other spec's Dockerfile and binary
	// (images/<name>.Dockerfile, prebuilt/<name>), so a Builder inside it (NewPrebuiltBuilder) makes the other
	// images through the daemon with no toolchain.
	Bundle bool
	// Runtime names a host runtime (Runtimes) the image is made of instead of a compiled binary: its context holds
	// rootfs.tar (the runtime taken from this host, for the Dockerfile to ADD) and Files (paths relative to the
	// root, each under its base name). A host without the runtime gives ErrNoRuntime.
	Runtime string
	Files   []string
}

// Dockerfile is the path of the spec's Dockerfile, relative to the root.
func (s Spec) Dockerfile() string { return filepath.Join("images", s.Name+".Dockerfile") }

// Repo is the image repository, agentlab/<name>.
func (s Spec) Repo() string { return "agentlab/" + s.Name }

// Specs are the lab's images; keys are the names `make images` and Builder.Ensure accept.
var Specs = map[string]Spec{
	"agent":   {Name: "agent", GoPackage: "./cmd/agent"},
	"gobus":   {Name: "gobus", GoPackage: "./gobus/cmd/gobus"},
	"rustbus": {Name: "rustbus", BuildScript: "rust-message-bus/build.sh", NeedsCargo: true},
	// Rust's best design (issue 25): one epoll loop, envelope scanner, one write per drained buffer.
	"rustepoll": {Name: "rustepoll", BuildScript: "rust-bus-epoll/build.sh", NeedsCargo: true},
	"loadgen":   {Name: "loadgen", GoPackage: "./cmd/loadgen"},
	// The reference bus: nats-server embedded (cmd/natsbus).
	"nats": {Name: "nats", GoPackage: "./cmd/natsbus"},
	// ai-streaming: the mock Messages API and the Go stream client (sdk and lean modes).
	"mockllm":      {Name: "mockllm", GoPackage: "./cmd/mockllm"},
	"streamclient": {Name: "streamclient", GoPackage: "./cmd/streamclient"},
	"streamrust":   {Name: "streamrust", BuildScript: "rust-stream-client/build.sh", NeedsCargo: true},
	// cAdvisor is a nested module: its dependency tree (grpc, containerd, klog, k8s utils) stays out of the lab's.
	"cadvisor": {Name: "cadvisor", GoPackage: ".", ModuleDir: "cmd/cadvisor"},
	// The Node.js and Python agents and the Node.js bus (ws): the host's node or python3 with its libraries,
	// FROM scratch (issue 24). nodeagent and nodebus ADD the same rootfs.tar, so the daemon keeps that layer once.
	"nodeagent": {Name: "nodeagent", Runtime: "node", Files: []string{"agents/node/agent.js", "agents/node/converse.js"}},
	"nodebus":   {Name: "nodebus", Runtime: "node", Files: []string{"nodebus/node-message-bus.js"}},
	"pyagent":   {Name: "pyagent", Runtime: "python", Files: []string{"agents/python/agent.py"}},
	// The lab itself, carrying every image above (a new image needs only its line here and its Dockerfile).
	"lab": {Name: "lab", GoPackage: "./lab", Bundle: true},
}

// Names returns the spec names, sorted.
func Names() []string {
	out := make([]string, 0, len(Specs))
	for n := range Specs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Builder builds images once per process and remembers the result.
type Builder struct {
	cli  client.APIClient
	root string
	log  io.Writer

	mu     sync.Mutex
	done   map[string]string // name → image reference (hash tag)
	rootfs map[string][]byte // runtime → its root filesystem tar, once per process
	bins   map[string]string // name@goarch → compiled binary
	binDir string
	arch   string // the daemon's GOARCH, once asked
	// prebuilt: root is a lab image's bundle; binaries come from root/prebuilt, nothing is compiled.
	prebuilt bool
}

// NewBuilder returns a Builder for the repository at root; progress lines go to log.
func NewBuilder(cli client.APIClient, root string, log io.Writer) *Builder {
	if log == nil {
		log = io.Discard
	}
	return &Builder{cli: cli, root: root, log: log, done: map[string]string{}, bins: map[string]string{}}
}

// NewPrebuiltBuilder returns a Builder over a lab image's bundle at dir (see PrebuiltEnv): the same Dockerfiles
// and binaries, hence the same hash tags, as a Builder over the repository at the commit the bundle was built
// from, and no compile step. Images missing from the bundle (the Rust ones when it was built without cargo) are
// reported as ErrNoCargo.
func NewPrebuiltBuilder(cli client.APIClient, dir string, log io.Writer) *Builder {
	b := NewBuilder(cli, dir, log)
	b.prebuilt = true
	return b
}

// Prebuilt reports whether the builder reads a lab image's bundle instead of compiling.
func (b *Builder) Prebuilt() bool { return b.prebuilt }

// Ensure makes sure image name exists for the current source and returns its hash-tagged reference
// (agentlab/<name>:<hash>); agentlab/<name>:latest points at the same image afterwards.
func (b *Builder) Ensure(ctx context.Context, name string) (string, error) {
	spec, ok := Specs[name]
	if !ok {
		return "", fmt.Errorf("unknown image %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ref, ok := b.done[name]; ok {
		return ref, nil
	}
	ref, err := b.build(ctx, spec)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", spec.Repo(), err)
	}
	b.done[name] = ref
	return ref, nil
}

// Binary compiles the static binary of image name for this host (runtime.GOARCH: the file the image gets when the
// daemon has the host's architecture) and returns its path; it lives until Close.
func (b *Builder) Binary(ctx context.Context, name string) (string, error) {
	spec, ok := Specs[name]
	if !ok {
		return "", fmt.Errorf("unknown image %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.binary(ctx, spec, runtime.GOARCH)
}

// Architecture is the GOARCH images are built for: the daemon's (docker info's Architecture, which is uname -m
// of the daemon's machine), else this host's runtime.GOARCH when the daemon does not say or names one Go does
// not know.
func (b *Builder) Architecture(ctx context.Context) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.daemonArch(ctx)
}

func (b *Builder) daemonArch(ctx context.Context) string {
	if b.arch != "" {
		return b.arch
	}
	b.arch = runtime.GOARCH
	if info, err := b.cli.Info(ctx, client.InfoOptions{}); err == nil {
		if a, ok := GOARCH(info.Info.Architecture); ok {
			b.arch = a
		} else if info.Info.Architecture != "" {
			fmt.Fprintf(b.log, "daemon architecture %q unknown: building for %s\n", info.Info.Architecture, b.arch)
		}
	}
	return b.arch
}

// GOARCH maps a machine name as docker info reports it (uname -m; some daemons report Go's name) to Go's.
func GOARCH(machine string) (string, bool) {
	switch machine {
	case "x86_64", "amd64":
		return "amd64", true
	case "aarch64", "arm64":
		return "arm64", true
	case "armv7l", "armv6l", "arm":
		return "arm", true
	case "i386", "i686", "386":
		return "386", true
	case "ppc64le", "s390x", "riscv64", "loong64":
		return machine, true
	}
	return "", false
}

// RustTarget is the Rust target triple rust-message-bus/build.sh builds for GOARCH goarch ("" if unsupported).
func RustTarget(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64-unknown-linux-gnu"
	case "arm64":
		return "aarch64-unknown-linux-gnu"
	case "riscv64":
		return "riscv64gc-unknown-linux-gnu"
	case "ppc64le":
		return "powerpc64le-unknown-linux-gnu"
	case "s390x":
		return "s390x-unknown-linux-gnu"
	}
	return ""
}

func (b *Builder) binary(ctx context.Context, spec Spec, goarch string) (string, error) {
	if spec.Runtime != "" {
		return "", fmt.Errorf("%s is made of the %s runtime, not a binary: run its source with the host's %s",
			spec.Name, spec.Runtime, spec.Runtime)
	}
	if b.prebuilt {
		return b.prebuiltBinary(spec, goarch)
	}
	key := spec.Name + "@" + goarch
	if p, ok := b.bins[key]; ok {
		return p, nil
	}
	if b.binDir == "" {
		d, err := os.MkdirTemp("", "agentlab-bin-")
		if err != nil {
			return "", err
		}
		b.binDir = d
	}
	p, err := b.compile(ctx, spec, b.binDir, goarch)
	if err != nil {
		return "", err
	}
	b.bins[key] = p
	return p, nil
}

// Close removes the compiled binaries.
func (b *Builder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.binDir == "" {
		return nil
	}
	b.bins = map[string]string{}
	err := os.RemoveAll(b.binDir)
	b.binDir = ""
	return err
}

func (b *Builder) build(ctx context.Context, spec Spec) (string, error) {
	if spec.Bundle && b.prebuilt {
		return "", errors.New("a lab image cannot build the lab image: run `make images` where the repository is")
	}
	dockerfile, err := os.ReadFile(filepath.Join(b.root, spec.Dockerfile()))
	if err != nil {
		return "", err
	}
	labels := map[string]string{"agentlab.image": spec.Name}
	if spec.Runtime != "" {
		files, version, err := b.runtimeFiles(ctx, spec)
		if err != nil {
			return "", err
		}
		labels[RuntimeLabel] = version
		return b.buildImage(ctx, spec.Repo(), labels, dockerfile, files...)
	}
	bin, err := b.binary(ctx, spec, b.daemonArch(ctx))
	if err != nil {
		return "", err
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	files := []ctxFile{{name: "bin", mode: 0o755, data: binary}}
	if spec.Bundle {
		more, err := b.bundle(ctx)
		if err != nil {
			return "", err
		}
		files = append(files, more...)
	}
	return b.buildImage(ctx, spec.Repo(), labels, dockerfile, files...)
}

// bundle returns the lab image's payload: every other spec's Dockerfile and binary, for the daemon's
// architecture. An image that needs cargo where there is none is left out with a line (the lab image then runs
// the scenarios without it, as `--skip-rust` does).
func (b *Builder) bundle(ctx context.Context) ([]ctxFile, error) {
	dirs, err := writableDirs()
	if err != nil {
		return nil, err
	}
	files := []ctxFile{{name: "dirs.tar", mode: 0o644, data: dirs}}
	for _, n := range Names() {
		spec := Specs[n]
		if spec.Bundle {
			continue
		}
		if spec.Runtime != "" {
			more, err := b.bundleRuntime(ctx, spec, files)
			if errors.Is(err, ErrNoRuntime) {
				fmt.Fprintf(b.log, "lab image: leaving out %s: %v\n", n, err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("bundle %s: %w", n, err)
			}
			files = more
			continue
		}
		bin, err := b.binary(ctx, spec, b.daemonArch(ctx))
		if errors.Is(err, ErrNoCargo) {
			fmt.Fprintf(b.log, "lab image: leaving out %s: %v\n", n, err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", n, err)
		}
		binary, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		dockerfile, err := os.ReadFile(filepath.Join(b.root, spec.Dockerfile()))
		if err != nil {
			return nil, err
		}
		files = append(files,
			ctxFile{name: spec.Dockerfile(), mode: 0o644, data: dockerfile},
			ctxFile{name: filepath.Join(PrebuiltDir, spec.Name), mode: 0o755, data: binary})
	}
	return files, nil
}

// PrebuiltEnv names, when set, a lab image's bundle directory (the lab image sets it): the lab then builds its
// images from the binaries there (NewPrebuiltBuilder) instead of compiling the repository.
const PrebuiltEnv = "AGENTLAB_PREBUILT"

// PrebuiltDir is the bundle's folder of binaries, beside images/ with the Dockerfiles.
const PrebuiltDir = "prebuilt"

// prebuiltBinary is a bundle's binary for spec. The bundle holds binaries for the architecture the lab binary
// itself was built for: one build, one daemon.
func (b *Builder) prebuiltBinary(spec Spec, goarch string) (string, error) {
	if goarch != runtime.GOARCH {
		return "", fmt.Errorf("this lab image carries %s binaries but the daemon is %s: build the lab image "+
			"against this daemon (make images with DOCKER_HOST pointing at it)", runtime.GOARCH, goarch)
	}
	p := filepath.Join(b.root, PrebuiltDir, spec.Name)
	if _, err := os.Stat(p); err != nil {
		if spec.NeedsCargo {
			return "", fmt.Errorf("%w: %s is not in this lab image (it was built without cargo)", ErrNoCargo, spec.Name)
		}
		return "", fmt.Errorf("%s is not in this lab image: %w", spec.Name, err)
	}
	return p, nil
}

// Locate finds what the lab builds its images from: the bundle named by PrebuiltEnv (prebuilt true), else the
// repository above dir.
func Locate(dir string) (root string, prebuilt bool, err error) {
	if d := os.Getenv(PrebuiltEnv); d != "" {
		if _, err := os.Stat(filepath.Join(d, "images")); err != nil {
			return "", false, fmt.Errorf("%s=%s is not a lab image bundle: %w", PrebuiltEnv, d, err)
		}
		return d, true, nil
	}
	root, err = FindRoot(dir)
	return root, false, err
}

func (b *Builder) compile(ctx context.Context, spec Spec, tmp, goarch string) (string, error) {
	if goarch == runtime.GOARCH {
		fmt.Fprintf(b.log, "compiling %s\n", spec.Name)
	} else {
		fmt.Fprintf(b.log, "compiling %s for %s (the daemon's architecture)\n", spec.Name, goarch)
	}
	if spec.BuildScript != "" {
		if spec.NeedsCargo {
			if _, err := exec.LookPath("cargo"); err != nil {
				return "", ErrNoCargo
			}
		}
		target := RustTarget(goarch)
		if target == "" {
			return "", fmt.Errorf("%s: no Rust target known for GOARCH %s", spec.BuildScript, goarch)
		}
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(b.root, spec.BuildScript))
		cmd.Dir = b.root
		cmd.Env = append(os.Environ(), "RUST_TARGET="+target)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s: %w\n%s", spec.BuildScript, err, tail(errb.String(), 2000))
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		p := strings.TrimSpace(lines[len(lines)-1])
		if !filepath.IsAbs(p) {
			p = filepath.Join(b.root, p)
		}
		return p, nil
	}
	// One directory per architecture: the binary keeps its program name (a process is found by it).
	if err := os.MkdirAll(filepath.Join(tmp, goarch), 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(tmp, goarch, spec.Name)
	dir := b.root
	if spec.ModuleDir != "" {
		dir = filepath.Join(b.root, spec.ModuleDir)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, spec.GoPackage)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", spec.GoPackage, err, tail(string(out), 2000))
	}
	return bin, nil
}

// ctxFile is one file of a build context.
type ctxFile struct {
	name string
	mode int64
	data []byte
}

// tarContext is the build context: the Dockerfile and the files.
func tarContext(dockerfile []byte, files []ctxFile) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	all := append([]ctxFile{{"Dockerfile", 0o644, dockerfile}}, files...)
	for _, f := range all {
		// Parent folders first, so the daemon does not invent their modes.
		for d := filepath.Dir(f.name); d != "."; d = filepath.Dir(d) {
			if dirs[d] {
				break
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}

// writableDirs is a tar of the folders a scratch image's non-root user must write: /tmp (run locks) and /lab (the
// working folder, results when nothing is mounted there), sticky and world-writable like /tmp. `ADD` unpacks a
// local tar keeping the modes; `COPY` of a folder would not (it creates it 0755, root's).
func writableDirs() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"tmp/", "lab/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o1777}); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return buf.Bytes(), err
}

// drainBuild reads the build's JSON message stream and returns the first error it reports.
func drainBuild(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var m struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Error != "" {
			return errors.New(m.Error)
		}
	}
	return sc.Err()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// FindRoot walks up from dir to the directory holding this repository's go.mod.
func FindRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/agentlab/agentlab\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no agentlab go.mod above %s: run the lab from its repository", dir)
		}
	}
}
