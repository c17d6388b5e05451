package conformance

import (
	"context"
	"fmt"
	"sync"

	"github.com/agentlab/agentlab/internal/conformance/wsclient"
)

func orderingCases() []Case {
	return []Case{
		{Name: "ordering/per-pair-fifo", Run: testPerPairFIFO},
		{Name: "concurrency/1000-connections", Run: testThousandConnections},
	}
}

// testPerPairFIFO: 1,000 messages from A to B, cycling through direct, broadcast and group (B is the group's only
// member), arrive in the order A sent them. A keeps at most 128 messages in flight (a credit per message B has
// read) so B's queue (256 by default) can never overflow: a drop would be a slow-consumer drop, not a reorder.
func testPerPairFIFO(t T, e *Env) {
	const n, window = 1000, 128
	group := e.ID("fifo")
	a, b := e.Agent(t, "a"), e.Agent(t, "b", group)
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sendErr := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			select {
			case <-credits:
			case <-ctx.Done():
				sendErr <- ctx.Err()
				return
			}
			m := wsclient.Msg{Seq: seqPtr(uint64(i)), Payload: rawJSON(fmt.Sprintf(`{"i":%d}`, i))}
			var err error
			switch i % 3 {
			case 0:
				err = a.Send(ctx, b.ID, m)
			case 1:
				err = a.Broadcast(ctx, m)
			case 2:
				err = a.Group(ctx, group, m)
			}
			if err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	modes := [3]string{"direct", "broadcast", "group"}
	for i := 1; i <= n; i++ {
		f := next(t, b)
		s, _ := f.Seq()
		if f.Type != "msg" || f.From != a.ID || s != uint64(i) || f.Mode != modes[i%3] {
			t.Fatalf("message %d: want msg %s from %s seq %d, got %s", i, modes[i%3], a.ID, i, f)
		}
		credits <- struct{}{}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	quiet(t, a)
}

// testThousandConnections: 1,000 concurrent connections all register, and one broadcast reaches the 999 others.
func testThousandConnections(t T, e *Env) {
	const n, workers = 1000, 32
	d := &wsclient.Dialer{}
	agents := make([]*Agent, n)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	idx := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range idx {
				ctx, cancel := contextFor(t)
				c, err := d.Dial(ctx, e.Bus.WSURL())
				if err == nil {
					id := e.ID("many")
					if err = c.Register(ctx, id); err == nil {
						agents[i] = &Agent{Conn: c, ID: id}
					} else {
						_ = c.Abort()
					}
				}
				cancel()
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("connection %d: %w", i, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	t.Cleanup(func() {
		for _, a := range agents {
			if a != nil {
				_ = a.Abort()
			}
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d of %d connections failed; first: %v", len(errs), n, errs[0])
	}
	if h := getHealth(t, e.Bus); *h.Connections < n {
		t.Errorf("/health reports %d connections with %d open", *h.Connections, n)
	}

	src := agents[0]
	write(t, src, wsclient.BroadcastFrame(wsclient.Msg{Seq: seqPtr(1), Payload: rawJSON(`"all"`)}))
	var missing []string
	idx = make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range idx {
				ctx, cancel := contextFor(t)
				f, err := agents[i].Next(ctx)
				cancel()
				s, _ := f.Seq()
				if err != nil || f.Type != "msg" || f.Mode != "broadcast" || f.From != src.ID || s != 1 {
					mu.Lock()
					missing = append(missing, fmt.Sprintf("%s: %s %v", agents[i].ID, f, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := 1; i < n; i++ {
		idx <- i
	}
	close(idx)
	wg.Wait()
	if len(missing) > 0 {
		t.Fatalf("%d of %d agents did not get the broadcast; first: %s", len(missing), n-1, missing[0])
	}
	quiet(t, src)
}
