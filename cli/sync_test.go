package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func statusJSON(t *testing.T, c *cliEnv) map[string]any {
	var st map[string]any
	if err := json.Unmarshal([]byte(c.ok("status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// The README's two-node walk-through: init a network, invite a laptop,
// run the hub, sync the laptop with it.
func TestTwoNodesSyncOverTheNetwork(t *testing.T) {
	hub, lap := newCLI(t), newCLI(t)
	hub.ok("init", "--network", "kivalliq")
	hub.ok("dir", "add", "name=Hotline", "kind=hotline", "community=Arviat", "phone=18005551234")
	port := freePort(t)
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	inv := filepath.Join(t.TempDir(), "invite.txt")
	invite := []string{"member", "invite", "--role", "outreach-worker", "--area", "outreach:kivalliq/arviat", "--area", "directory:*", "--out", inv, "--name", "hub", "--addr", addr}
	hub.ok(invite...)
	hub.fails(ExitError, "already exists", invite...)
	req := filepath.Join(t.TempDir(), "request.txt")
	out := lap.ok("init", "--join", inv, "--out", req, "--name", "laptop")
	if !strings.Contains(out, "kivalliq") || !strings.Contains(out, "outreach-worker") {
		t.Errorf("init --join should name the network and the role: %s", out)
	}
	lap.fails(ExitError, "no certificate yet", "outreach", "add", "date=2026-11-20", "community=Arviat", "contact=phone", "subject=P-16")
	if out := hub.ok("member", "admit", req); !strings.Contains(out, "outreach-worker") {
		t.Errorf("admit output: %s", out)
	}
	hub.fails(ExitError, "already a member", "member", "admit", req)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var hubOut, hubErr bytes.Buffer
	wg.Add(1)
	go func() {
		defer wg.Done()
		io := IO{In: strings.NewReader(""), Out: &hubOut, Err: &hubErr, Getenv: func(k string) string { return hub.env[k] }, IsTerminal: func() bool { return false }}
		Main(ctx, []string{"node", "run", "--listen", addr}, io)
	}()
	// The hub needs a moment to listen; sync retries until it does.
	var r run
	for i := 0; i < 50; i++ {
		if r = lap.run("sync", "hub"); r.code == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.code == 0 {
		// The certificate came with the first sync: now the laptop writes.
		lap.ok("outreach", "add", "date=2026-11-20", "community=Arviat", "contact=phone", "subject=P-17")
		r = lap.run("sync", "hub")
	}
	stop()
	wg.Wait()
	if r.code != 0 {
		t.Fatalf("sync failed: %s\nhub log: %s", r.err, hubErr.String())
	}
	if !strings.Contains(r.out, "synced with hub") || !strings.Contains(r.err, "sync: out") {
		t.Errorf("sync output: %q / progress %q", r.out, r.err)
	}
	if a, b := statusJSON(t, hub)["state_hash"], statusJSON(t, lap)["state_hash"]; a != b {
		t.Fatalf("state hashes differ after sync: %v vs %v", a, b)
	}
	peers := statusJSON(t, lap)["peers"].([]any)
	p := peers[0].(map[string]any)
	if p["name"] != "hub" || p["last_sync"] == nil || p["bytes_in"].(float64) == 0 || p["entries_pending"].(float64) != 0 {
		t.Errorf("status peers after sync: %v", p)
	}
	// Logs never hold record content.
	for _, secret := range []string{"P-17", "Hotline", "18005551234"} {
		if strings.Contains(hubErr.String(), secret) {
			t.Errorf("the hub's log holds record content %q", secret)
		}
	}
	if !strings.Contains(hubOut.String(), "/p2p/") {
		t.Errorf("node run should print its addresses: %q", hubOut.String())
	}
	list := lap.ok("peer", "list")
	if !strings.Contains(list, "hub") {
		t.Errorf("peer list: %s", list)
	}
	lap.ok("peer", "rm", "hub")
	lap.fails(ExitError, "no such peer", "sync", "hub")
}

func TestPeerAndInviteBadInput(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	c.fails(ExitUsage, "no /p2p/", "peer", "add", "/ip4/1.2.3.4/tcp/1")
	c.fails(ExitUsage, "not a peer address", "peer", "add", "/ip4/nonsense")
	c.fails(ExitUsage, "not a device ID", "peer", "add", "xyz")
	c.fails(ExitUsage, "subcommand", "peer", "frobnicate")
	bad := filepath.Join(t.TempDir(), "bad.txt")
	writeFile(t, bad, "hello, this is a shopping list\n")
	d := newCLI(t)
	d.fails(ExitError, "not a Floe invite", "init", "--join", bad)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Two laptops that never meet on a network level up through bundle files,
// and the bundle going back makes the next one small.
func TestBundlesByFile(t *testing.T) {
	hub, lap := newCLI(t), newCLI(t)
	hub.ok("init", "--network", "kivalliq")
	for i := 0; i < 20; i++ {
		hub.ok("dir", "add", fmt.Sprintf("name=Service %d", i), "kind=health", "community=Arviat")
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "invite.txt")
	hub.ok("member", "invite", "--role", "coordinator", "--area", "*:*", "--out", inv, "--name", "hub")
	req := filepath.Join(dir, "request.txt")
	lap.ok("init", "--join", inv, "--out", req, "--name", "laptop")
	hub.ok("member", "admit", req)

	b1 := filepath.Join(dir, "to-laptop-1.floe")
	out := hub.ok("bundle", "export", "--for", "laptop", "--out", b1)
	if !strings.Contains(out, "everything") {
		t.Errorf("first export: %s", out)
	}
	out = lap.ok("bundle", "import", b1)
	if !strings.Contains(out, "new entries") {
		t.Errorf("import: %s", out)
	}
	if again := lap.ok("bundle", "import", b1); !strings.Contains(again, " 0 new entries") {
		t.Errorf("a second import should find nothing new: %s", again)
	}
	lap.ok("outreach", "add", "date=2026-11-20", "community=Arviat", "contact=in-person", "subject=P-3")
	back := filepath.Join(dir, "to-hub.floe")
	lap.ok("bundle", "export", "--for", "hub", "--out", back)
	hub.ok("bundle", "import", back)
	if a, b := statusJSON(t, hub)["state_hash"], statusJSON(t, lap)["state_hash"]; a != b {
		t.Fatal("bundles both ways did not make the nodes equal")
	}
	hub.ok("dir", "add", "name=One more", "kind=legal", "community=Arviat")
	b2 := filepath.Join(dir, "to-laptop-2.floe")
	hub.ok("bundle", "export", "--for", "laptop", "--out", b2)
	s1, _ := os.Stat(b1)
	s2, _ := os.Stat(b2)
	if s2.Size()*4 > s1.Size() {
		t.Errorf("the second bundle (%d B) is not much smaller than the first (%d B)", s2.Size(), s1.Size())
	}
	hub.fails(ExitError, "already exists", "bundle", "export", "--for", "laptop", "--out", b2)
	other := newCLI(t)
	other.ok("init")
	other.fails(ExitError, "does not open with this device", "bundle", "import", b2)
	other.fails(ExitError, "not a Floe bundle", "bundle", "import", inv)
	other.fails(ExitUsage, "--for", "bundle", "export", "--out", filepath.Join(dir, "x"))
}

func TestWipe(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	c.ok("dir", "add", "name=Clinic", "kind=health", "community=Arviat")
	c.fails(ExitUsage, "--now", "wipe")
	c.ok("wipe", "--after-failures", "2")
	wrong := *c
	wrong.env = map[string]string{"FLOE_DIR": c.env["FLOE_DIR"], "FLOE_PASSPHRASE": "not the passphrase"}
	wrong.fails(ExitError, "before this node wipes itself", "status")
	c.ok("status") // a right one resets the count
	out := c.ok("wipe", "--now")
	if !strings.Contains(out, "the key was destroyed") {
		t.Errorf("wipe output: %s", out)
	}
	c.fails(ExitError, "no Floe node", "status")
}
