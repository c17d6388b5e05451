package scenarios

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/agentlab/agentlab/"

// families are the scenario families: one package each, none importing another.
var families = []string{"scenarios/lifecycle", "scenarios/busload", "scenarios/messaging", "scenarios/aistreaming"}

// imports maps every package of the module (by path below the module) to the module packages its non-test files
// import.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != "..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(strings.TrimPrefix(path, "../")))
		for _, im := range f.Imports {
			p := strings.Trim(im.Path.Value, `"`)
			if rest, ok := strings.CutPrefix(p, module); ok && !slices.Contains(out[pkg], rest) {
				out[pkg] = append(out[pkg], rest)
			}
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLayering keeps the house as issue 21 built it: lab → report → scenarios → families → scenarios/scenario →
// decide, internal. A new import that runs back up, or across families, fails here.
func TestLayering(t *testing.T) {
	im := imports(t)
	for _, f := range families {
		if _, ok := im[f]; !ok {
			t.Fatalf("family %s not found", f)
		}
	}
	under := func(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }
	for pkg, deps := range im {
		for _, d := range deps {
			var why string
			switch {
			case slices.Contains(families, pkg) && slices.Contains(families, d):
				why = "a family imports a sibling family"
			case slices.Contains(families, pkg) && (d == "scenarios" || under(d, "report") || under(d, "lab")):
				why = "a family imports the registry, report or lab"
			case pkg == "scenarios/scenario" || pkg == "scenarios/buses":
				if slices.Contains(families, d) || d == "scenarios" {
					why = "the core imports a family or the registry"
				}
			case under(pkg, "internal"):
				if under(d, "scenarios") || under(d, "decide") || under(d, "report") || under(d, "lab") {
					why = "internal/ imports scenarios, decide, report or lab"
				}
			case pkg == "decide":
				if d != "internal/stats" {
					why = "decide imports more than internal/stats"
				}
			}
			if why != "" {
				t.Errorf("%s imports %s: %s", pkg, d, why)
			}
		}
	}
	// The root holds only the registry and the read-back code: no scenario lives there.
	for _, f := range []string{"lifecycle", "busload", "messaging", "aistreaming"} {
		if !slices.Contains(im["scenarios"], "scenarios/"+f) {
			t.Errorf("the registry does not name family %s", f)
		}
	}
}
