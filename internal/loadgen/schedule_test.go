package loadgen

import (
	"testing"
	"time"
)

func TestScheduleIntendedTimes(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	s := Schedule{Start: start, Rate: 1000, Agents: 7, End: start.Add(2 * time.Second)}
	if got := s.Count(); got != 2000 {
		t.Fatalf("Count = %d, want 2000 (1000/s for 2 s)", got)
	}
	// Message j is due at Start + j/Rate, whoever sends it: the whole generator offers an even 1000/s.
	for _, j := range []int64{0, 1, 999, 1000, 1999} {
		want := start.Add(time.Duration(j) * time.Millisecond)
		if got := s.At(j); !got.Equal(want) {
			t.Errorf("At(%d) = %v, want %v", j, got.Sub(start), want.Sub(start))
		}
	}
	// Every message belongs to exactly one agent, and each agent's messages are evenly spaced Agents/Rate apart.
	seen := make([]int, s.Count())
	for a := 0; a < s.Agents; a++ {
		it := s.iter(a)
		var prev time.Time
		for k := 0; ; k++ {
			due, ok := it.due()
			if !ok {
				break
			}
			if s.Agent(it.j) != a {
				t.Fatalf("message %d in agent %d's iteration belongs to agent %d", it.j, a, s.Agent(it.j))
			}
			seen[it.j]++
			if k > 0 {
				if gap := due.Sub(prev); gap != 7*time.Millisecond {
					t.Fatalf("agent %d: gap %v between messages, want 7ms", a, gap)
				}
			}
			prev = due
			it.next()
		}
	}
	for j, n := range seen {
		if n != 1 {
			t.Fatalf("message %d scheduled %d times", j, n)
		}
	}
}

func TestScheduleFractionalRate(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	// 3 messages/s over 1 s: due at 0, 333.3 ms, 666.7 ms; the one at 1 s is the next window's.
	s := Schedule{Start: start, Rate: 3, Agents: 2, End: start.Add(time.Second)}
	if got := s.Count(); got != 3 {
		t.Fatalf("Count = %d, want 3", got)
	}
	if d := s.At(1).Sub(start); d < 333*time.Millisecond || d > 334*time.Millisecond {
		t.Errorf("At(1) = %v, want ~333ms", d)
	}
	if got := (Schedule{Start: start, Rate: 10, Agents: 1, End: start}).Count(); got != 0 {
		t.Errorf("empty window: Count = %d", got)
	}
}
