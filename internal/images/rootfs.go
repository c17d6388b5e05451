package images

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// ErrNoRuntime is returned when an image is made of a host runtime (Spec.Runtime) that is not installed here.
var ErrNoRuntime = errors.New("runtime not installed on this host")

// RuntimeFS says how a runtime's root filesystem is taken from this host: its program, the shared libraries and
// ELF interpreter `ldd` lists for every ELF file taken, and the trees it loads at run time. No registry: the image
// is FROM scratch with these files ADDed from one reproducible tar (sorted names, owner 0:0, mtime 0), so its hash
// tag changes only when the host's runtime does.
type RuntimeFS struct {
	Name string
	// Programs are candidate paths of the runtime's program, the first existing one is taken (symlinks resolved;
	// the image holds it at its resolved path and at /usr/bin/<Link>).
	Programs []string
	Link     string
	// Trees are host directories copied whole (symlinks dereferenced), except entries Skip rejects. A tree that
	// does not exist is an error naming the package that provides it.
	Trees []Tree
	// VersionArgs make the program print its version.
	VersionArgs []string
	// KeepPyMtime keeps the modification time of .py files: CPython validates a cached .pyc against its source's
	// mtime, so zeroing it would make every import compile from source at each start.
	KeepPyMtime bool
}

// Tree is one host directory of a RuntimeFS. Path may hold {stem}, the program's resolved base name (python3.11).
type Tree struct {
	Path    string
	Package string // Debian package that provides it, for the error
	Skip    func(rel string, d fs.DirEntry) bool
}

// RuntimeVersionFile is where a runtime image records its runtime's version ("node v20.20.2").
const RuntimeVersionFile = "etc/agentlab-runtime"

// RuntimeLabel is the image label holding the same version.
const RuntimeLabel = "agentlab.runtime"

// Runtimes are the host runtimes images can be made of.
var Runtimes = map[string]RuntimeFS{
	"node": {
		Name:        "node",
		Programs:    []string{"/usr/bin/node", "/usr/local/bin/node"},
		Link:        "node",
		Trees:       []Tree{{Path: "/usr/share/nodejs/ws", Package: "node-ws"}},
		VersionArgs: []string{"--version"},
	},
	"python": {
		Name: "python",
		// Debian's interpreter, never a version manager's shim on PATH.
		Programs: []string{"/usr/bin/python3", "/usr/local/bin/python3"},
		Link:     "python3",
		Trees: []Tree{{Path: "/usr/lib/{stem}", Package: "libpython3-stdlib", Skip: func(rel string, d fs.DirEntry) bool {
			top, _, _ := strings.Cut(rel, "/")
			switch top {
			// Not needed to run an agent: tests, tools, the static library, packaging, GUI and docs.
			case "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "distutils",
				"unittest", "site-packages", "dist-packages", "venv", "sqlite3", "curses", "dbm", "xmlrpc":
				return true
			}
			if strings.HasPrefix(top, "config-") {
				return true
			}
			// One cached bytecode per module: the optimised variants are never loaded without -O.
			return strings.Contains(rel, ".opt-1.pyc") || strings.Contains(rel, ".opt-2.pyc")
		}}},
		VersionArgs: []string{"--version"},
		KeepPyMtime: true,
	},
}

// Program is the runtime's program on this host, its symlinks resolved, or ErrNoRuntime.
func (r RuntimeFS) Program() (string, error) {
	for _, p := range r.Programs {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if fi, err := os.Stat(real); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return real, nil
			}
		}
	}
	return "", fmt.Errorf("%w: %s (looked for %s)", ErrNoRuntime, r.Name, strings.Join(r.Programs, ", "))
}

// Version is the runtime's version as its program prints it, prefixed with its name ("python 3.11.2").
func (r RuntimeFS) Version(ctx context.Context) (string, error) {
	p, err := r.Program()
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, p, r.VersionArgs...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", p, strings.Join(r.VersionArgs, " "), err)
	}
	v := strings.TrimSpace(string(out))
	if i := strings.IndexByte(v, ' '); i >= 0 { // "Python 3.11.2"
		v = v[i+1:]
	}
	return r.Name + " " + v, nil
}

