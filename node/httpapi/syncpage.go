package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/floe-north/floe/node"
)

// The sync screen: the daemon that syncs while the app is unlocked, each
// peer's last sync, pending changes and today's bytes, and the daily
// budget for a metered link.

// syncDaemon is the sync daemon of an unlocked node.
type syncDaemon struct {
	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	wake    chan struct{}
	addrs   []string
	err     string // why it stopped, if it did
	running bool
	last    map[string]syncEvent // the last outgoing session per peer
}

// syncEvent is an outgoing session's outcome.
type syncEvent struct {
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
}

// startDaemon runs the sync daemon for n, if configured; called with s.mu
// held, right after the node is opened.
func (s *Server) startDaemon(n *node.Node) {
	d := &s.sync
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done, d.wake = cancel, make(chan struct{}), make(chan struct{}, 1)
	// Backups: those 'floe backup' asks for from another window, and
	// the schedule, if any. They stop with the daemon, before the lock.
	var wg sync.WaitGroup
	wg.Go(func() { n.ServeBackupRequests(ctx, 500*time.Millisecond) })
	if b := s.cfg.Backups; b != nil {
		wg.Go(func() { n.RunBackups(ctx, *b) })
	}
	if s.cfg.Sync == nil {
		done := d.done
		go func() { wg.Wait(); close(done) }()
		return
	}
	d.running, d.err, d.addrs = true, "", nil
	if d.last == nil {
		d.last = map[string]syncEvent{}
	}
	opts := *s.cfg.Sync
	opts.Wake = d.wake
	// A budget given at start is set once, at the first unlock; after
	// that the sync screen's setting holds.
	s.cfg.Sync.DailyBytes = nil
	started, synced := opts.Started, opts.Synced
	opts.Started = func(addrs []string) {
		d.mu.Lock()
		d.addrs = addrs
		d.mu.Unlock()
		if started != nil {
			started(addrs)
		}
	}
	opts.Synced = func(p node.Peer, res node.SyncResult, err error) {
		ev := syncEvent{At: s.cfg.Now().UTC()}
		if err != nil {
			ev.Error = err.Error()
		}
		d.mu.Lock()
		d.last[p.Device.String()] = ev
		d.mu.Unlock()
		if synced != nil {
			synced(p, res, err)
		}
	}
	done := d.done
	go func() {
		defer close(done)
		defer wg.Wait()
		err := n.Run(ctx, opts)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.running = false
		if err != nil && ctx.Err() == nil {
			d.err = err.Error()
			s.log.Warn("the sync daemon stopped", "err", err)
		}
	}()
}

