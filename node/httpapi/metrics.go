package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// GET /metrics: the node's figures in the Prometheus text format, for a
// monitoring program on this laptop. It needs no token, so a scraper
// keeps working across unlocks; it is served on loopback only (never on
// the LAN listener) and holds counts, sizes and times, never record
// content, names or device IDs. While the node is locked, only the
// process's own figures and floe_unlocked 0 are there.

// httpCounters count the API's answers, for the metrics.
type httpCounters struct {
	requests, clientErrors, serverErrors atomic.Uint64
}

func (c *httpCounters) countErr(status int) {
	switch {
	case status >= 500:
		c.serverErrors.Add(1)
	case status >= 400:
		c.clientErrors.Add(1)
	}
}

func (s *Server) metricsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /metrics", s.metrics)
}

// metric is one sample: a name, its help and type, and its value.
type metric struct {
	name, help, kind string
	value            float64
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	var ms []metric
	add := func(name, kind, help string, v float64) { ms = append(ms, metric{name, help, kind, v}) }
	var ru runtime.MemStats
	runtime.ReadMemStats(&ru)
	add("floe_go_heap_inuse_bytes", "gauge", "Bytes of the Go heap in use.", float64(ru.HeapInuse))
	add("floe_go_sys_bytes", "gauge", "Bytes the Go runtime holds from the system.", float64(ru.Sys))
	add("floe_go_goroutines", "gauge", "Goroutines running.", float64(runtime.NumGoroutine()))
	add("floe_http_requests_total", "counter", "API requests answered.", float64(s.httpStats.requests.Load()))
	add("floe_http_client_errors_total", "counter", "API requests answered with a 4xx error.", float64(s.httpStats.clientErrors.Load()))
	add("floe_http_server_errors_total", "counter", "API requests answered with a 5xx error.", float64(s.httpStats.serverErrors.Load()))

	s.mu.Lock()
	n := s.n
	s.mu.Unlock()
	if n == nil {
		add("floe_unlocked", "gauge", "1 while the node is unlocked.", 0)
		writeMetrics(w, ms)
		return
	}
	add("floe_unlocked", "gauge", "1 while the node is unlocked.", 1)
	ctx := r.Context()
	if st, err := n.Status(ctx); err == nil {
		add("floe_entries", "gauge", "Entries the node keeps.", float64(st.Entries))
		add("floe_store_bytes", "gauge", "Bytes the store takes on disk.", float64(st.StoreBytes))
		if !st.LastWrite.IsZero() {
			add("floe_last_write_timestamp_seconds", "gauge", "When the last entry was written or merged.", float64(st.LastWrite.Unix()))
		}
		var pending, waiting float64
		var lastSync time.Time
		for _, p := range st.Peers {
			pending += float64(p.EntriesPending)
			waiting += float64(p.Waiting)
			if p.LastSync.After(lastSync) {
				lastSync = p.LastSync
			}
		}
		add("floe_peers", "gauge", "Known peers.", float64(len(st.Peers)))
		add("floe_entries_pending", "gauge", "This node's entries not yet confirmed, summed over peers.", pending)
		add("floe_entries_waiting_for_budget", "gauge", "Entries the last sessions left for the next day's budget.", waiting)
		if !lastSync.IsZero() {
			add("floe_last_sync_timestamp_seconds", "gauge", "When any peer last synced.", float64(lastSync.Unix()))
		}
	}
	if cs, err := n.Conflicts(ctx); err == nil {
		add("floe_conflicts", "gauge", "Fields with concurrent values to resolve.", float64(len(cs)))
	}
	if b, err := n.Budget(); err == nil {
		add("floe_budget_daily_bytes", "gauge", "The daily sync budget; 0 means none.", float64(b.DailyBytes))
		add("floe_budget_used_bytes", "gauge", "Sync bytes used today.", float64(b.Used))
	}
	c := n.Counters()
	add("floe_sync_sessions_total", "counter", "Sync sessions completed since the node opened.", float64(c.Sessions))
	add("floe_sync_errors_total", "counter", "Sync sessions that failed since the node opened.", float64(c.FailedSessions))
	add("floe_sync_received_bytes_total", "counter", "Bytes received by sync, attachments included.", float64(c.BytesIn))
	add("floe_sync_sent_bytes_total", "counter", "Bytes sent by sync, attachments included.", float64(c.BytesOut))
	add("floe_sync_entries_received_total", "counter", "Entries received and applied by sync.", float64(c.EntriesIn))
	add("floe_sync_entries_sent_total", "counter", "Entries sent by sync.", float64(c.EntriesOut))
	add("floe_sync_entries_refused_total", "counter", "Entries refused: their authors were not allowed to write them.", float64(c.Refused))
	add("floe_sync_entries_held_back_total", "counter", "Entries held back: stamped too far ahead of this clock.", float64(c.HeldBack))
	if t, _, ok := n.LastBackup(); ok {
		add("floe_last_backup_timestamp_seconds", "gauge", "When this node last wrote a backup file.", float64(t.Unix()))
	}
	writeMetrics(w, ms)
}

func writeMetrics(w http.ResponseWriter, ms []metric) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", m.name, m.help, m.name, m.kind, m.name, formatFloat(m.value))
	}
	io.WriteString(w, b.String())
}

func formatFloat(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}
