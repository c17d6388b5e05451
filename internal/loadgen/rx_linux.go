package loadgen

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The receive side on Linux: one epoll loop reads every agent's socket, instead of a goroutine per connection
// blocked in read. A goroutine per connection costs, per burst of frames, a netpoll wake-up, a scheduling hand-off
// and a read that fails with EAGAIN before it parks again; the loop reads a socket only when epoll says it holds
// data (level-triggered), so a burst costs one read and no scheduling. The epoll descriptor itself is handed to
// Go's netpoller (an epoll fd is readable while its ready list is not empty), so the loop parks like any
// goroutine and never holds a thread in epoll_wait.
//
// A connection enters the loop once its handshake is done (detach): its descriptor is duplicated and the
// net.Conn closed, so Go's netpoller no longer watches it; the loop owns the reads, senders write to the
// descriptor under the connection's write lock.

type rxLoop struct {
	epfd   int
	f      *os.File
	rc     syscall.RawConn
	agents []atomic.Pointer[agent] // by agent number, the epoll event's data
	done   chan struct{}
}

func newRx(agents int) (*rxLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("epoll fd non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "loadgen-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll fd: %w", err)
	}
	r := &rxLoop{epfd: epfd, f: f, rc: rc, agents: make([]atomic.Pointer[agent], agents), done: make(chan struct{})}
	go r.run()
	return r, nil
}

// add hands agent a's connection (already detached) to the loop; a.g.readers counts it until it is removed.
func (r *rxLoop) add(a *agent) error {
	r.agents[a.num].Store(a)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(a.num)}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, a.c.fd, &ev); err != nil {
		r.agents[a.num].Store(nil)
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

// close stops the loop (every connection must have been removed).
func (r *rxLoop) close() {
	r.f.Close()
	<-r.done
}

func (r *rxLoop) run() {
	defer close(r.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		err := r.rc.Read(func(fd uintptr) bool {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if n <= 0 || err != nil {
				return false // nothing ready: park until the epoll fd is readable
			}
			for _, ev := range events[:n] {
				a := r.agents[ev.Fd].Load()
				if a == nil {
					continue
				}
				if !a.onReadable() {
					_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, a.c.fd, nil)
					r.agents[ev.Fd].Store(nil)
					a.c.closeFD()
					a.g.readers.Done()
				}
			}
			return true
		})
		if err != nil {
			return // the epoll fd was closed
		}
	}
}

// detach takes the connection's descriptor out of its net.Conn (bytes the handshake's reader already buffered
// are kept as input) so the rx loop can own it.
func (c *wsConn) detach() error {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return errors.New("connection has no descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	dfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { dfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return err
	}
	if derr != nil {
		return fmt.Errorf("dup: %w", derr)
	}
	in := make([]byte, 0, readBufSize)
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		in = append(in, b...)
	}
	c.nc.Close() // the duplicate keeps the socket open; Go's netpoller forgets it
	c.nc, c.br, c.fd, c.in, c.inOff = nil, nil, dfd, in, 0
	return nil
}

// writeFD writes all of b to the descriptor, waiting for room when the socket's send buffer is full; after
// deadline (zero: none) it gives up. The caller holds wmu.
func (c *wsConn) writeFD(b []byte, deadline time.Time) error {
	for len(b) > 0 {
		if c.fdClosed {
			return net.ErrClosed
		}
		n, err := syscall.Write(c.fd, b)
		if n > 0 {
			b = b[n:]
			continue
		}
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			wait := 100 // ms; rechecks the deadline and the descriptor's state
			if !deadline.IsZero() {
				left := time.Until(deadline)
				if left <= 0 {
					return os.ErrDeadlineExceeded
				}
				wait = min(wait, int(left/time.Millisecond)+1)
			}
			pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
			if _, err := unix.Poll(pfd, wait); err != nil && err != unix.EINTR {
				return fmt.Errorf("poll: %w", err)
			}
		default:
			return err
		}
	}
	return nil
}

// shutdownFD ends both directions of the socket: the rx loop reads EOF and closes the descriptor; a writer
// blocked on it fails.
func (c *wsConn) shutdownFD() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.fdClosed {
		_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	}
}

// closeFD closes the descriptor once no write holds it (the rx loop calls it after removing the connection). It
// waits in a goroutine of its own: a sender blocked on a full socket must not stall the loop that reads every other.
func (c *wsConn) closeFD() {
	go func() {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if !c.fdClosed {
			c.fdClosed = true
			syscall.Close(c.fd)
		}
	}()
}

// readFD reads what the socket holds into c.in; n == 0 with a nil error is end of stream.
func (c *wsConn) readFD() (int, error) {
	if len(c.in) == cap(c.in) {
		if c.inOff > 0 {
			k := copy(c.in, c.in[c.inOff:])
			c.in, c.inOff = c.in[:k], 0
		} else {
			if cap(c.in) >= maxFrame+readBufSize {
				return 0, fmt.Errorf("frame over %d bytes", maxFrame)
			}
			nb := make([]byte, len(c.in), 2*cap(c.in))
			copy(nb, c.in)
			c.in = nb
		}
	}
	for {
		n, err := syscall.Read(c.fd, c.in[len(c.in):cap(c.in)])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return -1, nil
		}
		if err != nil {
			return 0, err
		}
		c.in = c.in[:len(c.in)+n]
		return n, nil
	}
}
