package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The admin's walk-through: make the backup key, back up, check the
// backup, restore it elsewhere with a new passphrase: the same node.
func TestBackupAndRestore(t *testing.T) {
	admin := newCLI(t)
	admin.ok("init", "--network", "kivalliq")
	admin.ok("dir", "add", "name=Kamatsiaqtut Help Line", "kind=hotline", "phone=1-800-265-3333")
	work := t.TempDir()
	key := filepath.Join(work, "backup-key.txt")
	backup := filepath.Join(work, "hub.fbk")
	admin.fails(ExitError, "no backup key yet", "backup", "--out", backup)
	out := admin.ok("backup", "key", "new", "--out", key)
	if !strings.Contains(out, "offline") || !strings.Contains(out, "#1") {
		t.Fatalf("key new: %s", out)
	}
	admin.fails(ExitError, "--replace", "backup", "key", "new", "--out", filepath.Join(work, "second.txt"))
	if list := admin.ok("backup", "key", "list"); !strings.Contains(list, "#1") {
		t.Fatalf("key list: %s", list)
	}
	out = admin.ok("backup", "--out", backup)
	if !strings.Contains(out, "wrote "+backup) || !strings.Contains(out, "#1") {
		t.Fatalf("backup: %s", out)
	}
	admin.fails(ExitError, "already exists", "backup", "--out", backup)
	if chk := admin.ok("backup", "check", backup, "--key", key); !strings.Contains(chk, "whole") || !strings.Contains(chk, "admin") {
		t.Fatalf("check: %s", chk)
	}

	// Elsewhere, with another passphrase.
	other := newCLI(t)
	other.env["FLOE_PASSPHRASE"] = "another long passphrase"
	other.fails(ExitUsage, "--key", "restore", backup)
	restored := other.ok("restore", backup, "--key", key)
	if !strings.Contains(restored, "restored") || !strings.Contains(restored, "again") {
		t.Fatalf("restore: %s", restored)
	}
	a, r := statusJSON(t, admin), statusJSON(t, other)
	if a["state_hash"] != r["state_hash"] || a["node_id"] != r["node_id"] {
		t.Fatalf("restored %v / %v, backed up %v / %v", r["node_id"], r["state_hash"], a["node_id"], a["state_hash"])
	}
	if list := other.ok("dir", "search", "kamatsiaqtut"); !strings.Contains(list, "Kamatsiaqtut") {
		t.Fatalf("search on the restored node: %s", list)
	}
	// It is the admin's laptop still.
	other.ok("member", "invite", "--role", "trainer", "--area", "directory:*", "--out", filepath.Join(work, "invite.txt"))

	// Refusals: a node directory that holds something, a damaged file.
	other.fails(ExitError, "not empty", "restore", backup, "--key", key)
	raw, _ := os.ReadFile(backup)
	raw[len(raw)/2] ^= 1
	damaged := filepath.Join(work, "damaged.fbk")
	os.WriteFile(damaged, raw, 0o600)
	fresh := newCLI(t)
	fresh.fails(ExitError, "damaged", "restore", damaged, "--key", key)
	if _, err := os.Stat(fresh.env["FLOE_DIR"]); err == nil {
		t.Fatal("a refused restore left the node's directory")
	}
	if ents, _ := os.ReadDir(filepath.Dir(fresh.env["FLOE_DIR"])); len(ents) != 0 {
		t.Fatalf("a refused restore left %s", ents[0].Name())
	}
	fresh.fails(ExitError, "damaged", "backup", "check", damaged, "--key", key)
	fresh.fails(ExitError, "does not start as a Floe backup", "restore", key, "--key", key)
}

