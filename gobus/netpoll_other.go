//go:build !linux

package gobus

import (
	"net/http"
)

const netpollSupported = false

// netpoll is Linux-only; withDefaults refuses TransportNetpoll elsewhere.
type netpoll struct{}

func (*netpoll) stop() {}

func (s *Server) serveNetpoll(w http.ResponseWriter, _ *http.Request) {
	s.open.Add(-1)
	s.m.connections.Dec()
	http.Error(w, "netpoll transport needs Linux", http.StatusInternalServerError)
}
