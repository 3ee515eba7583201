package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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

// floe node run --log-file writes JSON lines into the file, not stderr.
func TestNodeRunLogsToAFile(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	logPath := filepath.Join(t.TempDir(), "floe.log")
	var out, errb bytes.Buffer
	var wg sync.WaitGroup
	var code int
	wg.Go(func() {
		io := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return c.env[k] }, IsTerminal: func() bool { return false }}
		code = Main(context.Background(), []string{"node", "run", "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t)), "--log-file", logPath}, io)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), `"msg":"node running"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no 'node running' line in the log file")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.ok("lock")
	wg.Wait()
	if code != 0 || strings.Contains(errb.String(), "node running") {
		t.Fatalf("exit %d; stderr: %s", code, errb.String())
	}
	b, _ := os.ReadFile(logPath)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["level"] == nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
	}
}
