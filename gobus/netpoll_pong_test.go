package gobus

import "testing"

// TestCountFrames: the pongs dropped from a batch are counted one per frame, whatever their payloads' lengths.
func TestCountFrames(t *testing.T) {
	var b []byte
	for _, n := range []int{0, 5, 125, 1} {
		b = append(b, 0x8A, byte(n))
		b = append(b, make([]byte, n)...)
	}
	if got := countFrames(b); got != 4 {
		t.Errorf("countFrames = %d, want 4", got)
	}
	if got := countFrames(nil); got != 0 {
		t.Errorf("countFrames(nil) = %d", got)
	}
}
