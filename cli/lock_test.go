package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// floe lock makes a running node close its store and drop its keys; with
// no node running it says so.
func TestLockARunningNode(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	c.fails(ExitError, "no running node", "lock", "--wait", "300ms")
	var out, errb bytes.Buffer
	var wg sync.WaitGroup
	var code int
	wg.Add(1)
	go func() {
		defer wg.Done()
		io := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return c.env[k] }, IsTerminal: func() bool { return false }}
		code = Main(context.Background(), []string{"node", "run", "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t))}, io)
	}()
	time.Sleep(300 * time.Millisecond)
	if got := c.ok("lock"); !strings.Contains(got, "locked") {
		t.Fatalf("lock: %s", got)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not lock")
	}
	if code != 0 || !strings.Contains(out.String(), "node locked") {
		t.Fatalf("node run after lock: exit %d, %q / %q", code, out.String(), errb.String())
	}
	// It unlocks with the passphrase, as before.
	c.ok("status")
}

// The admin's member commands: list, revoke (by name or ID prefix), and
// the refusals that protect the network.
func TestMemberCommands(t *testing.T) {
	admin := newCLI(t)
	admin.ok("init", "--network", "kivalliq")
	admin.fails(ExitUsage, "--role is required", "member", "invite", "--out", filepath.Join(t.TempDir(), "x"))
	admin.fails(ExitUsage, "unknown role", "member", "invite", "--role", "boss", "--area", "*:*", "--out", filepath.Join(t.TempDir(), "x"))
	admin.fails(ExitUsage, "at least one --area", "member", "invite", "--role", "trainer", "--out", filepath.Join(t.TempDir(), "x"))
	lap := joinCLI(t, admin, "outreach-worker", "outreach:kivalliq/arviat", "directory:*")
	lap.fails(ExitError, "root key", "member", "invite", "--role", "trainer", "--area", "*:*", "--out", filepath.Join(t.TempDir(), "y"))
	var ms []map[string]any
	if err := json.Unmarshal([]byte(admin.ok("member", "list", "--json")), &ms); err != nil || len(ms) != 2 {
		t.Fatalf("member list --json: %v %v", ms, err)
	}
	lapID := statusJSON(t, lap)["node_id"].(string)
	lap.fails(ExitError, "root key", "member", "revoke", lapID)
	if out := admin.ok("member", "revoke", lapID[:14], "--reason", "lost"); !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %s", out)
	}
	if list := admin.ok("member", "list"); !strings.Contains(list, "revoked") {
		t.Fatalf("member list after revoke:\n%s", list)
	}
	admin.fails(ExitError, "already revoked", "member", "revoke", lapID)
}
