package loadgen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// echoServer answers every text message with the same text; "frag:" messages come back in three fragments with a
// ping between them, so the client's reassembly and pong paths run.
func echoServer(t *testing.T) *url.URL {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/full" {
			http.Error(w, "at max_connections", http.StatusServiceUnavailable)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if s, ok := strings.CutPrefix(string(b), "frag:"); ok {
				// Raw server frames: text (not final), a ping between fragments, continuation, final continuation.
				raw := []byte{0x01, 3}
				raw = append(raw, s[:3]...)
				raw = append(raw, 0x89, 1, 'p', 0x00, 3)
				raw = append(raw, s[3:6]...)
				raw = append(raw, 0x80, byte(len(s)-6))
				raw = append(raw, s[6:]...)
				if _, err := c.UnderlyingConn().Write(raw); err != nil {
					return
				}
				continue
			}
			if err := c.WriteMessage(mt, b); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(strings.Replace(srv.URL, "http://", "ws://", 1) + "/ws")
	return u
}

func TestWSRoundTrip(t *testing.T) {
	u := echoServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWS(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.nc.Close()
	// Short, 16-bit and 64-bit length headers, all in one write.
	msgs := [][]byte{[]byte(`{"type":"ping"}`), []byte(strings.Repeat("a", 300)), []byte(strings.Repeat("b", 70000))}
	if err := c.writeMessages(msgs...); err != nil {
		t.Fatal(err)
	}
	for _, want := range msgs {
		got, err := c.readMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("echo of %d bytes came back as %d bytes", len(want), len(got))
		}
	}
	if err := c.writeMessages([]byte("frag:hello fragmented world")); err != nil {
		t.Fatal(err)
	}
	got, err := c.readMessage()
	if err != nil || string(got) != "hello fragmented world" {
		t.Fatalf("fragmented message: %q, %v", got, err)
	}
	c.closeGracefully()
}

func TestWSHandshakeRefused(t *testing.T) {
	u := echoServer(t)
	u.Path = "/full"
	_, err := dialWS(context.Background(), u)
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want a HandshakeError with 503", err)
	}
}

func TestMaskBytes(t *testing.T) {
	b := []byte("the quick brown fox jumps over the lazy dog")
	orig := string(b)
	k := [4]byte{1, 2, 3, 250}
	maskBytes(b, k)
	for i := range b {
		if b[i] != orig[i]^k[i%4] {
			t.Fatalf("byte %d masked wrong", i)
		}
	}
	maskBytes(b, k)
	if string(b) != orig {
		t.Fatal("masking twice is not the identity")
	}
}
