package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The trainer's workflow from the README, all offline: build from the
// sample folder, verify and install on a laptop, update by a delta.
func TestPackWorkflow(t *testing.T) {
	admin := newCLI(t)
	admin.ok("init", "--network", "kivalliq", "--audience", "shelter") // the sample has shelters
	trainer := joinCLI(t, admin, "trainer", "directory:*")
	lap := joinCLI(t, admin, "outreach-worker", "outreach:kivalliq", "directory:*")
	dir := t.TempDir()
	src := filepath.Join(dir, "kivalliq-services")
	os.MkdirAll(src, 0o755)
	csv, err := os.ReadFile(filepath.Join("..", "fieldkit", "sampledata", "pack", "services.csv"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "services.csv"), csv, 0o644)
	v1 := filepath.Join(dir, "v1.floepack")
	if out := trainer.ok("pack", "build", "--src", src, "--out", v1); !strings.Contains(out, `"kivalliq-services" version 1`) {
		t.Fatalf("build: %s", out)
	}
	if out := lap.ok("pack", "verify", v1); !strings.Contains(out, "trainer") || !strings.Contains(out, "17 services") {
		t.Fatalf("verify: %s", out)
	}
	lap.ok("pack", "install", v1)
	lap.fails(ExitError, "installed already", "pack", "install", v1)
	if out := lap.ok("dir", "search", "kamatsiaqtut"); !strings.Contains(out, "Kamatsiaqtut") {
		t.Fatalf("search after install: %s", out)
	}
	os.WriteFile(filepath.Join(src, "services.csv"), []byte(strings.Replace(string(csv), "1-800-265-3333", "1-800-265-3339", 1)), 0o644)
	v2 := filepath.Join(dir, "v2.floepack")
	trainer.ok("pack", "build", "--src", src, "--out", v2, "--delta")
	if st, _ := os.Stat(v2); st.Size() > 4096 {
		t.Fatalf("a one-phone delta is %d bytes", st.Size())
	}
	lap.ok("pack", "install", v2)
	if out := lap.ok("dir", "search", "kamatsiaqtut"); !strings.Contains(out, "1-800-265-3339") {
		t.Fatalf("the delta did not change the phone: %s", out)
	}
	lap.fails(ExitError, "older than the installed", "pack", "install", v1)
	if out := lap.ok("pack", "list"); !strings.Contains(out, "kivalliq-services") || !strings.Contains(out, "  2 ") {
		t.Fatalf("pack list: %s", out)
	}
	bad := filepath.Join(dir, "bad.floepack")
	b, _ := os.ReadFile(v2)
	b[len(b)/2] ^= 1
	os.WriteFile(bad, b, 0o644)
	lap.fails(ExitError, "nothing was applied", "pack", "install", bad)
	// A spreadsheet with a bad row: reported by line, nothing written.
	os.WriteFile(filepath.Join(src, "services.csv"), []byte("id,kind,name/en\nx,spaceport,Odd (fictional)\n"), 0o644)
	r := trainer.run("pack", "build", "--src", src, "--out", filepath.Join(dir, "v3.floepack"))
	if r.code == 0 || !strings.Contains(r.err, "line 2") {
		t.Fatalf("a bad row: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "v3.floepack")); err == nil {
		t.Fatal("a refused build left a pack file")
	}
}
