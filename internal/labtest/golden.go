package labtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// update is -update: the golden tests of a package rewrite their files instead of comparing.
var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// Golden compares got with testdata/name, or rewrites it under -update (go test ./PKG -run Golden -update; review
// the diff before committing it).
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update in the package to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file (go test -run Golden -update in the package, then review the diff)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// GoldenJSON is v as indented JSON with a final newline, as the results files are written.
func GoldenJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// Log is an io.Writer into t.Log: a scenario's progress lines in the test's output.
func Log(t testing.TB) io.Writer { return testWriter{t} }
