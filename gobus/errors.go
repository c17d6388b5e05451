package gobus

import "errors"

var (
	// ErrInvalidOptions is returned by New when an Options field is out of range.
	ErrInvalidOptions = errors.New("gobus: invalid options")
	// ErrServerClosed is returned by Serve once Shutdown has been called (or Serve's context ended).
	ErrServerClosed = errors.New("gobus: server closed")
)
