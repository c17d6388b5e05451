// Package runtimes names the agent runtimes the lab measures: the Go agent (cmd/agent) and the same agent in
// Node.js (agents/node/agent.js) and Python (agents/python/agent.py), with the host program each needs, how to start
// it as a process, and the image it runs in as a container. Every runtime speaks internal/agent's task protocol:
// `once` and `serve` with the same flags, output and digest.
package runtimes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrMissing is returned when a runtime's host program is not installed.
var ErrMissing = errors.New("runtime not installed")

// Runtime is one language the agent is written in.
type Runtime struct {
	// Name is the runtime's short name: go, node, python.
	Name string
	// Program is the interpreter on the host ("" for go: the agent is a compiled binary); Candidates are tried in
	// order when Program is not on PATH.
	Program    string
	Candidates []string
	// Script is the agent's source, relative to the repository root ("" for go).
	Script string
	// Image is the internal/images spec of the agent's container image.
	Image string
}

// All are the runtimes, in report order.
var All = []Runtime{
	{Name: "go", Image: "agent"},
	{Name: "node", Program: "node", Candidates: []string{"/usr/bin/node", "/usr/local/bin/node"},
		Script: "agents/node/agent.js", Image: "nodeagent"},
	{Name: "python", Program: "python3", Candidates: []string{"/usr/bin/python3", "/usr/local/bin/python3"},
		Script: "agents/python/agent.py", Image: "pyagent"},
}

// ByName returns the runtime called name.
func ByName(name string) (Runtime, bool) {
	for _, r := range All {
		if r.Name == name {
			return r, true
		}
	}
	return Runtime{}, false
}

// Names lists every runtime's name.
func Names() []string {
	out := make([]string, len(All))
	for i, r := range All {
		out[i] = r.Name
	}
	return out
}

// Parse reads a comma-separated runtime list ("go,node"); "" or "all" is every runtime.
func Parse(s string) ([]Runtime, error) {
	if s == "" || s == "all" {
		return append([]Runtime(nil), All...), nil
	}
	var out []Runtime
	seen := map[string]bool{}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		r, ok := ByName(n)
		if !ok {
			return nil, fmt.Errorf("unknown runtime %q (known: %s)", n, strings.Join(Names(), ", "))
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// Interpreter is the absolute path of the runtime's host program: the first Candidate that exists (the system's
// interpreter, which the images are made of, never a version manager's shim that adds its own start-up), else
// Program on PATH; ErrMissing when there is none. The go runtime has none ("", nil).
func (r Runtime) Interpreter() (string, error) {
	if r.Program == "" {
		return "", nil
	}
	for _, c := range r.Candidates {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	if p, err := exec.LookPath(r.Program); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
		return p, nil
	}
	return "", fmt.Errorf("%w: %s needs %s on PATH", ErrMissing, r.Name, r.Program)
}

// Command is the argv that runs the agent as a host process with args (once …, serve …): the interpreter and
// the script under root, or goBin for the go runtime.
func (r Runtime) Command(root, goBin string, args ...string) ([]string, error) {
	if r.Program == "" {
		if goBin == "" {
			return nil, fmt.Errorf("runtime go: no agent binary given")
		}
		return append([]string{goBin}, args...), nil
	}
	ip, err := r.Interpreter()
	if err != nil {
		return nil, err
	}
	return append([]string{ip, filepath.Join(root, r.Script)}, args...), nil
}

// Version is the runtime's version as its program reports it ("node v20.20.2", "python 3.11.2"), or the Go
// toolchain the lab was built with for go.
func (r Runtime) Version(ctx context.Context, goVersion string) (string, error) {
	if r.Program == "" {
		return "go " + strings.TrimPrefix(goVersion, "go"), nil
	}
	ip, err := r.Interpreter()
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, ip, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", ip, err)
	}
	v := strings.TrimSpace(string(out))
	v = strings.TrimPrefix(strings.TrimPrefix(v, "Python "), "python ")
	return r.Name + " " + v, nil
}
