//go:build !linux

package loadgen

import (
	"errors"
	"time"
)

// Off Linux there is no rx loop: each connection has its reader goroutine (readLoop).

type rxLoop struct{}

func newRx(int) (*rxLoop, error) { return nil, errors.New("no epoll off Linux") }

func (*rxLoop) add(*agent) error { return errors.New("no epoll off Linux") }
func (*rxLoop) close()           {}

func (c *wsConn) detach() error                   { return errors.New("no epoll off Linux") }
func (c *wsConn) writeFD([]byte, time.Time) error { return errors.New("no descriptor") }
func (c *wsConn) shutdownFD()                     {}
func (c *wsConn) closeFD()                        {}
func (c *wsConn) readFD() (int, error)            { return 0, errors.New("no descriptor") }