// stopDaemon stops the daemon and waits for it, before the node locks.
func (s *Server) stopDaemon() {
	d := &s.sync
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.cancel, d.done = nil, nil
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// daemonState is the daemon as the sync screen shows it.
type daemonState struct {
	Enabled bool     `json:"enabled"`
	Running bool     `json:"running"`
	Addrs   []string `json:"listening,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// syncState is GET /api/v1/sync.
type syncState struct {
	Budget node.Budget          `json:"budget"`
	Daemon daemonState          `json:"daemon"`
	Peers  []node.PeerStatus    `json:"peers"`
	Last   map[string]syncEvent `json:"last_attempts,omitempty"`
}

func (s *Server) syncState(ctx context.Context, n *node.Node) (syncState, error) {
	var st syncState
	var err error
	if st.Budget, err = n.Budget(); err != nil {
		return st, err
	}
	if st.Peers, err = n.PeerStatuses(ctx); err != nil {
		return st, err
	}
	if st.Peers == nil {
		st.Peers = []node.PeerStatus{}
	}
	d := &s.sync
	d.mu.Lock()
	st.Daemon = daemonState{Enabled: s.cfg.Sync != nil, Running: d.running, Addrs: d.addrs, Error: d.err}
	if len(d.last) > 0 {
		st.Last = make(map[string]syncEvent, len(d.last))
		for k, v := range d.last {
			st.Last[k] = v
		}
	}
	d.mu.Unlock()
	return st, nil
}

// syncNow wakes the daemon; false when it is not running.
func (s *Server) syncNow() bool {
	d := &s.sync
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		return false
	}
	select {
	case d.wake <- struct{}{}:
	default: // already woken
	}
	return true
}

func (s *Server) syncRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/sync", s.wrap(true, guard(permRead, s.apiSync)))
	mux.HandleFunc("GET /api/v1/peers", s.wrap(true, guard(permRead, s.apiPeers)))
	mux.HandleFunc("PUT /api/v1/sync/budget", s.wrap(true, guard(permLaptop, s.apiBudget)))
	mux.HandleFunc("POST /api/v1/sync/now", s.wrap(true, guard(permRead, s.apiSyncNow)))
	mux.HandleFunc("GET /sync", s.webGuard(permRead, s.webSync))
	mux.HandleFunc("POST /sync/budget", s.webGuard(permLaptop, s.webBudget))
	mux.HandleFunc("POST /sync/now", s.webGuard(permRead, s.webSyncNow))
}

func (s *Server) apiSync(ctx context.Context, n *node.Node, _ *http.Request) (int, any, error) {
	st, err := s.syncState(ctx, n)
	if !callerOf(ctx).Laptop() {
		st.Daemon.Addrs = nil // where this laptop listens is not a phone's business
		for i := range st.Peers {
			st.Peers[i].Addrs = nil
		}
	}
	return http.StatusOK, st, err
}

func (s *Server) apiPeers(ctx context.Context, n *node.Node, _ *http.Request) (int, any, error) {
	ps, err := n.PeerStatuses(ctx)
	if ps == nil {
		ps = []node.PeerStatus{}
	}
	return http.StatusOK, ps, err
}

type budgetReq struct {
	DailyBytes *int64 `json:"daily_bytes"`
}

func (s *Server) apiBudget(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
	var req budgetReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.DailyBytes == nil {
		return 0, nil, fail(http.StatusBadRequest, "bad_field", `give the budget in bytes per day, e.g. {"daily_bytes": 52428800}; 0 removes it`)
	}
	if err := n.SetDailyBudget(*req.DailyBytes); err != nil {
		return 0, nil, err
	}
	b, err := n.Budget()
	return http.StatusOK, b, err
}

func (s *Server) apiSyncNow(ctx context.Context, n *node.Node, _ *http.Request) (int, any, error) {
	if !s.syncNow() {
		return 0, nil, fail(http.StatusConflict, "not_syncing", "sync is not running in this app (it was started without it, or it stopped: see GET /api/v1/sync); run 'floe sync' or 'floe node run' instead")
	}
	return http.StatusAccepted, map[string]bool{"woken": true}, nil
}

// syncView is the sync page's content.
type syncView struct {
	State     syncState
	Rows      []syncRow
	BudgetMB  string // the budget in MB for the form; empty when none
	UsedText  string
	LimitText string
	Woken     bool
	Saved     bool
}

type syncRow struct {
	Name, Device                   string
	LastSync, LastError            string
	Pending                        int
	Waiting                        uint64
	Today, Total                   string
	NeverSynced, Failing, HasError bool
}

func (s *Server) syncPage(r *http.Request, n *node.Node) (page, error) {
	st, err := s.syncState(r.Context(), n)
	if err != nil {
		return page{}, err
	}
	v := syncView{State: st, UsedText: sizeText(st.Budget.Used), Woken: r.URL.Query().Get("woken") == "1", Saved: r.URL.Query().Get("saved") == "1"}
	if st.Budget.DailyBytes > 0 {
		v.LimitText = sizeText(st.Budget.DailyBytes)
		v.BudgetMB = strconv.FormatFloat(float64(st.Budget.DailyBytes)/1e6, 'f', -1, 64)
	}
	for _, p := range st.Peers {
		row := syncRow{Name: p.Name, Device: shortID(p.Device), Pending: p.EntriesPending, Waiting: p.Waiting,
			Today: sizeText(p.BytesToday), Total: sizeText(int64(p.BytesIn + p.BytesOut)), LastError: p.LastError}
		if row.Name == "" {
			row.Name = row.Device
		}
		if p.LastSync.IsZero() {
			row.NeverSynced = true
		} else {
			row.LastSync = p.LastSync.Local().Format("2006-01-02 15:04")
		}
		if ev, ok := st.Last[p.Device]; ok && ev.Error != "" {
			row.LastError = ev.Error
		}
		row.HasError = row.LastError != ""
		v.Rows = append(v.Rows, row)
	}
	return page{Data: v}, nil
}

func (s *Server) webSync(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, err := s.syncPage(r, n)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.render(w, r, "sync.html", p)
}

// webBudget sets the budget from the form, in megabytes (1 MB = 10^6
// bytes, as metered plans count); empty or 0 removes it.
func (s *Server) webBudget(w http.ResponseWriter, r *http.Request, n *node.Node) {
	in := strings.TrimSpace(r.PostFormValue("megabytes"))
	var bytes int64
	var err error
	if in != "" {
		var mb float64
		mb, err = strconv.ParseFloat(strings.ReplaceAll(in, ",", "."), 64)
		if err != nil || mb < 0 || mb*1e6 > node.MaxDailyBytes {
			err = fmt.Errorf("%q is not a number of megabytes from 0 to %d", in, int64(node.MaxDailyBytes)/1_000_000)
		}
		bytes = int64(mb * 1e6)
	}
	if err == nil {
		err = n.SetDailyBudget(bytes)
	}
	if err != nil {
		p, perr := s.syncPage(r, n)
		if perr != nil {
			http.Error(w, perr.Error(), http.StatusInternalServerError)
			return
		}
		p.Error = err.Error()
		s.renderStatus(w, r, http.StatusBadRequest, "sync.html", p)
		return
	}
	http.Redirect(w, r, "/sync?saved=1", http.StatusSeeOther)
}

func (s *Server) webSyncNow(w http.ResponseWriter, r *http.Request, n *node.Node) {
	if !s.syncNow() {
		p, err := s.syncPage(r, n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		p.Error = "not_syncing"
		s.renderStatus(w, r, http.StatusConflict, "sync.html", p)
		return
	}
	http.Redirect(w, r, "/sync?woken=1", http.StatusSeeOther)
}

// sizeText writes a byte count for people: 0 B, 512 B, 3.4 kB, 12.5 MB.
func sizeText(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
