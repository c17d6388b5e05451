// Command echobus is a planted non-conforming bus for lab conformance's test: it is healthy (GET /health) and
// upgrades /ws, but only echoes every frame back, so every routing rule breaks.
package main

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/gorilla/websocket"
)

func main() {
	var conns atomic.Int64
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	http.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","connections":%d}`, conns.Load())
	})
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conns.Add(1)
		defer conns.Add(-1)
		defer c.Close()
		for {
			t, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(t, b) != nil {
				return
			}
		}
	})
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Println(err)
	}
}
