package gobus

import (
	"net"
	"net/http"
	"testing"
)

// A connection that sends half a request head and is closed, and one that sends nothing, are counted in
// bus_rejected_connections_total{reason="no_request_head"}; a /health request is not.
func TestNoRequestHeadCounted(t *testing.T) {
	ls := startServer(t, Options{})
	resp, err := http.Get(ls.url("/health"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, b := range []string{"GET /ws HTTP/1.1\r\nHost: x\r\n", ""} {
		c, err := net.Dial("tcp", ls.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(b))
		c.Close()
	}
	waitFor(t, "two connections without a request head to be counted", func() bool {
		return metric(t, ls.Server, "bus_rejected_connections_total", "reason", "no_request_head") == 2
	})
	if n := metric(t, ls.Server, "bus_rejected_connections_total", "reason", "max_connections"); n != 0 {
		t.Errorf("max_connections counted %v", n)
	}
}
