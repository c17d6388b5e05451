package stats

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func f64(x float64) *float64 { return &x }

func TestMedianCI(t *testing.T) {
	ten := []float64{10, 11, 9, 10, 12, 8, 10, 10, 11, 9}
	for _, c := range []struct {
		name       string
		xs         []float64
		wantN      int
		wantMedian float64
		wantCI     bool
		format     string // substring of Format("%.2f")
	}{
		{"empty", nil, 0, 0, false, "— (n=0)"},
		{"nan only", []float64{math.NaN()}, 0, 0, false, "n=0"},
		{"one", []float64{12.3}, 1, 12.3, false, "12.30 (n=1)"},
		{"three", []float64{12.8, 11.9, 12.3}, 3, 12.3, false, "12.30 (n=3: no CI; range 11.90–12.80)"},
		{"five", []float64{1, 2, 3, 4, 5}, 5, 3, false, "no CI"},
		{"six", []float64{1, 2, 3, 4, 5, 6}, 6, 3.5, true, "3.50 [1.00–6.00]"},
		{"ten", ten, 10, 10, true, "10.00 ["},
		{"nan ignored", append([]float64{math.NaN()}, ten...), 10, 10, true, "10.00 ["},
	} {
		t.Run(c.name, func(t *testing.T) {
			iv := MedianCI(c.xs)
			if iv.N != c.wantN || iv.Estimate != c.wantMedian || iv.HasCI() != c.wantCI {
				t.Fatalf("MedianCI = %+v, want n=%d median=%v ci=%v", iv, c.wantN, c.wantMedian, c.wantCI)
			}
			if got := iv.Format("%.2f"); !strings.Contains(got, c.format) {
				t.Errorf("Format = %q, want it to contain %q", got, c.format)
			}
			if !iv.HasCI() {
				if iv.Confidence != 0 {
					t.Errorf("no interval but confidence %v", iv.Confidence)
				}
				return
			}
			lo, hi := *iv.Low95, *iv.High95
			if lo > iv.Estimate || hi < iv.Estimate || lo < iv.Min || hi > iv.Max || iv.Confidence < Confidence {
				t.Errorf("interval %+v (lo %v hi %v) must contain the median, lie in [min,max] and have confidence ≥ 0.95", iv, lo, hi)
			}
		})
	}
	xs := []float64{3, 1, 2}
	MedianCI(xs)
	if xs[0] != 3 {
		t.Error("MedianCI must not reorder its input")
	}
}

func TestIntervalJSON(t *testing.T) {
	b, err := json.Marshal(MedianCI([]float64{1, 2, 3}))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"estimate":2,"ci95_low":null,"ci95_high":null,"min":1,"max":3,"n":3}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

func TestSide(t *testing.T) {
	iv := Interval{Estimate: 10, Low95: f64(9), High95: f64(11), N: 10}
	for _, c := range []struct {
		iv   Interval
		t    float64
		want Side
	}{
		{iv, 12, Below},
		{iv, 8, Above},
		{iv, 10, Straddles},
		{iv, 9, Straddles},  // a bound equal to the threshold does not exclude it
		{iv, 11, Straddles}, // idem
		{Interval{Estimate: 10, N: 3, Min: 9, Max: 11}, 100, NoCI},
		{Interval{}, 0, NoCI},
	} {
		if got := c.iv.Side(c.t); got != c.want {
			t.Errorf("%+v.Side(%v) = %v, want %v", c.iv, c.t, got, c.want)
		}
	}
}

func TestCompare(t *testing.T) {
	base := []float64{10, 10.2, 9.9, 10.1, 10.3, 9.8, 10.0, 10.1}
	shifted := make([]float64, len(base))
	for i, x := range base {
		shifted[i] = x * 1.2
	}
	for _, c := range []struct {
		name    string
		a, b    []float64
		sig     bool
		hasP    bool
		prefix  string // of String()
		noteHas string
	}{
		{"identical", base, base, false, true, "~ (p=1.000 n=8+8)", ""},
		{"shifted 8+8", base, shifted, true, true, "+20.0% (p=0.000 n=8+8)", ""},
		{"shifted down", shifted, base, true, true, "-16.7% (p=", ""},
		{"2+2 never significant", []float64{1, 2}, []float64{100, 200}, false, true, "~ (p=0.333 n=2+2)", "need >= 4 samples to detect a difference"},
		{"3+3 never significant", []float64{1, 2, 3}, []float64{100, 200, 300}, false, true, "~ (p=0.100 n=3+3)", "confidence interval"},
		{"all equal", []float64{5, 5, 5, 5}, []float64{5, 5, 5, 5}, false, true, "~ (p=1.000", "all samples are equal"},
		{"empty", nil, []float64{1, 2, 3}, false, false, "? (no p-value n=0+3)", "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmp := Compare(c.a, c.b)
			if cmp.Significant != c.sig || (cmp.P != nil) != c.hasP || cmp.Alpha != 0.05 {
				t.Fatalf("Compare = %+v, want significant=%v p?=%v", cmp, c.sig, c.hasP)
			}
			if cmp.P != nil && cmp.Significant != (*cmp.P < cmp.Alpha) {
				t.Errorf("significant=%v with p=%v", cmp.Significant, *cmp.P)
			}
			if got := cmp.String(); !strings.HasPrefix(got, c.prefix) {
				t.Errorf("String = %q, want prefix %q", got, c.prefix)
			}
			if !strings.Contains(cmp.Note, c.noteHas) {
				t.Errorf("Note = %q, want %q", cmp.Note, c.noteHas)
			}
		})
	}
	if c := Compare([]float64{0, 0, 0}, []float64{1, 2, 3}); c.Ratio != nil || c.DeltaPct != nil {
		t.Errorf("a zero median must give no ratio: %+v", c)
	}
	if c := Compare(base, shifted); c.Ratio == nil || math.Abs(*c.Ratio-1.2) > 1e-9 || *c.P >= 0.05 {
		t.Errorf("shifted: %+v", c)
	}
}