// A running node writes backups on a schedule into a folder, keeping the
// newest N, and writes one when 'floe backup' asks it from another
// window, without the passphrase.
func TestScheduledBackupsWhileTheNodeRuns(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	work := t.TempDir()
	key := filepath.Join(work, "key.txt")
	c.ok("backup", "key", "new", "--out", key)
	folder := filepath.Join(work, "usb")
	os.MkdirAll(folder, 0o700)
	c.fails(ExitUsage, "--backup-every", "node", "run", "--backup-dir", folder, "--backup-every", "10ms")
	var out, errb bytes.Buffer
	var wg sync.WaitGroup
	var code int
	wg.Go(func() {
		io := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return c.env[k] }, IsTerminal: func() bool { return false }}
		code = Main(context.Background(), []string{"node", "run", "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t)),
			"--backup-dir", folder, "--backup-every", "1s", "--backup-keep", "2"}, io)
	})
	defer func() {
		c.run("lock")
		wg.Wait()
	}()
	// Scheduled backups as they appear, polled rather than slept on, so a
	// busy machine does not fail the test.
	seen := map[string]bool{}
	waitBackups := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for len(seen) < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d scheduled backups appeared in a minute at one a second", len(seen))
			}
			ents, _ := os.ReadDir(folder)
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".fbk") {
					seen[e.Name()] = true
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitBackups(1) // the node runs
	// Another window, without the passphrase.
	asker := &cliEnv{t: t, env: map[string]string{"FLOE_DIR": c.env["FLOE_DIR"]}}
	asked := filepath.Join(work, "asked.fbk")
	if got := asker.ok("backup", "--out", asked); !strings.Contains(got, "written by the running node") {
		t.Fatalf("backup while the node runs: %s", got)
	}
	if chk := c.ok("backup", "check", asked, "--key", key); !strings.Contains(chk, "whole") {
		t.Fatalf("the asked-for backup: %s", chk)
	}
	waitBackups(3)
	if got := c.ok("lock"); !strings.Contains(got, "locked") {
		t.Fatalf("lock: %s", got)
	}
	wg.Wait()
	if code != 0 {
		t.Fatalf("node run: exit %d: %s", code, errb.String())
	}
	written := strings.Count(errb.String(), "backup written")
	if written < 4 { // the asked-for one and three or more scheduled
		t.Fatalf("%d backups written, want the asked-for one and three scheduled:\n%s", written, errb.String())
	}
	ents, _ := os.ReadDir(folder)
	name := regexp.MustCompile(`^floe-backup-[a-z2-7]{8}-\d{8}T\d{6}\.fbk$`)
	if len(ents) != 2 {
		t.Fatalf("the folder holds %d files, want the newest 2", len(ents))
	}
	for _, e := range ents {
		if !name.MatchString(e.Name()) {
			t.Fatalf("a backup is called %s", e.Name())
		}
		if chk := c.ok("backup", "check", filepath.Join(folder, e.Name()), "--key", key); !strings.Contains(chk, "whole") {
			t.Fatalf("a scheduled backup: %s", chk)
		}
	}
}

// A revoked laptop's backup is restored only as a new device, which
// writes its join request for the admin.
func TestRestoreARevokedLaptopAsANewDevice(t *testing.T) {
	admin := newCLI(t)
	admin.ok("init", "--network", "kivalliq")
	work := t.TempDir()
	key := filepath.Join(work, "key.txt")
	admin.ok("backup", "key", "new", "--out", key)
	lap := joinCLI(t, admin, "outreach-worker", "outreach:kivalliq/arviat", "directory:*")
	lap.ok("outreach", "add", "date=2026-11-20", "community=Arviat", "contact=phone", "subject=P-16")
	lapID := statusJSON(t, lap)["node_id"].(string)
	admin.ok("member", "revoke", lapID, "--reason", "lost")
	exchangeDirs(t, admin, lap)
	backup := filepath.Join(work, "lap.fbk")
	lap.ok("backup", "--out", backup)

	fresh := newCLI(t)
	fresh.fails(ExitError, "--new-device", "restore", backup, "--key", key)
	fresh.fails(ExitUsage, "go together", "restore", backup, "--key", key, "--new-device")
	inv := filepath.Join(work, "invite.txt")
	admin.ok("member", "invite", "--role", "outreach-worker", "--area", "outreach:kivalliq/arviat", "--area", "directory:*", "--out", inv)
	req := filepath.Join(work, "request.txt")
	out := fresh.ok("restore", backup, "--key", key, "--new-device", "--join", inv, "--out", req, "--name", "arviat-laptop-2")
	if !strings.Contains(out, "new device") || !strings.Contains(out, "revoked") {
		t.Fatalf("restore as a new device: %s", out)
	}
	if id := statusJSON(t, fresh)["node_id"]; id == lapID {
		t.Fatal("the revoked identity came back")
	}
	admin.ok("member", "admit", req)
	if list := fresh.ok("outreach", "list"); !strings.Contains(list, "P-16") {
		t.Fatalf("the revoked laptop's record is not restored: %s", list)
	}
}
