package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type goPackage struct {
	ImportPath string
	Dir        string
	Doc        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "github.com/floe-north/floe/...")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("go list is not available: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

const mod = "github.com/floe-north/floe"

// The import direction is one way: syncproto is pure and imports no project
// package; store builds on syncproto; node on store; nothing imports cli.
func TestImportDirection(t *testing.T) {
	allowed := map[string][]string{
		mod + "/syncproto":           {},
		mod + "/syncproto/storetest": {mod + "/syncproto"},
		mod + "/store/textfold":      {},
		mod + "/store":               {mod + "/syncproto", mod + "/store/textfold"},
		mod + "/fieldkit":            {mod + "/syncproto"},
		mod + "/node":                {mod + "/syncproto", mod + "/store", mod + "/fieldkit"},
		mod + "/node/linkemu":        {},
		mod + "/node/sim":            {mod + "/node", mod + "/node/linkemu", mod + "/syncproto"},
		mod + "/node/soak":           {mod + "/node", mod + "/node/linkemu", mod + "/syncproto"},
		mod + "/node/httpapi":        {mod + "/node", mod + "/store", mod + "/syncproto", mod + "/fieldkit"},
		mod + "/cli":                 {mod + "/syncproto", mod + "/store", mod + "/node", mod + "/fieldkit", mod + "/node/sim", mod + "/node/linkemu", mod + "/node/httpapi", mod + "/node/soak"},
		mod + "/cli/floe":            {mod + "/cli"},
	}
	// The pure core reaches no disk, network, database or clock.
	forbiddenInCore := []string{"os", "net", "net/http", "github.com/dgraph-io/badger/v4", "github.com/libp2p/go-libp2p"}
	for _, p := range listPackages(t) {
		ok, known := allowed[p.ImportPath]
		if !known {
			t.Errorf("package %s is not in the layout test; add it with its allowed imports", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, mod) && !contains(ok, imp) {
				t.Errorf("%s imports %s, against the one-way import direction", p.ImportPath, imp)
			}
			if p.ImportPath == mod+"/syncproto" && contains(forbiddenInCore, imp) {
				t.Errorf("syncproto imports %s; the core must stay pure", imp)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Every package says what it owns.
func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

// The core never reads the clock: time is passed in.
func TestCoreDoesNotReadTheClock(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath != mod+"/syncproto" {
			continue
		}
		for _, f := range p.GoFiles {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"time.Now(", "time.Since(", "time.Sleep(", "go func"} {
				if strings.Contains(string(b), bad) {
					t.Errorf("syncproto/%s calls %s; the core is pure", f, bad)
				}
			}
		}
	}
}
