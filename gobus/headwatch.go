package gobus

import (
	"context"
	"net"
	"net/http"
)

// Connections that never send a request head (docs/protocol.md, "Resource limits"): net/http drops them after
// ReadHeaderTimeout without a word; these hooks count them in bus_rejected_connections_total{reason=
// "no_request_head"}: a connection closed before the handler saw a request on it (timed out, closed by the
// client, or a malformed head answered 400).

type headConnKey struct{}

// headWatchContext (http.Server.ConnContext) puts the connection in its requests' context.
func (s *Server) headWatchContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, headConnKey{}, c)
}

// headWatchState (http.Server.ConnState) remembers new connections and counts those closed with no request seen.
func (s *Server) headWatchState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.noHead.Store(c, struct{}{})
	case http.StateHijacked:
		s.noHead.Delete(c)
	case http.StateClosed:
		if _, ok := s.noHead.LoadAndDelete(c); ok {
			s.m.rejectedHead.Inc()
		}
	}
}

// headArrived is called by the handler: the request's connection sent a valid head.
func (s *Server) headArrived(r *http.Request) {
	if c, ok := r.Context().Value(headConnKey{}).(net.Conn); ok {
		s.noHead.Delete(c)
	}
}
