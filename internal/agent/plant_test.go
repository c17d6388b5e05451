package agent

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The planted leak stays reachable: a full collection frees none of it.
func TestPlantLeakIsReachable(t *testing.T) {
	const kib, tasks = 256, 8
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := NewLeak(kib)
	for range tasks {
		l.Task()
	}
	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	want := int64(kib * 1024 * tasks)
	if got := l.Bytes(); got != want {
		t.Fatalf("leak holds %d bytes, want %d", got, want)
	}
	// Other garbage of the test binary may be freed meanwhile: 90 % of the leak is the bar (an unreachable leak
	// would leave ~0).
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew < want*9/10 {
		t.Errorf("live heap grew %d bytes after GC, want >= %d (the leak must survive collection)", grew, want*9/10)
	}
	runtime.KeepAlive(l)
	if NewLeak(0) != nil {
		t.Error("NewLeak(0) should be nil (no leak)")
	}
	var none *Leak
	none.Task() // a nil leak is a no-op
	if none.Bytes() != 0 {
		t.Error("nil leak holds bytes")
	}
}

// A persistent agent leaks once per task answered.
func TestServeWithLeaksPerTask(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	leak := NewLeak(4)
	done := make(chan error, 1)
	go func() { done <- ServeWith(ctx, ln, 1, leak) }()
	c, err := Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		tk := Task{ID: uint64(i), KiB: 1, Seed: uint64(i)}
		r, err := c.Do(ctx, tk)
		if err != nil || Check(tk, r) != nil {
			t.Fatalf("task %d: %v %+v", i, err, r)
		}
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := leak.Bytes(); got != 5*4*1024 {
		t.Errorf("leak after 5 tasks: %d bytes, want %d", got, 5*4*1024)
	}
}

// The planted slow start delays the agent's answer by at least its value; env applies, a flag wins, bad values
// are usage errors.
func TestPlantStartupAndFlags(t *testing.T) {
	run := func(args ...string) (int, time.Duration, string) {
		var out, errb bytes.Buffer
		start := time.Now()
		code := Main(context.Background(), args, strings.NewReader(""), &out, &errb)
		return code, time.Since(start), errb.String()
	}
	if code, d, e := run("once", "--task", `{"id":1,"kib":1}`, "--plant-startup-ms", "80"); code != 0 || d < 80*time.Millisecond {
		t.Errorf("--plant-startup-ms 80: exit %d after %v (%s); want 0 after >= 80ms", code, d, e)
	}
	t.Setenv(EnvPlantStartupMS, "60")
	if code, d, _ := run("once", "--task", `{"id":1,"kib":1}`); code != 0 || d < 60*time.Millisecond {
		t.Errorf("%s=60: exit %d after %v; want >= 60ms", EnvPlantStartupMS, code, d)
	}
	t.Setenv(EnvPlantStartupMS, "")
	for _, args := range [][]string{
		{"once", "--plant-leak-kib", "-1"},
		{"once", "--plant-startup-ms", "999999"},
	} {
		if code, _, e := run(args...); code != 2 || e == "" {
			t.Errorf("%v: exit %d (%q), want 2 with a message", args, code, e)
		}
	}
	t.Setenv(EnvPlantLeakKiB, "x")
	if code, _, e := run("once", "--task", `{"id":1}`); code != 2 || !strings.Contains(e, EnvPlantLeakKiB) {
		t.Errorf("%s=x: exit %d (%q), want 2 naming the variable", EnvPlantLeakKiB, code, e)
	}
}
