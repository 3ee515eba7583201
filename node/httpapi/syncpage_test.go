package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/node"
)

// withHub gives the fixture's laptop a peer, a hub running its own
// daemon on loopback, with a directory entry of its own to send, and has
// the fixture's server run the sync daemon while unlocked.
func withHub(t *testing.T, f *fixture) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	laptop, hub, _, _ := joinNodes(t, f, node.RoleCoordinator, "*:*")
	if _, err := hub.Add(ctx, node.Directory, []node.Change{{Field: "name/en", Value: "Fictional Ferry Office"}, {Field: "kind", Value: "transport"}}); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan []string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Run(ctx, node.DaemonOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Interval: time.Hour, Started: func(a []string) { addrs <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done; hub.Close() })
	var a []string
	select {
	case a = <-addrs:
	case <-time.After(20 * time.Second):
		t.Fatal("the hub did not start")
	}
	if err := laptop.AddPeer(node.Peer{Device: hub.ID(), Name: "Fictional hub", Addrs: a}); err != nil {
		t.Fatal(err)
	}
	laptop.Close()
	f.srv.cfg.Sync = &node.DaemonOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Interval: time.Hour}
}

func (f *fixture) syncState() syncState {
	f.t.Helper()
	code, _, raw := f.do("GET", "/api/v1/sync", "")
	if code != 200 {
		f.t.Fatalf("GET /api/v1/sync: %d %s", code, raw)
	}
	noLeak(f.t, "the sync state", raw)
	var st syncState
	if err := json.Unmarshal(raw, &st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

// Unlocking the app starts sync: the peer's row shows a last sync, the
// bytes count against today, and the budget can be set and is checked.
func TestSyncScreenAPI(t *testing.T) {
	f := newFixture(t)
	withHub(t, f)
	if code, m, _ := f.do("GET", "/api/v1/sync", ""); code != 401 || m["code"] != "locked" {
		t.Fatalf("the sync state while locked: %d %v", code, m)
	}
	f.unlock()
	var st syncState
	deadline := time.Now().Add(30 * time.Second)
	for {
		st = f.syncState()
		if len(st.Peers) == 1 && !st.Peers[0].LastSync.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not sync with the hub: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !st.Daemon.Enabled || !st.Daemon.Running || st.Peers[0].Name != "Fictional hub" || st.Peers[0].BytesToday == 0 || st.Budget.Used != st.Peers[0].BytesToday {
		t.Fatalf("after a sync: %+v", st)
	}
	if code, _, raw := f.do("GET", "/api/v1/directory?q=ferry", ""); code != 200 || !bytes.Contains(raw, []byte("Fictional Ferry Office")) {
		t.Fatalf("the hub's service did not arrive: %d %s", code, raw)
	}
	if code, _, raw := f.do("GET", "/api/v1/peers", ""); code != 200 || !bytes.Contains(raw, []byte(`"entries_pending"`)) {
		t.Fatalf("GET /api/v1/peers: %d %s", code, raw)
	}
	if code, m, _ := f.do("POST", "/api/v1/sync/now", ""); code != 202 || m["woken"] != true {
		t.Fatalf("sync now: %d %v", code, m)
	}

	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{}`, 400, "bad_field"},
		{`{"daily_bytes":-5}`, 400, "bad_field"},
		{`{"daily_bytes":"50MB"}`, 400, "bad_json"},
		{`{"daily_bytes":5,"x":1}`, 400, "bad_json"},
		{`{"daily_bytes":` + strings.Repeat("9", 30) + `}`, 400, "bad_json"},
	} {
		if code, m, _ := f.do("PUT", "/api/v1/sync/budget", c.body); code != c.code || m["code"] != c.want || m["error"] == "" {
			t.Errorf("PUT budget %s: %d %v; want %d %s", c.body, code, m, c.code, c.want)
		}
	}
	if code, m, _ := f.do("PUT", "/api/v1/sync/budget", `{"daily_bytes":50000000}`); code != 200 || m["daily_bytes"] != float64(50000000) {
		t.Fatalf("set the budget: %d %v", code, m)
	}
	if st := f.syncState(); st.Budget.DailyBytes != 50000000 || st.Budget.Remaining != 50000000-st.Budget.Used {
		t.Fatalf("the budget after setting it: %+v", st.Budget)
	}
	// Locking stops the daemon before the store closes.
	if code, _, _ := f.do("POST", "/api/v1/lock", ""); code != 200 {
		t.Fatal("lock")
	}
	f.srv.sync.mu.Lock()
	running := f.srv.sync.running
	f.srv.sync.mu.Unlock()
	if running {
		t.Fatal("the sync daemon runs on after the node locked")
	}
}

// Without sync in the app, "sync now" says what to do instead.
func TestSyncNowWithoutTheDaemon(t *testing.T) {
	f := newFixture(t)
	f.unlock()
	if code, m, _ := f.do("POST", "/api/v1/sync/now", ""); code != 409 || m["code"] != "not_syncing" || !strings.Contains(m["error"].(string), "floe sync") {
		t.Fatalf("sync now without a daemon: %d %v", code, m)
	}
	if st := f.syncState(); st.Daemon.Enabled || len(st.Peers) != 0 || st.Budget.DailyBytes != 0 {
		t.Fatalf("a node without peers or budget: %+v", st)
	}
}

// The sync page shows the budget as a meter once set, refuses a budget
// that is not a number, and says when the day's budget is spent.
func TestSyncPage(t *testing.T) {
	f := newFixture(t)
	w := newWebClient(t, f)
	page := func() string {
		code, body := w.get("/sync")
		if code != 200 {
			t.Fatalf("/sync: %d %s", code, body)
		}
		return body
	}
	if p := page(); !strings.Contains(p, `id="budget-none"`) || !strings.Contains(p, `id="no-peers"`) {
		t.Fatalf("a new laptop's sync page:\n%s", p)
	}
	if code, _ := w.post("/sync/budget", url.Values{"megabytes": {"lots"}}); code != 400 {
		t.Fatalf("a budget of 'lots': %d", code)
	}
	if _, after := w.post("/sync/budget", url.Values{"megabytes": {"0,001"}}); !strings.Contains(after, `id="saved"`) {
		t.Fatalf("saving the budget does not say so:\n%s", after)
	}
	p := page()
	if !strings.Contains(p, `id="budget-meter"`) || !strings.Contains(p, `max="1000"`) {
		t.Fatalf("the page after setting 0,001 MB:\n%s", p)
	}
	if strings.Contains(p, `id="budget-spent"`) {
		t.Fatal("the budget shows as spent before any sync")
	}
	noLeak(t, "the sync page", []byte(p))
}
