package connmem

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeReader returns the values in turn (the last one for ever), each with a fresh timestamp.
func fakeReader(vals ...float64) Reader {
	var mu sync.Mutex
	i := 0
	t0 := time.Unix(1e9, 0)
	return func(context.Context) (float64, time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		v := vals[min(i, len(vals)-1)]
		i++
		return v, t0.Add(time.Duration(i) * time.Millisecond), nil
	}
}

func TestSettleWaitsForAgreement(t *testing.T) {
	s := Settle{Interval: time.Millisecond, Window: 3, MinSpan: time.Nanosecond, TolBytes: 10, Timeout: 5 * time.Second}.withDefaults()
	// Still rising for four readings, then flat within the tolerance.
	var p Point
	if err := settle(context.Background(), fakeReader(100, 200, 300, 400, 1000, 1005, 1002, 1001), s, &p); err != nil {
		t.Fatal(err)
	}
	if !p.Settled || p.Bytes != 1002 || p.Spread != 5 || p.Readings != 7 {
		t.Errorf("point %+v: want settled at the median 1002 of (1005, 1002, 1001) after 7 readings", p)
	}
}

func TestSettleTimesOut(t *testing.T) {
	s := Settle{Interval: time.Millisecond, Window: 3, MinSpan: time.Nanosecond, TolBytes: 1, TolFrac: 1e-9, Timeout: 30 * time.Millisecond}.withDefaults()
	grow := make([]float64, 1000)
	for i := range grow {
		grow[i] = float64(i * 100)
	}
	var p Point
	if err := settle(context.Background(), fakeReader(grow...), s, &p); err != nil {
		t.Fatal(err)
	}
	if p.Settled || p.Bytes == 0 || p.Spread != 200 {
		t.Errorf("point %+v: want unsettled with the last window's median and spread 200", p)
	}
}

// A fast source must watch for MinSpan (five readings 100 ms apart); a slow one settles after MinReadings.
func TestSettleMinSpan(t *testing.T) {
	s := Settle{Interval: time.Millisecond, Timeout: 5 * time.Second}.withDefaults()
	clocked := func(step time.Duration) Reader {
		var mu sync.Mutex
		at := time.Unix(1e9, 0)
		return func(context.Context) (float64, time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			at = at.Add(step)
			return 1 << 20, at, nil
		}
	}
	for _, tc := range []struct {
		step time.Duration
		want int
	}{{100 * time.Millisecond, 5}, {time.Second, 3}} {
		var p Point
		if err := settle(context.Background(), clocked(tc.step), s, &p); err != nil {
			t.Fatal(err)
		}
		if !p.Settled || p.Readings != tc.want {
			t.Errorf("readings %v apart: %+v, want settled after %d", tc.step, p, tc.want)
		}
	}
}

func TestSettleCountsRepeatedReadingOnce(t *testing.T) {
	s := Settle{Interval: time.Millisecond, Window: 2, TolBytes: 1, Timeout: 50 * time.Millisecond}.withDefaults()
	at := time.Unix(1e9, 0)
	same := func(context.Context) (float64, time.Time, error) { return 7, at, nil } // a cached source
	var p Point
	if err := settle(context.Background(), same, s, &p); err != nil {
		t.Fatal(err)
	}
	if p.Settled || p.Readings != 1 {
		t.Errorf("point %+v: one distinct reading cannot settle a window of 2", p)
	}
}

func TestSettleReadErrors(t *testing.T) {
	s := Settle{Interval: time.Millisecond}.withDefaults()
	boom := errors.New("boom")
	var p Point
	err := settle(context.Background(), func(context.Context) (float64, time.Time, error) { return 0, time.Time{}, boom }, s, &p)
	if !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
}
