// Package prom reads the Prometheus text exposition format (0.0.4) the buses serve on /metrics, through
// github.com/prometheus/common/expfmt, into flat series keys the lab and the conformance suite compare with
// literals: name{k="v",...}, labels sorted by name.
package prom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ErrDuplicate is a series exported twice in one exposition.
var ErrDuplicate = errors.New("series exported twice")

// Metrics is one scrape: sample values by series key (see Key) and each family's type by metric name ("counter",
// "gauge", "histogram", "summary", "untyped" — untyped also for a family without a # TYPE line).
// Histograms and summaries are flattened as the text format writes them: name_bucket{le="…"} (or
// name{quantile="…"}), name_sum and name_count.
type Metrics struct {
	ContentType string
	Values      map[string]float64
	Types       map[string]string
}

// Key is the series key of a sample: name, then the labels (name, value pairs) as k="v" sorted by k, values
// quoted as Go quotes them. Key("a") is "a"; Key("a", "z", "1", "b", "x") is `a{b="x",z="1"}`.
func Key(name string, labels ...string) string {
	if len(labels) < 2 {
		return name
	}
	pairs := make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+"="+strconv.Quote(labels[i+1]))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// Parse reads a text exposition (0.0.4). Any syntax error, and a series exported twice (ErrDuplicate), is an
// error naming the line or the series.
func Parse(r io.Reader) (Metrics, error) {
	m := Metrics{Values: map[string]float64{}, Types: map[string]string{}}
	// Legacy names: 0.0.4 allows only [a-zA-Z_:][a-zA-Z0-9_:]* metric names, which is what the buses promise.
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return m, fmt.Errorf("parse metrics: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		mf := fams[name]
		m.Types[name] = strings.ToLower(mf.GetType().String())
		for _, mt := range mf.GetMetric() {
			if err := m.add(name, mf.GetType(), mt); err != nil {
				return m, err
			}
		}
	}
	return m, nil
}

// add flattens one metric of family name into m.Values.
func (m *Metrics) add(name string, typ dto.MetricType, mt *dto.Metric) error {
	labels := make([]string, 0, 2*len(mt.GetLabel())+2)
	for _, lp := range mt.GetLabel() {
		labels = append(labels, lp.GetName(), lp.GetValue())
	}
	set := func(v float64, name string, extra ...string) error {
		k := Key(name, append(slices.Clip(labels), extra...)...)
		if _, dup := m.Values[k]; dup {
			return fmt.Errorf("parse metrics: %w: %s", ErrDuplicate, k)
		}
		m.Values[k] = v
		return nil
	}
	switch typ {
	case dto.MetricType_COUNTER:
		return set(mt.GetCounter().GetValue(), name)
	case dto.MetricType_GAUGE:
		return set(mt.GetGauge().GetValue(), name)
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := mt.GetHistogram()
		for _, b := range h.GetBucket() {
			n := float64(b.GetCumulativeCount())
			if b.CumulativeCountFloat != nil {
				n = b.GetCumulativeCountFloat()
			}
			if err := set(n, name+"_bucket", "le", formatFloat(b.GetUpperBound())); err != nil {
				return err
			}
		}
		n := float64(h.GetSampleCount())
		if h.SampleCountFloat != nil {
			n = h.GetSampleCountFloat()
		}
		if err := set(h.GetSampleSum(), name+"_sum"); err != nil {
			return err
		}
		return set(n, name+"_count")
	case dto.MetricType_SUMMARY:
		s := mt.GetSummary()
		for _, q := range s.GetQuantile() {
			if err := set(q.GetValue(), name, "quantile", formatFloat(q.GetQuantile())); err != nil {
				return err
			}
		}
		if err := set(s.GetSampleSum(), name+"_sum"); err != nil {
			return err
		}
		return set(float64(s.GetSampleCount()), name+"_count")
	default:
		return set(mt.GetUntyped().GetValue(), name)
	}
}

// formatFloat writes an le/quantile bound as the Prometheus client libraries do: shortest form, +Inf/-Inf.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Scrape GETs url with hc (nil: http.DefaultClient) and parses the body; ContentType is the response's.
func Scrape(ctx context.Context, hc *http.Client, url string) (Metrics, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Metrics{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Metrics{}, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return Metrics{}, fmt.Errorf("scrape %s: HTTP %s", url, resp.Status)
	}
	m, err := Parse(resp.Body)
	m.ContentType = resp.Header.Get("Content-Type")
	if err != nil {
		return m, fmt.Errorf("scrape %s: %w", url, err)
	}
	return m, nil
}

// Get is the value of one series, 0 when absent (a counter not yet exported has not moved).
func (m Metrics) Get(name string, labels ...string) float64 { return m.Values[Key(name, labels...)] }

// Sum adds every series of metric name (all its label sets). Only the family itself: Sum("bus_errors") does not
// include bus_errors_total.
func (m Metrics) Sum(name string) float64 {
	var s float64
	for k, v := range m.Values {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// ByLabel maps the value of label over metric name's series to the summed value (series without the label are
// summed under "").
func (m Metrics) ByLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m.Values {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		out[LabelValue(k, label)] += v
	}
	return out
}

// Delta is m − before for every series of m (a series absent before counts from 0): counter movement between
// two scrapes.
func (m Metrics) Delta(before Metrics) Metrics {
	d := Metrics{ContentType: m.ContentType, Values: make(map[string]float64, len(m.Values)), Types: m.Types}
	for k, v := range m.Values {
		d.Values[k] = v - before.Values[k]
	}
	return d
}

// LabelValue extracts label's value from a series key made by Key ("" when absent).
func LabelValue(key, label string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return ""
	}
	s := key[i+1:]
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return ""
		}
		name := s[:eq]
		quoted, err := strconv.QuotedPrefix(s[eq+1:])
		if err != nil {
			return ""
		}
		if name == label {
			v, _ := strconv.Unquote(quoted)
			return v
		}
		s = strings.TrimPrefix(s[eq+1+len(quoted):], ",")
	}
	return ""
}
