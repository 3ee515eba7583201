package httpapi

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// readMetrics fetches /metrics without a token and parses the samples,
// checking the text format as it goes: every sample has HELP and TYPE.
func readMetrics(t *testing.T, f *fixture) map[string]float64 {
	t.Helper()
	resp, _, body := request(t, http.DefaultClient, f.ts.URL, "", "GET", "/metrics", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	noLeak(t, "/metrics", body)
	out := map[string]float64{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(rest, " ")
			if kind != "gauge" && kind != "counter" {
				t.Errorf("%s has type %q", name, kind)
			}
			typed[name] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil || !typed[name] {
			t.Fatalf("a bad sample line %q", line)
		}
		out[name] = v
	}
	return out
}

// The metrics answer without a token, locked or not; once unlocked they
// count entries, conflicts and the API's errors, and hold no record
// content.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	m := readMetrics(t, f)
	if m["floe_unlocked"] != 0 || m["floe_go_goroutines"] == 0 {
		t.Fatalf("locked: %v", m)
	}
	if _, ok := m["floe_entries"]; ok {
		t.Fatal("a locked node tells its entry count")
	}
	makeHoursConflict(t, f)
	f.unlock()
	f.do("GET", "/api/v1/directory/ffffffff", "") // a 404
	m = readMetrics(t, f)
	if m["floe_unlocked"] != 1 || m["floe_entries"] < 100 || m["floe_conflicts"] != 1 || m["floe_http_client_errors_total"] < 1 {
		t.Fatalf("unlocked: %v", m)
	}
	for _, name := range []string{"floe_sync_sessions_total", "floe_sync_errors_total", "floe_sync_sent_bytes_total", "floe_budget_used_bytes", "floe_store_bytes", "floe_peers"} {
		if _, ok := m[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}
