package procmem

import (
	"os"
	"testing"
)

func TestSelf(t *testing.T) {
	rss, err := RSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("RSS = %d, %v", rss, err)
	}
	peak, err := SelfPeak()
	if err != nil || peak < rss {
		t.Fatalf("SelfPeak = %d, %v; want ≥ VmRSS %d", peak, err, rss)
	}
	m, err := Rollup(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// PSS ≤ RSS (shared pages are divided), private ≤ PSS (private pages count in full in both).
	if m.PSS <= 0 || m.PSS > m.RSS || m.Private > m.PSS {
		t.Fatalf("rollup %+v: want 0 < private ≤ pss ≤ rss", m)
	}
	if pss, err := PSS(os.Getpid()); err != nil || pss <= 0 {
		t.Fatalf("PSS = %d, %v", pss, err)
	}
	if _, err := Rollup(1 << 30); err == nil {
		t.Error("no error for a pid that cannot exist")
	}
}
