package agent

import (
	"errors"
	"fmt"
	"testing"
)

// script is a whole conversation of turns turns in a ring of ring members, said in order.
func script(conv string, ring, turns int) []Turn {
	out := make([]Turn, 0, turns)
	prev := Genesis(conv)
	for n := 0; n < turns; n++ {
		t := NextTurn(prev, conv, n, fmt.Sprintf("m%d", n%ring), fmt.Sprintf("body-%d", n))
		out = append(out, t)
		prev = t.Hash
	}
	return out
}

// trailOf is what the sender of turn n sends: the last ring turns, ending with n.
func trailOf(turns []Turn, ring, n int) []Turn {
	return append([]Turn(nil), turns[max(0, n-ring+1):n+1]...)
}

type tally map[Verdict]int

// play delivers the conversation to member self, in the order given by deliver (turn numbers addressed to self,
// possibly mangled by mangle); the member says its own turns as the script reaches them.
func play(t *testing.T, ring, self, turns int, deliver []int, mangle func(n int, tr []Turn) []Turn) (tally, *Tracker) {
	t.Helper()
	sc := script("c1", ring, turns)
	tk := NewTracker("c1", ring, self)
	got := tally{}
	said := 0
	for _, n := range deliver {
		// The member says every one of its turns that comes before n in the script.
		for ; said < n; said++ {
			if said%ring == self {
				tk.Said(sc[said])
			}
		}
		tr := trailOf(sc, ring, n)
		if mangle != nil {
			tr = mangle(n, tr)
		}
		v, err := tk.Receive(tr)
		if (v == Corrupt) != (err != nil) {
			t.Fatalf("turn %d: verdict %v with err %v", n, v, err)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("turn %d: err %v is not ErrCorrupt", n, err)
		}
		got[v]++
	}
	return got, tk
}

// heard lists the turns member self hears in a conversation of turns turns.
func heard(ring, self, turns int) []int {
	var out []int
	for n := 0; n < turns; n++ {
		if (n+1)%ring == self%ring {
			out = append(out, n)
		}
	}
	return out
}

func TestChainClean(t *testing.T) {
	for _, ring := range []int{2, 3} {
		for self := 0; self < ring; self++ {
			d := heard(ring, self, 30)
			got, tk := play(t, ring, self, 30, d, nil)
			if got[OK] != len(d) || len(got) != 1 || tk.Lost() != 0 {
				t.Errorf("ring %d member %d: %v, lost %d; want %d ok", ring, self, got, tk.Lost(), len(d))
			}
		}
	}
}

func TestChainDetects(t *testing.T) {
	for _, ring := range []int{2, 3} {
		d := heard(ring, 0, 30) // member 0 hears ring-1, 2·ring-1, …
		k := 3                  // index into d of the mangled delivery
		cases := []struct {
			name    string
			deliver []int
			mangle  func(n int, tr []Turn) []Turn
			want    tally
			lost    int
		}{
			{"loss", append(append([]int{}, d[:k]...), d[k+1:]...), nil,
				tally{OK: len(d) - 2, Gap: 1}, 1},
			{"duplicate", append(append(append([]int{}, d[:k+1]...), d[k]), d[k+1:]...), nil,
				tally{OK: len(d), Duplicate: 1}, 0},
			{"reorder", append(append(append([]int{}, d[:k]...), d[k+1], d[k]), d[k+2:]...), nil,
				tally{OK: len(d) - 2, Gap: 1, Reorder: 1}, 0},
			{"corrupt body", d, func(n int, tr []Turn) []Turn {
				if n == d[k] {
					tr[len(tr)-1].Body += "x"
				}
				return tr
			}, tally{OK: len(d) - 2, Corrupt: 1, Gap: 1}, 1},
			{"corrupt hash", d, func(n int, tr []Turn) []Turn {
				if n == d[k] {
					tr[len(tr)-1].Hash = Genesis("other")
				}
				return tr
			}, tally{OK: len(d) - 2, Corrupt: 1, Gap: 1}, 1},
			{"diverged context", d, func(n int, tr []Turn) []Turn {
				if n == d[k] { // the trail rewrites the turn member 0 said itself
					tr[0].Hash = Genesis("forged")
					for i := 1; i < len(tr); i++ {
						tr[i].Hash = Link(tr[i-1].Hash, tr[i].Conv, tr[i].N, tr[i].From, tr[i].Body)
					}
				}
				return tr
			}, tally{OK: len(d) - 2, Corrupt: 1, Gap: 1}, 1},
			{"wrong conversation", d, func(n int, tr []Turn) []Turn {
				if n == d[k] {
					tr[len(tr)-1].Conv = "c2"
				}
				return tr
			}, tally{OK: len(d) - 2, Corrupt: 1, Gap: 1}, 1},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("ring=%d/%s", ring, c.name), func(t *testing.T) {
				got, tk := play(t, ring, 0, 30, c.deliver, c.mangle)
				for v, n := range c.want {
					if got[v] != n {
						t.Errorf("%v: got %d, want %d (all: %v)", v, got[v], n, got)
					}
				}
				if tk.Lost() != c.lost {
					t.Errorf("lost %d, want %d", tk.Lost(), c.lost)
				}
			})
		}
	}
}

// A replacement agent joins a running conversation: it adopts the trail and checks from there on.
func TestChainJoin(t *testing.T) {
	sc := script("c1", 2, 20)
	tk := NewTracker("c1", 2, 1)
	if v, err := tk.Receive(trailOf(sc, 2, 10)); v != OK || err != nil {
		t.Fatalf("join: %v %v", v, err)
	}
	tk.Said(sc[11])
	if v, err := tk.Receive(trailOf(sc, 2, 12)); v != OK || err != nil {
		t.Fatalf("after join: %v %v", v, err)
	}
	if n, h := tk.Head(); n != 12 || h != sc[12].Hash {
		t.Fatalf("head %d %s", n, h)
	}
}

func TestLinkSeparatesFields(t *testing.T) {
	if Link("p", "c", 1, "ab", "c") == Link("p", "c", 1, "a", "bc") {
		t.Fatal("field boundaries do not change the hash")
	}
	if Link("p", "c", 1, "a", "b") == Link("p", "c", 2, "a", "b") {
		t.Fatal("turn number does not change the hash")
	}
}
