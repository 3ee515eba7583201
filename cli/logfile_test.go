package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The log rotates by size and keeps only the newest files: a service that
// runs for years does not fill the disk with its log, and no line is lost
// from the files kept.
func TestLogRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "floe.log")
	r, err := openRotating(path, 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		fmt.Fprintf(r, "line %03d %s\n", i, strings.Repeat("x", 40))
	}
	r.Close()
	var all string
	for _, name := range []string{path + ".3", path + ".2", path + ".1", path} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) > 1000 {
			t.Errorf("%s holds %d bytes, over the 1000 allowed", name, len(b))
		}
		all += string(b)
	}
	if _, err := os.Stat(path + ".4"); err == nil {
		t.Error("a fourth old file was kept")
	}
	if !strings.HasSuffix(all, "line 199 "+strings.Repeat("x", 40)+"\n") || !strings.Contains(all, "line 150") {
		t.Error("the newest lines are not in the files kept")
	}
	// The lines kept are whole and in order.
	lines := strings.Split(strings.TrimSpace(all), "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] <= lines[i-1] {
			t.Fatalf("lines out of order: %q then %q", lines[i-1], lines[i])
		}
	}
	// Reopening appends to the current file.
	path = filepath.Join(t.TempDir(), "floe.log")
	for i := 0; i < 2; i++ {
		r, err := openRotating(path, 1000, 3)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(r, "start %d\n", i)
		r.Close()
	}
	if b, _ := os.ReadFile(path); string(b) != "start 0\nstart 1\n" {
		t.Errorf("reopening lost the current file: %q", b)
	}
}
