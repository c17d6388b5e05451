package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Serve answers tasks on ln until ctx ends: one JSON task per line in, one JSON result per line out, any number of
// tasks per connection. defKiB is the size of tasks that name none.
func Serve(ctx context.Context, ln net.Listener, defKiB int) error {
	return ServeWith(ctx, ln, defKiB, nil)
}

// ServeWith is Serve with a planted leak per task (calibration only; nil: none).
func ServeWith(ctx context.Context, ln net.Listener, defKiB int, leak *Leak) error {
	var wg sync.WaitGroup
	conns := map[net.Conn]struct{}{}
	var mu sync.Mutex
	go func() {
		<-ctx.Done()
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveConn(c, defKiB, leak)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		}()
	}
}

func serveConn(c net.Conn, defKiB int, leak *Leak) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	enc := json.NewEncoder(w)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		var res Result
		if t, err := ParseTask(line, defKiB); err != nil {
			res = Result{ID: t.ID, Error: err.Error()}
		} else {
			res = Do(t)
			leak.Task()
		}
		if enc.Encode(res) != nil || w.Flush() != nil {
			return
		}
	}
}

// Client talks to one persistent agent over one connection; it is not safe for concurrent use.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

// Dial connects to a persistent agent.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return &Client{conn: c, r: bufio.NewReader(c)}, nil
}

// Do sends t and waits for its result, bounded by ctx.
func (c *Client) Do(ctx context.Context, t Task) (Result, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(time.Minute)
	}
	c.conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()
	c.buf = c.buf[:0]
	c.buf, _ = appendTask(c.buf, t)
	if _, err := c.conn.Write(c.buf); err != nil {
		return Result{}, ctxErr(ctx, err)
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return Result{}, ctxErr(ctx, err)
	}
	var res Result
	if err := json.Unmarshal(line, &res); err != nil {
		return Result{}, fmt.Errorf("reply: %w", err)
	}
	return res, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func appendTask(b []byte, t Task) ([]byte, error) {
	j, err := json.Marshal(t)
	return append(append(b, j...), '\n'), err
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}
