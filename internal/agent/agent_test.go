package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestParseTask(t *testing.T) {
	tk, err := ParseTask([]byte(`{"id":7,"seed":3}`), 16)
	if err != nil || tk.KiB != 16 || tk.ID != 7 || tk.Seed != 3 {
		t.Errorf("ParseTask = %+v, %v", tk, err)
	}
	for _, bad := range []string{``, `[]`, `{"kib":-1}`, `{"kib":99999999}`, `{"id":"x"}`} {
		if _, err := ParseTask([]byte(bad), 1); !errors.Is(err, ErrBadTask) {
			t.Errorf("ParseTask(%q) = %v, want ErrBadTask", bad, err)
		}
	}
}

func TestDoIsDeterministicAndChecked(t *testing.T) {
	tk := Task{ID: 1, KiB: 4, Seed: 42}
	r := Do(tk)
	if r.Bytes != 4096 || len(r.SHA256) != 64 || Check(tk, r) != nil {
		t.Fatalf("Do = %+v", r)
	}
	if other := Do(Task{ID: 1, KiB: 4, Seed: 43}); other.SHA256 == r.SHA256 {
		t.Error("different seeds hashed the same data")
	}
	r.SHA256 = strings.Repeat("0", 64)
	if Check(tk, r) == nil {
		t.Error("Check accepted a wrong digest")
	}
}

func FuzzParseTask(f *testing.F) {
	f.Add([]byte(`{"id":1,"kib":64,"seed":9}`))
	f.Add([]byte(`{"kib":-5}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := ParseTask(b, 1)
		if err == nil && (tk.KiB < 0 || tk.KiB > MaxKiB) {
			t.Fatalf("accepted out-of-range task %+v", tk)
		}
	})
}

func TestMainOnce(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"once", "--task", `{"id":5,"kib":2,"seed":1}`}, nil, &out, &errb)
	var r Result
	if code != 0 || json.Unmarshal(out.Bytes(), &r) != nil || Check(Task{ID: 5, KiB: 2, Seed: 1}, r) != nil {
		t.Fatalf("once: code %d out %q err %q", code, out.String(), errb.String())
	}
	code = Main(context.Background(), []string{"once"}, strings.NewReader(`{"id":6,"kib":1}`), &out, &errb)
	if code != 0 {
		t.Errorf("once from stdin: %d %s", code, errb.String())
	}
	for _, args := range [][]string{{}, {"fly"}, {"once", "--kib", "-1"}, {"once", "--task", "{"}} {
		errb.Reset()
		if code := Main(context.Background(), args, strings.NewReader(""), &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%q: code %d, stderr %q; want 2 and a message", args, code, errb.String())
		}
	}
}

func TestServeRoundTrip(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, 8) }()
	c, err := Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 3; i++ {
		tk := Task{ID: i, KiB: 8, Seed: i}
		r, err := c.Do(ctx, Task{ID: i, Seed: i}) // size from the server's default
		if err != nil || Check(tk, r) != nil {
			t.Fatalf("task %d: %+v %v", i, r, err)
		}
	}
	r, err := c.Do(ctx, Task{ID: 9, KiB: -3})
	if err != nil || r.Error == "" {
		t.Errorf("bad task: %+v %v, want an error reply", r, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := c.Do(context.Background(), Task{ID: 10}); err == nil {
		t.Error("connection still answers after shutdown")
	}
}
