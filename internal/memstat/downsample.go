package memstat

// Downsampled returns r with every container's series cut to at most n samples per source, so a results file
// stays small over a long run; the summaries and cross-checks stay those of every sample (Recording computed them).
// The samples kept are the first, the last and, in between, the highest memory_bytes of each of n−2 equal runs
// of samples: a peak is never dropped, which a plain stride could do. n < 3 or a short series keeps everything.
func (r Recording) Downsampled(n int) Recording {
	if n < 3 {
		return r
	}
	out := r
	out.Containers = make([]ContainerResult, len(r.Containers))
	cut := false
	for i, c := range r.Containers {
		var series []Sample
		for _, src := range r.Sources {
			ss := c.Of(src)
			if len(ss) > n {
				ss, cut = peaks(ss, n), true
			}
			series = append(series, ss...)
		}
		c.Series = byTime(series)
		out.Containers[i] = c
	}
	if cut {
		out.SeriesMax = n
	}
	return out
}

// peaks keeps the first and last sample of ss and the highest memory_bytes of each of n−2 equal runs between.
func peaks(ss []Sample, n int) []Sample {
	out := []Sample{ss[0]}
	mid := ss[1 : len(ss)-1]
	buckets := n - 2
	for b := range buckets {
		lo, hi := b*len(mid)/buckets, (b+1)*len(mid)/buckets
		if lo >= hi {
			continue
		}
		best := lo
		for j := lo + 1; j < hi; j++ {
			if mid[j].MemoryBytes > mid[best].MemoryBytes {
				best = j
			}
		}
		out = append(out, mid[best])
	}
	return append(out, ss[len(ss)-1])
}
