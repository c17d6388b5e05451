package wsclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestFrameBuilders(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{string(RegisterFrame("a-7")), `{"type":"register","id":"a-7"}`},
		{string(RegisterFrame("a", "p", "c")), `{"type":"register","id":"a","groups":["p","c"]}`},
		{string(SendFrame("b", Msg{Seq: Seq(41), TS: TS(1732556000123456789), Payload: []byte(`{ "t" : "<hi>" }`)})),
			`{"type":"send","to":"b","seq":41,"ts":1732556000123456789,"payload":{ "t" : "<hi>" }}`},
		{string(BroadcastFrame(Msg{})), `{"type":"broadcast"}`},
		{string(GroupFrame("g\"x", Msg{Payload: []byte(`null`)})), `{"type":"group","group":"g\"x","payload":null}`},
		{string(PingFrame(Seq(0), nil)), `{"type":"ping","seq":0}`},
	} {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

func TestParseFrame(t *testing.T) {
	f, err := ParseFrame([]byte(`{"type":"msg","mode":"direct","from":"a","seq":18446744073709551615,"ts":-3,"payload":{"x":[1, 2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != "msg" || f.Mode != "direct" || f.From != "a" || f.Has("to") {
		t.Errorf("decoded %+v", f)
	}
	if s, ok := f.Seq(); !ok || s != 18446744073709551615 {
		t.Errorf("seq %d %v", s, ok)
	}
	if ts, ok := f.TS(); !ok || ts != -3 {
		t.Errorf("ts %d %v", ts, ok)
	}
	if string(f.Payload()) != `{"x":[1, 2]}` {
		t.Errorf("payload not raw: %s", f.Payload())
	}
	for _, bad := range []string{`[1]`, `null`, `x`} {
		if _, err := ParseFrame([]byte(bad)); err == nil {
			t.Errorf("ParseFrame(%s): want error", bad)
		}
	}
}

// TestConnAgainstEchoServer drives a Conn against a server that answers each text message with a pong echoing it
// as payload, answers "big" with close 1009, and sends control pongs for pings (gorilla's default).
func TestConnAgainstEchoServer(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if string(data) == "big" {
				ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1009, ""), time.Now().Add(time.Second))
				continue
			}
			f, err := ParseFrame(data)
			if err != nil {
				return
			}
			reply := `{"type":"pong"`
			if s, ok := f.Fields["seq"]; ok {
				reply += `,"seq":` + string(s)
			}
			if f.Type == "register" {
				reply = `{"type":"registered","id":` + string(f.Fields["id"])
			}
			ws.WriteMessage(websocket.TextMessage, []byte(reply+"}"))
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	c, err := Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(ctx, "me"); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx, Seq(3), nil); err != nil {
		t.Fatal(err)
	}
	before, err := c.Barrier(ctx)
	if err != nil || len(before) != 1 || before[0].Type != "pong" {
		t.Fatalf("barrier: %v %v", before, err)
	}
	if err := c.ControlPing(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	if _, err := c.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a quiet conn: %v", err)
	}
	cancelShort()
	// The timed-out Next left the connection usable.
	if err := c.WriteText(ctx, []byte("big")); err != nil {
		t.Fatal(err)
	}
	code, err := c.ExpectClose(ctx)
	if err != nil || code != 1009 {
		t.Fatalf("ExpectClose: %d %v", code, err)
	}

	// A refused upgrade is a HandshakeError with the status.
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "full", http.StatusServiceUnavailable)
	}))
	defer refuse.Close()
	_, err = Dial(ctx, "ws"+strings.TrimPrefix(refuse.URL, "http"))
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("refused dial: %v", err)
	}
}