// Rootfs writes the runtime's root filesystem as a reproducible tar: the same host files give the same bytes.
func (r RuntimeFS) Rootfs(ctx context.Context) ([]byte, error) {
	prog, err := r.Program()
	if err != nil {
		return nil, err
	}
	version, err := r.Version(ctx)
	if err != nil {
		return nil, err
	}
	files := map[string]string{} // image path → host file (regular, symlinks resolved)
	files[strings.TrimPrefix(prog, "/")] = prog
	var elves []string
	elves = append(elves, prog)
	stem := filepath.Base(prog)
	for _, t := range r.Trees {
		dir := strings.ReplaceAll(t.Path, "{stem}", stem)
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("%w: %s needs %s (Debian package %s)", ErrNoRuntime, r.Name, dir, t.Package)
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if rel != "." && t.Skip != nil && t.Skip(filepath.ToSlash(rel), d) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // a dangling link: nothing to carry
			}
			fi, err := os.Stat(real)
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			files[strings.TrimPrefix(p, "/")] = real
			if strings.HasSuffix(p, ".so") || strings.Contains(p, ".so.") || fi.Mode()&0o111 != 0 {
				if isELF(real) {
					elves = append(elves, real)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", dir, err)
		}
	}
	libs, err := sharedLibs(ctx, elves)
	if err != nil {
		return nil, err
	}
	for _, l := range libs {
		real, err := filepath.EvalSymlinks(l)
		if err != nil {
			return nil, fmt.Errorf("library %s: %w", l, err)
		}
		files[strings.TrimPrefix(l, "/")] = real
	}
	extra := map[string][]byte{RuntimeVersionFile: []byte(version + "\n")}
	links := map[string]string{}
	if r.Link != "" && "usr/bin/"+r.Link != strings.TrimPrefix(prog, "/") {
		links["usr/bin/"+r.Link] = filepath.Base(prog)
	}
	return r.writeTar(files, extra, links)
}

