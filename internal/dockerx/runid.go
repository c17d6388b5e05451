package dockerx

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewRunID returns a run id that sorts by start time and is unique across concurrent runs: 20261125-194657-3fa9c1.
func NewRunID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}
