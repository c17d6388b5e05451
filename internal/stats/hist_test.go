package stats

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestHistJSONMergeIsExact(t *testing.T) {
	a, b, direct := NewHist(), NewHist(), NewHist()
	for i := int64(1); i <= 5000; i++ {
		a.RecordUS(i)
		direct.RecordUS(i)
	}
	for i := int64(0); i < 300; i++ {
		b.Record(100*time.Millisecond + time.Duration(i)*time.Millisecond) // 100 ms … 399 ms
		direct.RecordUS(100_000 + i*1000)
	}
	merged := NewHist()
	for _, h := range []*Hist{a, b} {
		js, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var back Hist
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		merged.Merge(&back)
	}
	if merged.Summary() != direct.Summary() {
		t.Fatalf("merged after JSON %+v\ndirect %+v", merged.Summary(), direct.Summary())
	}
	if s := merged.Summary(); s.Count != 5300 || s.MaxMS < 398.9 || s.MaxMS > 399.5 {
		t.Fatalf("summary %+v", s)
	}
	var h Hist
	if err := json.Unmarshal([]byte(`"not base64!"`), &h); err == nil {
		t.Error("garbage histogram decoded")
	}
}

func TestHistNilAndZero(t *testing.T) {
	var nilH *Hist
	if nilH.Count() != 0 || nilH.Summary() != (Summary{}) {
		t.Error("a nil histogram must read as empty")
	}
	if b, err := json.Marshal(nilH); err != nil || string(b) != "null" {
		t.Errorf("nil → %s, %v", b, err)
	}
	var back Hist
	if err := json.Unmarshal([]byte("null"), &back); err != nil || back.Count() != 0 {
		t.Errorf("null → %v, %v", back.Count(), err)
	}
	var zero Hist          // a zero value records
	zero.RecordUS(0)       // clamped to 1 µs
	zero.Record(time.Hour) // clamped to 10 min
	zero.Merge(nil)        // adds nothing
	if s := zero.Summary(); s.Count != 2 || s.MinMS != 0.001 || math.Abs(s.MaxMS-600_000)/600_000 > 0.001 {
		t.Errorf("clamping: %+v", s)
	}
}

func TestHistCDFAndQuantiles(t *testing.T) {
	h := NewHist()
	for i := int64(1); i <= 10_000; i++ {
		h.RecordUS(i * 100) // 0.1 ms … 1000 ms, uniform
	}
	q := h.Quantiles(50, 99)
	if math.Abs(q[0]-500)/500 > 0.001 || math.Abs(q[1]-990)/990 > 0.001 {
		t.Errorf("quantiles %v", q)
	}
	cdf := h.CDF(9)
	if len(cdf) != 9 || cdf[0].Percentile != 0 || cdf[8].Percentile != 100 || math.Abs(cdf[8].Value-1000) > 1 {
		t.Fatalf("cdf %+v", cdf)
	}
	// 10,000 values resolve 4 nines: 0, 90, 99, 99.9, 99.99 at every other point of 9.
	if p := cdf[4].Percentile; math.Abs(p-99) > 1e-9 {
		t.Errorf("cdf[4] at %v %%, want 99", p)
	}
	for i := 1; i < len(cdf); i++ {
		if cdf[i].Percentile <= cdf[i-1].Percentile || cdf[i].Value < cdf[i-1].Value {
			t.Errorf("cdf not monotone at %d: %+v", i, cdf)
		}
	}
	if NewHist().CDF(10) != nil {
		t.Error("empty histogram has no CDF")
	}
}
