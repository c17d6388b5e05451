package gobus

import (
	"sync"
	"unicode/utf8"
)

// maxIDBytes bounds agent ids and group names (docs/protocol.md, register).
const maxIDBytes = 128

// hub is the routing table. Registration changes take mu for writing; routing takes it for reading, so messages
// from different senders route in parallel.
type hub struct {
	mu     sync.RWMutex
	agents map[string]*conn
	all    []*conn // registered connections, any order (broadcast targets)
	groups map[string]*group
}

// group is one round-robin group. members is in registration order and changes only under hub.mu held for
// writing; cursor moves under mu while hub.mu is held for reading.
type group struct {
	name     string
	nameJSON []byte
	mu       sync.Mutex
	members  []*conn
	cursor   int
}

func newHub() hub {
	return hub{agents: map[string]*conn{}, groups: map[string]*group{}}
}

// register gives c the id and group memberships; false when another connection holds id (first wins).
func (h *hub) register(c *conn, id string, groups []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, taken := h.agents[id]; taken {
		return false
	}
	c.id = id
	c.idJSON = appendJSONString(nil, []byte(id))
	h.agents[id] = c
	c.regIdx = len(h.all)
	h.all = append(h.all, c)
	for _, name := range groups {
		g := h.groups[name]
		if g == nil {
			g = &group{name: name, nameJSON: appendJSONString(nil, []byte(name))}
			h.groups[name] = g
		}
		g.members = append(g.members, c)
		c.groups = append(c.groups, g)
	}
	return true
}

// unregister releases c's id and memberships at once; false when c was not registered.
func (h *hub) unregister(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.id == "" {
		return false
	}
	delete(h.agents, c.id)
	last := len(h.all) - 1
	h.all[c.regIdx] = h.all[last]
	h.all[c.regIdx].regIdx = c.regIdx
	h.all[last] = nil
	h.all = h.all[:last]
	for _, g := range c.groups {
		for j, m := range g.members {
			if m != c {
				continue
			}
			n := len(g.members)
			copy(g.members[j:], g.members[j+1:])
			g.members[n-1] = nil
			g.members = g.members[:n-1]
			// Keep the cursor on the member it pointed at.
			if j < g.cursor {
				g.cursor--
			}
			if g.cursor >= len(g.members) {
				g.cursor = 0
			}
			break
		}
		if len(g.members) == 0 {
			delete(h.groups, g.name)
		}
	}
	c.groups = nil
	c.id, c.idJSON = "", nil
	return true
}

// unregister releases c's id and groups, if any.
func (s *Server) unregister(c *conn) {
	if s.hub.unregister(c) {
		s.m.registered.Dec()
	}
}

// next picks the group member after the cursor that is not sender, or nil.
func (g *group) next(sender *conn) *conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.members)
	for k := 0; k < n; k++ {
		idx := (g.cursor + k) % n
		if m := g.members[idx]; m != sender {
			g.cursor = (idx + 1) % n
			return m
		}
	}
	return nil
}

// handleFrame handles one text frame from c. data is only borrowed: everything routed is copied into frames.
func (s *Server) handleFrame(c *conn, data []byte) {
	s.m.bytesIn.Add(float64(len(data)))
	var env envelope
	if !utf8.Valid(data) {
		s.malformed(c, nil, "frame is not valid UTF-8")
		return
	}
	if !parseEnvelope(data, &env) {
		s.malformed(c, nil, "frame is not one JSON object")
		return
	}
	if !seqOK(env.seq) {
		s.malformed(c, nil, "seq must be an integer >= 0")
		return
	}
	if !tsOK(env.ts) {
		s.malformed(c, env.seq, "ts must be an integer (Unix nanoseconds)")
		return
	}
	t := env.msgType()
	switch t {
	case typeInvalid:
		s.malformed(c, env.seq, `type must be one of "register", "send", "broadcast", "group", "ping"`)
	case typePing:
		s.m.messagesIn[typePing].Inc()
		f := s.frames.get()
		f.b = append(f.b, `{"type":"pong"`...)
		f.b = appendCarried(f.b, &env, false)
		s.push(c, f, outPong)
	case typeRegister:
		s.handleRegister(c, &env)
	default:
		if c.id == "" {
			s.m.messagesIn[t].Inc()
			s.sendError(c, codeNotRegistered, env.seq, "register first", nil)
			return
		}
		switch t {
		case typeSend:
			s.handleSend(c, &env)
		case typeBroadcast:
			s.handleBroadcast(c, &env)
		case typeGroup:
			s.handleGroup(c, &env)
		}
	}
}

// validName reports whether f is a non-empty string of at most maxIDBytes decoded bytes.
func validName(f strField) bool {
	if !f.isString() {
		return false
	}
	if !f.escaped {
		n := len(f.raw) - 2
		return n > 0 && n <= maxIDBytes
	}
	n := len(f.value())
	return n > 0 && n <= maxIDBytes
}

