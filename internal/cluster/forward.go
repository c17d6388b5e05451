package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Forward makes target (an address that exists only inside node n's network namespace, e.g. a port the swarm
// published in host mode on that node) reachable from this host at the returned 127.0.0.1 address, until ctx
// ends. Each connection is dialled from inside the node's namespace (a socket belongs to the namespace it was
// created in), so nothing is added to any namespace's routes or firewall.
func (c *Cluster) Forward(ctx context.Context, n Node, target string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	ns := filepath.Join("/run/netns", n.Name)
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := dialIn(ns, target)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); closeWrite(out) }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return ln.Addr().String(), nil
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// dialIn dials addr from inside the network namespace at nsPath: on a goroutine locked to its OS thread, which
// enters the namespace, creates and connects the socket, and enters its own namespace again. A thread that could
// not go back stays locked and ends with its goroutine (Go then discards it).
func dialIn(nsPath, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer self.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("enter %s: %w", nsPath, err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if setns(self) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }
