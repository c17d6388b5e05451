package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// A conversation is a hash chain. Turn n of conversation c, said by agent from with body b, has
//
//	hash_n = SHA-256(hash_{n-1} ‖ c ‖ n ‖ from ‖ b)   (hex), hash_{-1} = Genesis(c)
//
// so every turn commits to the whole conversation before it. A message carries the trail of the last ring-size
// turns (oldest first, ending with the new turn): its recipient said the oldest of them itself, so it can check
// that the chain it holds continues, link by link, into the turn it got — in a ring of three as well as in a pair.

// Turn is one turn of a conversation.
type Turn struct {
	Conv string `json:"conv"`
	N    int    `json:"n"`
	From string `json:"from"`
	Body string `json:"body"` // what the turn says: the digest of the work its sender did
	Hash string `json:"hash"` // running hash of the conversation up to and including this turn
	// SentNS is when the turn was first sent, Unix ns (a resend keeps it, so latency includes the wait). Not hashed:
	// it is measurement, not context.
	SentNS int64 `json:"sent_ns"`
}

// Genesis is the hash before a conversation's first turn.
func Genesis(conv string) string {
	s := sha256.Sum256([]byte("agentlab-conversation\x00" + conv))
	return hex.EncodeToString(s[:])
}

// Link computes the running hash of turn n from the previous one.
func Link(prev, conv string, n int, from, body string) string {
	h := sha256.New()
	h.Write([]byte(prev))
	var b [8]byte
	for _, s := range []string{conv, from, body} {
		binary.LittleEndian.PutUint64(b[:], uint64(len(s))) // length-prefixed: no two field splits hash alike
		h.Write(b[:])
		h.Write([]byte(s))
	}
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))
}

// NextTurn builds turn n after prev (the previous turn's hash, or Genesis).
func NextTurn(prev, conv string, n int, from, body string) Turn {
	return Turn{Conv: conv, N: n, From: from, Body: body, Hash: Link(prev, conv, n, from, body)}
}

// Verdict is what a receiver concluded about one arriving trail.
type Verdict int

const (
	// OK: the next turn addressed to this agent, chained to what it holds.
	OK Verdict = iota
	// Duplicate: a turn it already got (same hash): a resend or a duplicated delivery.
	Duplicate
	// Reorder: a turn it had counted as missing arrived after a later one.
	Reorder
	// Gap: the turn skipped turns addressed to this agent (they are counted as lost until they arrive).
	Gap
	// Corrupt: the trail does not hash as it claims, or it does not continue the chain this agent holds.
	Corrupt
)

func (v Verdict) String() string {
	switch v {
	case OK:
		return "ok"
	case Duplicate:
		return "duplicate"
	case Reorder:
		return "reorder"
	case Gap:
		return "gap"
	case Corrupt:
		return "corrupt"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// ErrCorrupt describes why a trail was judged Corrupt.
var ErrCorrupt = errors.New("context corrupt")

// Tracker is one agent's view of one conversation: the newest turn it holds (said or heard), the turns it
// received and the ones it is missing. Not safe for concurrent use.
type Tracker struct {
	conv       string
	ring, self int // members in the ring, and this agent's place (member i hears turns n with n%ring == i-1)

	anchorN    int // newest turn held, -1 before any
	anchorHash string
	got        map[int]string // turns received: hash
	missing    map[int]bool   // turns addressed to us that were skipped over
	highest    int            // newest turn received, -1 before any
}

// NewTracker starts tracking conversation conv for member self of a ring of ring members.
func NewTracker(conv string, ring, self int) *Tracker {
	return &Tracker{conv: conv, ring: max(ring, 1), self: self, anchorN: -1, anchorHash: Genesis(conv),
		got: map[int]string{}, missing: map[int]bool{}, highest: -1}
}

// Lost is the number of turns addressed to this agent that were skipped and have not arrived since.
func (t *Tracker) Lost() int { return len(t.missing) }

// Head is the newest turn this agent holds and its hash (-1 and Genesis before any).
func (t *Tracker) Head() (int, string) { return t.anchorN, t.anchorHash }

// addressedToMe reports whether turn n is one this member hears.
func (t *Tracker) addressedToMe(n int) bool {
	return ((n+1)%t.ring+t.ring)%t.ring == t.self%t.ring
}

// Said records a turn this agent sent: it becomes the anchor the next arrival must chain to.
func (t *Tracker) Said(turn Turn) {
	if turn.N > t.anchorN {
		t.anchorN, t.anchorHash = turn.N, turn.Hash
	}
}

// Receive judges an arriving trail (oldest first; the last element is the turn addressed to this agent) and, when
// it is OK, Gap or Reorder, takes its turn into the chain. err explains a Corrupt verdict.
func (t *Tracker) Receive(trail []Turn) (Verdict, error) {
	if len(trail) == 0 {
		return Corrupt, fmt.Errorf("%w: empty trail", ErrCorrupt)
	}
	// 1. The trail hashes as it claims.
	for i, tr := range trail {
		if tr.Conv != t.conv {
			return Corrupt, fmt.Errorf("%w: turn %d names conversation %q, want %q", ErrCorrupt, tr.N, tr.Conv, t.conv)
		}
		if i == 0 {
			continue
		}
		p := trail[i-1]
		if tr.N != p.N+1 {
			return Corrupt, fmt.Errorf("%w: trail jumps from turn %d to %d", ErrCorrupt, p.N, tr.N)
		}
		if tr.Hash != Link(p.Hash, tr.Conv, tr.N, tr.From, tr.Body) {
			return Corrupt, fmt.Errorf("%w: turn %d does not hash from turn %d", ErrCorrupt, tr.N, p.N)
		}
	}
	if trail[0].N == 0 && trail[0].Hash != Link(Genesis(t.conv), t.conv, 0, trail[0].From, trail[0].Body) {
		return Corrupt, fmt.Errorf("%w: turn 0 does not hash from the genesis", ErrCorrupt)
	}
	last := trail[len(trail)-1]
	n := last.N

	// 2. A turn at or below the newest one received: a duplicate, or a late one we had counted missing.
	if n <= t.highest {
		if h, ok := t.got[n]; ok {
			if h != last.Hash {
				return Corrupt, fmt.Errorf("%w: turn %d arrived again with another hash", ErrCorrupt, n)
			}
			return Duplicate, nil
		}
		if t.missing[n] {
			delete(t.missing, n)
			t.got[n] = last.Hash
			return Reorder, nil
		}
		// Below the newest and neither got nor missing: a turn this agent said itself, or not addressed to it.
		if n <= t.anchorN {
			return Duplicate, nil
		}
		return Corrupt, fmt.Errorf("%w: turn %d is not one this agent hears", ErrCorrupt, n)
	}
	// 3. The chain this agent holds must continue into the trail: the trail's copy of our anchor has our hash.
	if t.anchorN >= 0 && n <= t.anchorN {
		return Duplicate, nil // a resend of something we already moved past (e.g. our own turn echoed back)
	}
	for _, tr := range trail {
		if tr.N == t.anchorN && tr.Hash != t.anchorHash {
			return Corrupt, fmt.Errorf("%w: turn %d differs from the one this agent holds", ErrCorrupt, tr.N)
		}
	}
	anchored := t.anchorN >= trail[0].N-1
	if t.anchorN == trail[0].N-1 && t.anchorN >= 0 {
		// Our anchor is just before the trail: the first trail turn must hash from it.
		f := trail[0]
		if f.Hash != Link(t.anchorHash, f.Conv, f.N, f.From, f.Body) {
			return Corrupt, fmt.Errorf("%w: turn %d does not continue turn %d held here", ErrCorrupt, f.N, t.anchorN)
		}
	}
	// 4. Turns addressed to us between the newest we heard and n were skipped. An agent that holds nothing yet (a
	// replacement joining a running conversation) adopts the trail: it cannot know what it was not there for.
	v := OK
	if t.anchorN >= 0 || t.highest >= 0 || trail[0].N == 0 {
		for k := t.highest + 1; k < n; k++ {
			if t.addressedToMe(k) && t.got[k] == "" {
				t.missing[k] = true
				v = Gap
			}
		}
		if !anchored && v == OK {
			v = Gap // the trail does not reach back to what we hold: something between went missing
		}
	}
	t.got[n] = last.Hash
	t.highest = n
	if n > t.anchorN {
		t.anchorN, t.anchorHash = n, last.Hash
	}
	return v, nil
}