func (s *Server) handleRegister(c *conn, env *envelope) {
	if !validName(env.id) {
		s.malformed(c, env.seq, "register needs id: a non-empty string of at most 128 bytes")
		return
	}
	var groups []string
	if env.groups != nil {
		ok := forEachString(env.groups, func(f strField) bool {
			if !validName(f) {
				return false
			}
			name := string(f.value())
			for _, g := range groups {
				if g == name {
					return true // a repeated group is one membership
				}
			}
			groups = append(groups, name)
			return true
		})
		if !ok {
			s.malformed(c, env.seq, "groups must be an array of non-empty strings of at most 128 bytes")
			return
		}
	}
	s.m.messagesIn[typeRegister].Inc()
	if c.id != "" {
		s.sendError(c, codeAlreadyRegistered, env.seq, "this connection is already registered as ", c.idJSON)
		return
	}
	id := string(env.id.value())
	if !s.hub.register(c, id, groups) {
		s.sendError(c, codeDuplicateID, env.seq, "another connection holds id ", env.id.raw)
		return
	}
	s.m.registered.Inc()
	f := s.frames.get()
	f.b = append(f.b, `{"type":"registered","id":`...)
	f.b = append(f.b, c.idJSON...)
	f.b = append(f.b, '}')
	s.push(c, f, outRegistered)
}

func (s *Server) handleSend(c *conn, env *envelope) {
	if !env.to.isString() {
		s.malformed(c, env.seq, "send needs to: a string")
		return
	}
	s.m.messagesIn[typeSend].Inc()
	to := env.to.value()
	// The frame is built before the lookup, outside the lock; "to" is the sender's own (valid JSON) spelling.
	toJSON := env.to.raw
	if env.to.escaped {
		toJSON = appendJSONString(nil, to)
	}
	f := s.frames.get()
	f.b = appendMsg(f.b, modeDirect, c.idJSON, toJSON, nil, env)
	s.hub.mu.RLock()
	target := s.hub.agents[string(to)]
	if target != nil && s.push(target, f, outMsg) {
		s.m.deliveries[modeDirect].Inc()
	}
	s.hub.mu.RUnlock()
	if target == nil {
		s.frames.release(f)
		s.sendError(c, codeUnknownTarget, env.seq, "no agent with id ", env.to.raw)
	}
}

func (s *Server) handleBroadcast(c *conn, env *envelope) {
	s.m.messagesIn[typeBroadcast].Inc()
	f := s.frames.get()
	f.b = appendMsg(f.b, modeBroadcast, c.idJSON, nil, nil, env)
	size := len(f.b)
	queued := 0
	s.hub.mu.RLock()
	for _, r := range s.hub.all {
		if r == c {
			continue
		}
		f.refs.Add(1)
		if s.pushMsg(r, f) {
			queued++
		}
	}
	s.hub.mu.RUnlock()
	s.frames.release(f)
	if queued > 0 {
		s.m.messagesOut[outMsg].Add(float64(queued))
		s.m.bytesOut.Add(float64(queued * size))
		s.m.deliveries[modeBroadcast].Add(float64(queued))
	}
}

func (s *Server) handleGroup(c *conn, env *envelope) {
	if !env.group.isString() {
		s.malformed(c, env.seq, "group needs group: a string")
		return
	}
	s.m.messagesIn[typeGroup].Inc()
	s.hub.mu.RLock()
	var target *conn
	g := s.hub.groups[string(env.group.value())]
	if g != nil {
		target = g.next(c)
	}
	if target != nil {
		f := s.frames.get()
		f.b = appendMsg(f.b, modeGroup, c.idJSON, target.idJSON, g.nameJSON, env)
		if s.push(target, f, outMsg) {
			s.m.deliveries[modeGroup].Inc()
		}
	}
	s.hub.mu.RUnlock()
	if target == nil {
		s.sendError(c, codeUnknownGroup, env.seq, "no member other than the sender in group ", env.group.raw)
	}
}

// malformed answers a frame that cannot be handled; it counts as messages_in{type="invalid"}.
func (s *Server) malformed(c *conn, seq []byte, why string) {
	s.m.messagesIn[typeInvalid].Inc()
	s.sendError(c, codeMalformed, seq, why, nil)
}

// sendError queues an error frame to c. The message is why followed by detail, a JSON string literal as the
// client spelled it (nil for none).
func (s *Server) sendError(c *conn, code errCode, seq []byte, why string, detail []byte) {
	s.m.errors[code].Inc()
	f := s.frames.get()
	b := append(f.b, `{"type":"error","code":"`...)
	b = append(b, code.String()...)
	b = append(b, '"')
	if seq != nil {
		b = append(b, `,"seq":`...)
		b = append(b, seq...)
	}
	b = append(b, `,"message":"`...)
	b = appendJSONBody(b, []byte(why))
	if detail != nil {
		// Show the literal itself, quotes included, escaped once more as message text.
		b = appendJSONBody(b, detail)
	}
	f.b = append(b, `"}`...)
	s.push(c, f, outError)
}
