package httpapi

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/node"
)

// While unlocked, the app writes the scheduled backups, and stops before
// the node locks; the metrics tell when the last one was written.
func TestServeWritesScheduledBackups(t *testing.T) {
	f := newFixture(t)
	admin, err := node.Open(context.Background(), f.srv.cfg.Dir, []byte(pass), f.srv.cfg.Options)
	if err != nil {
		t.Fatal(err)
	}
	k, err := admin.MakeBackupKey(false)
	if err == nil {
		err = admin.PublishBackupKey(context.Background(), k)
	}
	admin.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f.srv.cfg.Backups = &node.BackupSchedule{Dir: dir, Every: time.Hour, Keep: 2}
	f.unlock()
	deadline := time.Now().Add(20 * time.Second)
	var names []string
	for len(names) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no backup was written while unlocked")
		}
		time.Sleep(50 * time.Millisecond)
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if strings.HasSuffix(e.Name(), node.BackupExt) {
				names = append(names, e.Name())
			}
		}
	}
	if m := readMetrics(t, f); m["floe_last_backup_timestamp_seconds"] == 0 {
		t.Fatalf("the metrics do not tell the last backup: %v", m)
	}
	if code, _, _ := f.do("POST", "/api/v1/lock", ""); code != 200 {
		t.Fatal("lock")
	}
	b, err := os.ReadFile(dir + "/" + names[0])
	if err != nil || leaks(b) != nil {
		t.Fatalf("the backup file: %v (leak %q)", err, leaks(b))
	}
}