func isELF(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// sharedLibs is the union of the absolute paths `ldd` prints for files: libraries and the ELF interpreter.
func sharedLibs(ctx context.Context, files []string) ([]string, error) {
	if _, err := exec.LookPath("ldd"); err != nil {
		return nil, fmt.Errorf("ldd not found (Debian package libc-bin): %w", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		out, err := exec.CommandContext(ctx, "ldd", f).Output()
		if err != nil {
			// "not a dynamic executable" (a static file) has nothing to add.
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			for _, w := range strings.Fields(line) {
				if strings.HasPrefix(w, "/") {
					seen[w] = true
				}
			}
			if strings.Contains(line, "not found") {
				return nil, fmt.Errorf("ldd %s: %s", f, strings.TrimSpace(line))
			}
		}
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}

// writeTar writes the files in name order with owner 0:0, fixed modes and mtime 0 (a .py file keeps its own
// when KeepPyMtime), parent folders first: `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner`.
func (r RuntimeFS) writeTar(files map[string]string, extra map[string][]byte, links map[string]string) ([]byte, error) {
	names := make([]string, 0, len(files)+len(extra)+len(links))
	for n := range files {
		names = append(names, n)
	}
	for n := range extra {
		names = append(names, n)
	}
	for n := range links {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	for _, n := range names {
		var parents []string
		for d := filepath.Dir(n); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: parents[i] + "/", Mode: 0o755,
				ModTime: epoch}); err != nil {
				return nil, err
			}
		}
		if target, ok := links[n]; ok {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: n, Linkname: target, Mode: 0o777,
				ModTime: epoch}); err != nil {
				return nil, err
			}
			continue
		}
		data, mode, mtime := extra[n], int64(0o644), epoch
		if host, ok := files[n]; ok {
			b, err := os.ReadFile(host)
			if err != nil {
				return nil, err
			}
			fi, err := os.Stat(host)
			if err != nil {
				return nil, err
			}
			data = b
			if fi.Mode()&0o111 != 0 {
				mode = 0o755
			}
			if r.KeepPyMtime && strings.HasSuffix(n, ".py") {
				mtime = time.Unix(fi.ModTime().Unix(), 0)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: mode, Size: int64(len(data)),
			ModTime: mtime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TarVersion reads a runtime root filesystem's RuntimeVersionFile ("" if it has none).
func TarVersion(rootfs []byte) string {
	tr := tar.NewReader(bytes.NewReader(rootfs))
	for {
		h, err := tr.Next()
		if err != nil {
			return ""
		}
		if h.Name == RuntimeVersionFile {
			var b bytes.Buffer
			if _, err := b.ReadFrom(tr); err != nil {
				return ""
			}
			return strings.TrimSpace(b.String())
		}
	}
}

// runtimeFiles is a Runtime spec's build context: rootfs.tar and its Files, and the runtime's version. From a lab
// image's bundle both come from prebuilt/ (rootfs-<runtime>.tar, <name>.files/).
func (b *Builder) runtimeFiles(ctx context.Context, spec Spec) ([]ctxFile, string, error) {
	rootfs, err := b.runtimeRootfs(ctx, spec.Runtime)
	if err != nil {
		return nil, "", err
	}
	files := []ctxFile{{name: "rootfs.tar", mode: 0o644, data: rootfs}}
	for _, f := range spec.Files {
		p := filepath.Join(b.root, f)
		if b.prebuilt {
			p = filepath.Join(b.root, PrebuiltDir, spec.Name+".files", filepath.Base(f))
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", spec.Name, err)
		}
		files = append(files, ctxFile{name: filepath.Base(f), mode: 0o644, data: data})
	}
	return files, TarVersion(rootfs), nil
}

// runtimeRootfs is runtime rt's root filesystem: made from this host (once per Builder), or the bundle's.
func (b *Builder) runtimeRootfs(ctx context.Context, rt string) ([]byte, error) {
	r, ok := Runtimes[rt]
	if !ok {
		return nil, fmt.Errorf("unknown runtime %q", rt)
	}
	if data, ok := b.rootfs[rt]; ok {
		return data, nil
	}
	var data []byte
	var err error
	if b.prebuilt {
		data, err = os.ReadFile(filepath.Join(b.root, PrebuiltDir, "rootfs-"+rt+".tar"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s is not in this lab image (it was built where %s was missing)", ErrNoRuntime, rt, rt)
		}
	} else {
		// The runtime is the host's program: an image for a daemon of another architecture cannot use it.
		if arch := b.daemonArch(ctx); arch != runtime.GOARCH {
			return nil, fmt.Errorf("%w: the %s image is made of this host's %s (%s), the daemon is %s",
				ErrNoRuntime, rt, rt, runtime.GOARCH, arch)
		}
		fmt.Fprintf(b.log, "taking the %s runtime from this host\n", rt)
		data, err = r.Rootfs(ctx)
	}
	if err != nil {
		return nil, err
	}
	if b.rootfs == nil {
		b.rootfs = map[string][]byte{}
	}
	b.rootfs[rt] = data
	return data, nil
}

// bundleRuntime adds a Runtime spec to the lab image's bundle files: its Dockerfile, its Files under
// prebuilt/<name>.files/ and its runtime's rootfs once as prebuilt/rootfs-<runtime>.tar.
func (b *Builder) bundleRuntime(ctx context.Context, spec Spec, files []ctxFile) ([]ctxFile, error) {
	ctxFiles, _, err := b.runtimeFiles(ctx, spec)
	if err != nil {
		return nil, err
	}
	dockerfile, err := os.ReadFile(filepath.Join(b.root, spec.Dockerfile()))
	if err != nil {
		return nil, err
	}
	files = append(files, ctxFile{name: spec.Dockerfile(), mode: 0o644, data: dockerfile})
	rootName := filepath.Join(PrebuiltDir, "rootfs-"+spec.Runtime+".tar")
	have := false
	for _, f := range files {
		have = have || f.name == rootName
	}
	for _, f := range ctxFiles {
		switch {
		case f.name == "rootfs.tar" && !have:
			files = append(files, ctxFile{name: rootName, mode: 0o644, data: f.data})
		case f.name != "rootfs.tar":
			files = append(files, ctxFile{name: filepath.Join(PrebuiltDir, spec.Name+".files", f.name), mode: 0o644, data: f.data})
		}
	}
	return files, nil
}

// SourcePath is where file f (one of spec name's Files, relative to the repository root) is on this machine: in
// the repository, or in a lab image's bundle (prebuilt/<name>.files/<base>). The host-process patterns run it.
func (b *Builder) SourcePath(name, f string) string {
	if b.prebuilt {
		return filepath.Join(b.root, PrebuiltDir, name+".files", filepath.Base(f))
	}
	return filepath.Join(b.root, f)
}
