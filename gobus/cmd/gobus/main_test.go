package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agentlab/agentlab/gobus"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{"BUS_ADDR": ":9000", "BUS_QUEUE_LEN": "32", "BUS_MAX_CONNECTIONS": "7", "BUS_TRANSPORT": "netpoll"}
	getenv := func(k string) string { return env[k] }

	o, err := parseFlags([]string{"--queue-len", "64"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := gobus.Options{Addr: ":9000", MaxMessageBytes: 65536, QueueLen: 64, MaxConnections: 7, Transport: "netpoll"}
	if o != want {
		t.Errorf("got %+v, want %+v (env fallback, flag wins)", o, want)
	}

	o, err = parseFlags(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (gobus.Options{Addr: ":8080", MaxMessageBytes: 65536, QueueLen: 256, MaxConnections: 20000,
		Transport: "gorilla"}); o != want {
		t.Errorf("defaults %+v", o)
	}

	for _, tc := range []struct {
		args []string
		env  map[string]string
		msg  string
	}{
		{[]string{"--queue-len", "x"}, nil, "queue-len"},
		{[]string{"--nope"}, nil, "nope"},
		{[]string{"--max-connections", "0"}, nil, "max-connections"},
		{nil, map[string]string{"BUS_MAX_MESSAGE_BYTES": "big"}, "BUS_MAX_MESSAGE_BYTES"},
		{[]string{"extra"}, nil, "extra"},
	} {
		_, err := parseFlags(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: error %v, want one line mentioning %q", tc.args, tc.env, err, tc.msg)
		}
	}
}

// TestMain lets the test binary stand in for the gobus binary: with GOBUS_TEST_MAIN=1 it runs main with the
// arguments in GOBUS_TEST_ARGS.
func TestMain(m *testing.M) {
	if os.Getenv("GOBUS_TEST_MAIN") == "1" {
		os.Args = append([]string{"gobus"}, strings.Fields(os.Getenv("GOBUS_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runMain(t *testing.T, args string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GOBUS_TEST_MAIN=1", "GOBUS_TEST_ARGS="+args)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewReader(stderr)
}

func TestBadFlagExits2(t *testing.T) {
	for _, arg := range []string{"--queue-len=oops", "--transport=nope"} {
		t.Run(arg, func(t *testing.T) { badFlagExits2(t, arg) })
	}
}

func badFlagExits2(t *testing.T, arg string) {
	cmd, stderr := runMain(t, arg)
	out, _ := io.ReadAll(stderr)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2", err)
	}
	name := strings.TrimPrefix(strings.Split(arg, "=")[0], "--")
	if lines := strings.Count(strings.TrimSpace(string(out)), "\n"); lines != 0 || !strings.Contains(string(out), name) {
		t.Errorf("stderr %q, want one line about %s", out, name)
	}
}

func TestSIGTERMClosesWith1001AndExits0(t *testing.T) {
	cmd, stderr := runMain(t, "--addr=127.0.0.1:0")
	// The listening line carries the port the kernel picked; read it with a deadline so a wrong log format fails
	// the test instead of hanging it (the child is killed by the cleanup).
	addrRE := regexp.MustCompile(`msg="gobus listening" addr=(\S+)`)
	found := make(chan string, 1)
	go func() {
		defer close(found)
		for {
			line, err := stderr.ReadString('\n')
			if m := addrRE.FindStringSubmatch(line); m != nil {
				found <- m[1]
				io.Copy(io.Discard, stderr)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var addr string
	select {
	case addr = <-found:
	case <-time.After(10 * time.Second):
	}
	if addr == "" {
		t.Fatal("no listening line on stderr")
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("read %v, want close 1001", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after SIGTERM")
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

func TestParsePlantFlags(t *testing.T) {
	env := map[string]string{"BUS_PLANT_DELAY_MS": "60", "BUS_PLANT_DROP_EVERY": "100"}
	o, err := parseFlags(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.PlantDelay != 60*time.Millisecond || o.PlantDropEvery != 100 {
		t.Errorf("env: delay %v, drop every %d; want 60ms, 100", o.PlantDelay, o.PlantDropEvery)
	}
	o, err = parseFlags([]string{"--plant-delay-ms", "5", "--plant-drop-every=3"}, func(string) string { return "" }, io.Discard)
	if err != nil || o.PlantDelay != 5*time.Millisecond || o.PlantDropEvery != 3 {
		t.Errorf("flags: %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"--plant-delay-ms", "-1"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("negative --plant-delay-ms accepted")
	}
}
