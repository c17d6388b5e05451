package gobus

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// frame is one outbound text frame. A broadcast shares one frame between all recipients; refs counts the queues
// (plus the builder) holding it, and the last release returns it to the pool.
type frame struct {
	b    []byte
	refs atomic.Int32
}

// framePool recycles frames so routing a message allocates nothing in the steady state.
type framePool struct {
	pool   sync.Pool
	maxCap int // larger buffers are left to the GC rather than pinned in the pool
}

func newFramePool(maxCap int) *framePool {
	p := &framePool{maxCap: maxCap}
	p.pool.New = func() any { return &frame{b: make([]byte, 0, 512)} }
	return p
}

// get returns an empty frame holding one reference.
func (p *framePool) get() *frame {
	f := p.pool.Get().(*frame)
	f.b = f.b[:0]
	f.refs.Store(1)
	return f
}

func (p *framePool) release(f *frame) {
	if f.refs.Add(-1) != 0 {
		return
	}
	if cap(f.b) > p.maxCap {
		f.b = make([]byte, 0, 512)
	}
	p.pool.Put(f)
}

// readBufPool recycles the buffers client frames are read into; a buffer is held only while one message is
// handled, so idle connections own none.
type readBufPool struct {
	pool   sync.Pool
	maxCap int
}

func newReadBufPool(maxCap int) *readBufPool {
	p := &readBufPool{maxCap: maxCap}
	p.pool.New = func() any { b := make([]byte, 0, 1024); return &b }
	return p
}

func (p *readBufPool) get() *[]byte { return p.pool.Get().(*[]byte) }

func (p *readBufPool) put(b *[]byte) {
	if cap(*b) > p.maxCap {
		return
	}
	*b = (*b)[:0]
	p.pool.Put(b)
}

// bufPool recycles byte buffers (the writers' coalescing buffers): one is held only while a queue is drained.
type bufPool struct {
	pool   sync.Pool
	maxCap int
}

func newBufPool(size, maxCap int) *bufPool {
	p := &bufPool{maxCap: maxCap}
	p.pool.New = func() any { b := make([]byte, 0, size); return &b }
	return p
}

func (p *bufPool) get() *[]byte { return p.pool.Get().(*[]byte) }

func (p *bufPool) put(b *[]byte) {
	if cap(*b) > p.maxCap {
		return
	}
	*b = (*b)[:0]
	p.pool.Put(b)
}

// writeBufPool is gorilla's BufferPool: a connection borrows a write buffer only while it writes a message.
type writeBufPool struct{ pool sync.Pool }

func (p *writeBufPool) Get() any  { return p.pool.Get() }
func (p *writeBufPool) Put(v any) { p.pool.Put(v) }

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendJSONBody(dst, s)
	return append(dst, '"')
}

// appendJSONBody appends s escaped for use inside a JSON string literal.
func appendJSONBody(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// appendCarried appends the optional end-to-end fields seq, ts and payload, byte for byte, then closes the object.
func appendCarried(b []byte, env *envelope, withPayload bool) []byte {
	if env.seq != nil {
		b = append(b, `,"seq":`...)
		b = append(b, env.seq...)
	}
	if env.ts != nil {
		b = append(b, `,"ts":`...)
		b = append(b, env.ts...)
	}
	if withPayload && env.payload != nil {
		b = append(b, `,"payload":`...)
		b = append(b, env.payload...)
	}
	return append(b, '}')
}

// mode is how a msg frame was routed.
type mode uint8

const (
	modeDirect mode = iota
	modeBroadcast
	modeGroup
	numModes
)

var modeNames = [numModes]string{"direct", "broadcast", "group"}

func (m mode) String() string { return modeNames[m] }

// appendMsg builds a msg frame. to and group are JSON string literals (nil when not part of the mode).
func appendMsg(b []byte, m mode, from, to, group []byte, env *envelope) []byte {
	switch m {
	case modeDirect:
		b = append(b, `{"type":"msg","mode":"direct","from":`...)
	case modeBroadcast:
		b = append(b, `{"type":"msg","mode":"broadcast","from":`...)
	case modeGroup:
		b = append(b, `{"type":"msg","mode":"group","from":`...)
	}
	b = append(b, from...)
	if group != nil {
		b = append(b, `,"group":`...)
		b = append(b, group...)
	}
	if to != nil {
		b = append(b, `,"to":`...)
		b = append(b, to...)
	}
	return appendCarried(b, env, true)
}
