package scenario

import (
	"math"
	"strings"
)

// Small helpers more than one family uses.

// Truncate is b as a string, cut to n bytes with "…" (for error messages quoting a peer's output).
func Truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// SafeDiv is a/b, NaN when b is 0 (a ratio that does not exist, not a zero).
func SafeDiv(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// LastLine is the last line of s, trimmed and cut to 300 bytes (a container's log: the line its error is on).
func LastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return Truncate([]byte(lines[len(lines)-1]), 300)
}

// FirstLine is s up to its first newline, with " …" when more followed.
func FirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
