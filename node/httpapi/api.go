// Package httpapi is the node's local HTTP API and web app: versioned
// JSON endpoints for unlocking and locking the node, the directory,
// outreach records, conflicts, sync, packs, devices, reports and pairing,
// and the server-rendered pages that use them. It starts locked; an
// unlock with the passphrase opens the store and returns a session token,
// and the node locks itself again after an idle time (5 minutes by
// default). The laptop's session listens on loopback only; paired phones
// reach the API on the LAN over TLS with a pinned certificate
// (ServeLAN). The endpoints are in docs/api.md.
package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// DefaultIdleLock is how long the node stays unlocked with no request.
const DefaultIdleLock = 5 * time.Minute

// MaxBody caps a request body.
const MaxBody = 64 << 10

// Config configures a Server.
type Config struct {
	Dir     string
	Options node.Options
	// IdleLock locks the node after this long with no request; zero
	// means DefaultIdleLock.
	IdleLock time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Sync, if set, runs the sync daemon (node.Run) while the node is
	// unlocked, so the laptop syncs with its peers while the app is open.
	Sync *node.DaemonOptions
	// Backups, if set, writes scheduled backups while the node is
	// unlocked. A backup asked for by 'floe backup' from another window
	// is written whether or not this is set.
	Backups *node.BackupSchedule
}

// Server serves the API for one node directory.
type Server struct {
	cfg     Config
	mu      sync.Mutex
	n       *node.Node
	token   string
	lastUse time.Time
	log     *slog.Logger
	sync    syncDaemon // the sync daemon while unlocked (syncpage.go)
	// httpStats count the API's answers (metrics.go).
	httpStats httpCounters

	// lastUse is the laptop's session's last use; deviceUse is a paired
	// phone's, which keeps the node open after the laptop's session has
	// ended (expireLocked).
	deviceUse time.Time
	pair      pairingState // pairing codes, the LAN certificate (pairing.go)
}

// New makes a locked server.
func New(cfg Config) *Server {
	if cfg.IdleLock <= 0 {
		cfg.IdleLock = DefaultIdleLock
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: cfg.Logger.With("subsystem", "http")}
}

// apiError is every error response: a message for people and a stable
// code for programs.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (e *apiError) Error() string { return e.Message }

func fail(status int, code, format string, a ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// Handler is the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/unlock", s.wrap(false, s.unlock))
	mux.HandleFunc("POST /api/v1/lock", s.wrap(true, guard(permLaptop, s.lock)))
	mux.HandleFunc("GET /api/v1/status", s.wrap(true, guard(permRead, s.status)))
	mux.HandleFunc("GET /api/v1/directory", s.wrap(true, guard(permRead, s.directory)))
	mux.HandleFunc("GET /api/v1/directory/{id}", s.wrap(true, guard(permRead, s.record(node.Directory))))
	mux.HandleFunc("POST /api/v1/directory/{id}/reveal", s.wrap(true, guard(permReveal, s.reveal)))
	mux.HandleFunc("GET /api/v1/outreach", s.wrap(true, guard(permReadOutreach, s.list(node.Outreach))))
	mux.HandleFunc("POST /api/v1/outreach", s.wrap(true, guard(permWriteOutreach, s.add(node.Outreach))))
	mux.HandleFunc("GET /api/v1/outreach/{id}", s.wrap(true, guard(permReadOutreach, s.record(node.Outreach))))
	mux.HandleFunc("PATCH /api/v1/outreach/{id}", s.wrap(true, guard(permWriteOutreach, s.update(node.Outreach))))
	mux.HandleFunc("GET /api/v1/conflicts", s.wrap(true, guard(permRead, s.conflicts)))
	mux.HandleFunc("POST /api/v1/conflicts/resolve", s.wrap(true, guard(permResolve, s.resolve)))
	s.syncRoutes(mux)
	s.metricsRoutes(mux)
	s.packRoutes(mux)
	s.memberRoutes(mux)
	s.reportRoutes(mux)
	s.pairingRoutes(mux)
	s.webRoutes(mux)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, fail(http.StatusNotFound, "not_found", "no such endpoint: %s %s (see docs/api.md)", r.Method, r.URL.Path))
	})
	return secureHeaders(mux)
}

// secureHeaders sets the headers every answer carries, redirects and
// static files included: nothing is cached, nothing is framed or sniffed,
// no address leaks in a referrer, and pages load only this server's own
// assets. A page or an API answer may set them again.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

type handler func(ctx context.Context, n *node.Node, r *http.Request) (int, any, error)

// wrap checks the session (when auth), runs h with the open node, and
// writes its result or error as JSON. Bodies are capped at MaxBody.
func (s *Server) wrap(auth bool, h handler) http.HandlerFunc {
	return s.wrapLimit(auth, MaxBody, h)
}

// wrapLimit is wrap with another body cap (a pack upload is larger).
func (s *Server) wrapLimit(auth bool, limit int64, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.httpStats.requests.Add(1)
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		var n *node.Node
		if auth {
			var c caller
			var err *apiError
			if n, c, err = s.session(r); err != nil {
				s.httpStats.countErr(err.Status)
				writeErr(w, err)
				return
			}
			r = r.WithContext(withCaller(r.Context(), c))
		}
		status, v, err := h(r.Context(), n, r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = classify(err)
			}
			s.httpStats.countErr(ae.Status)
			writeErr(w, ae)
			return
		}
		writeJSON(w, status, v)
	}
}

// session checks the bearer token and touches the idle timer. The
// caller is the laptop's own session, with the node's role and areas, or
// a paired phone's device token (pairing.go), with the token's.
func (s *Server) session(r *http.Request) (*node.Node, caller, *apiError) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	if s.n == nil {
		if viaLAN(r.Context()) {
			return nil, caller{}, errPhoneLocked()
		}
		return nil, caller{}, fail(http.StatusUnauthorized, "locked", "the node is locked: unlock it with the passphrase (POST /api/v1/unlock)")
	}
	if ok && s.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1 {
		s.lastUse = s.cfg.Now()
		s.warmLANCertLocked()
		return s.n, laptopCaller(s.n), nil
	}
	// The web app's cookie is the laptop's session only, never a phone's.
	if _, err := r.Cookie(cookieName); err == nil || !ok {
		return nil, caller{}, fail(http.StatusUnauthorized, "bad_token", "missing or expired session token: unlock again")
	}
	c, err := s.deviceSessionLocked(tok)
	if err != nil {
		return nil, caller{}, err
	}
	return s.n, c, nil
}

// expireLocked locks the node when it has been idle too long: nobody,
// neither the laptop's session nor a paired phone, used it within the
// idle time. The laptop's session ends after the idle time of its own
// idleness even while phones keep the node open.
func (s *Server) expireLocked() {
	if s.n == nil {
		return
	}
	now := s.cfg.Now()
	laptopIdle := now.Sub(s.lastUse) > s.cfg.IdleLock
	if laptopIdle && now.Sub(s.deviceUse) > s.cfg.IdleLock {
		s.log.Info("idle: locking the node", "idle", s.cfg.IdleLock)
		s.closeLocked()
	} else if laptopIdle && s.token != "" {
		s.log.Info("idle: ending the laptop's session; paired phones keep the node open", "idle", s.cfg.IdleLock)
		s.token = ""
	}
}

func (s *Server) closeLocked() {
	s.stopDaemon()
	if s.n != nil {
		s.n.Lock()
	}
	s.n, s.token = nil, ""
}

// Tick locks the node if it has been idle too long; Run calls it.
func (s *Server) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
}

// Unlocked reports whether the node is open.
func (s *Server) Unlocked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n != nil
}

// Close locks the node.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

// DefaultAddr is where the API listens unless told: this laptop only.
const DefaultAddr = "127.0.0.1:7421"

// Serve runs the API on addr (a loopback address) until ctx ends,
// locking the node when it has been idle, and locking it at the end.
// started is called with the base URL once listening.
func (s *Server) Serve(ctx context.Context, addr string, started func(url string)) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--http %q: the app listens on this laptop only (127.0.0.1); phones connect through --lan after pairing", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: localGuard(s.Handler()), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	if started != nil {
		started("http://" + l.Addr().String())
	}
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				srv.Close()
				return
			case <-t.C:
				s.Tick()
			}
		}
	}()
	err = srv.Serve(l)
	s.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return fail(http.StatusRequestEntityTooLarge, "too_large", "the request body is over %d bytes", mb.Limit)
		}
		return fail(http.StatusBadRequest, "bad_json", "the request body is not the JSON expected: %v", err)
	}
	if dec.More() {
		return fail(http.StatusBadRequest, "bad_json", "the request body holds more than one JSON value")
	}
	return nil
}

type unlockReq struct {
	Passphrase string `json:"passphrase"`
}

func (s *Server) unlock(ctx context.Context, _ *node.Node, r *http.Request) (int, any, error) {
	var req unlockReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	tok, err := s.openSession(r, req.Passphrase)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"token": tok, "idle_lock_seconds": int(s.cfg.IdleLock.Seconds())}, nil
}

// openSession opens the node with the passphrase (or checks it, when open)
// and starts a new session, ending any other.
func (s *Server) openSession(r *http.Request, pass string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	if s.n == nil {
		n, err := node.Open(r.Context(), s.cfg.Dir, []byte(pass), s.cfg.Options)
		if err != nil {
			return "", err
		}
		s.n = n
		s.startDaemon(n)
	} else if err := store.CheckPassphrase(s.cfg.Dir, []byte(pass)); err != nil {
		return "", err
	}
	b := make([]byte, 32)
	rand.Read(b)
	s.token = hex.EncodeToString(b)
	s.lastUse = s.cfg.Now()
	return s.token, nil
}

func (s *Server) lock(context.Context, *node.Node, *http.Request) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return http.StatusOK, map[string]bool{"locked": true}, nil
}

func (s *Server) status(ctx context.Context, n *node.Node, _ *http.Request) (int, any, error) {
	st, err := n.Status(ctx)
	if !callerOf(ctx).Laptop() {
		// A phone needs no path on the laptop (it often holds a
		// person's name) nor where the peers are.
		st.Dir = ""
		for i := range st.Peers {
			st.Peers[i].Addrs = nil
		}
	}
	return http.StatusOK, st, err
}

func (s *Server) directory(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 1 || l > 500 {
			return 0, nil, fail(http.StatusBadRequest, "bad_query", "limit is a number from 1 to 500")
		}
		limit = l
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		return s.list(node.Directory)(ctx, n, r)
	}
	rs, err := callerOf(ctx).search(ctx, n, q, limit)
	if rs == nil {
		rs = []node.Record{}
	}
	return http.StatusOK, rs, err
}

func (s *Server) list(coll string) handler {
	return func(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
		out := []node.Record{}
		c := callerOf(ctx)
		err := n.List(ctx, coll, func(rec node.Record) error {
			if c.shows(ctx, n, rec) {
				out = append(out, rec)
			}
			return nil
		})
		return http.StatusOK, out, err
	}
}

func (s *Server) findID(ctx context.Context, n *node.Node, coll string, r *http.Request) (sp.RecordID, error) {
	id, err := n.FindID(ctx, coll, r.PathValue("id"))
	if err != nil {
		return id, fail(http.StatusNotFound, "not_found", "%v", err)
	}
	return id, nil
}

func (s *Server) record(coll string) handler {
	return func(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
		id, err := s.findID(ctx, n, coll, r)
		if err != nil {
			return 0, nil, err
		}
		rec, err := n.Get(ctx, coll, id, node.ReadOptions{})
		if err == nil && !callerOf(ctx).shows(ctx, n, rec) {
			return 0, nil, fail(http.StatusNotFound, "not_found", "no %s record %s in this device's areas", coll, id.Short())
		}
		return http.StatusOK, rec, err
	}
}

type revealReq struct {
	Field      string `json:"field"`
	Passphrase string `json:"passphrase"`
}

// reveal opens a sealed field for a member of its audience, after a fresh
// passphrase check; the node writes the audit record.
func (s *Server) reveal(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
	var req revealReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := store.CheckPassphrase(s.cfg.Dir, []byte(req.Passphrase)); err != nil {
		return 0, nil, err
	}
	id, err := s.findID(ctx, n, node.Directory, r)
	if err != nil {
		return 0, nil, err
	}
	rec, err := n.Get(ctx, node.Directory, id, node.ReadOptions{Reveal: []string{req.Field}})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"id": rec.ID, "field": req.Field, "value": rec.Get(req.Field)}, nil
}

type fieldsReq struct {
	Fields map[string]string `json:"fields"`
}

// fieldsOf reads a {"fields": {...}} body as changes.
func fieldsOf(r *http.Request) ([]node.Change, error) {
	var req fieldsReq
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.Fields) == 0 {
		return nil, fail(http.StatusBadRequest, "bad_fields", "give fields, e.g. {\"fields\": {\"date\": \"2026-11-20\"}}")
	}
	var out []node.Change
	for k, v := range req.Fields {
		out = append(out, node.Change{Field: k, Value: v})
	}
	return out, nil
}

func (s *Server) add(coll string) handler {
	return func(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
		ch, err := fieldsOf(r)
		if err != nil {
			return 0, nil, err
		}
		id, err := callerOf(ctx).add(ctx, n, coll, ch)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, map[string]string{"id": id.String()}, nil
	}
}

func (s *Server) update(coll string) handler {
	return func(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
		ch, err := fieldsOf(r)
		if err != nil {
			return 0, nil, err
		}
		id, err := s.findID(ctx, n, coll, r)
		if err != nil {
			return 0, nil, err
		}
		if err := callerOf(ctx).checkWrite(ctx, n, coll, id); err != nil {
			return 0, nil, err
		}
		if err := n.Update(ctx, coll, id, ch); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]string{"id": id.String()}, nil
	}
}

func (s *Server) conflicts(ctx context.Context, n *node.Node, _ *http.Request) (int, any, error) {
	cs, err := n.Conflicts(ctx)
	cs = callerOf(ctx).onlyConflicts(ctx, n, cs)
	if cs == nil {
		cs = []node.Conflict{}
	}
	return http.StatusOK, cs, err
}

// classify maps node and store errors to statuses.
func classify(err error) *apiError {
	var fe *node.FieldError
	switch {
	case errors.Is(err, store.ErrWrongPassphrase):
		return fail(http.StatusUnauthorized, "wrong_passphrase", "%v", err)
	case errors.As(err, &fe):
		return fail(http.StatusBadRequest, "bad_field", "%v", err)
	case errors.Is(err, node.ErrNotAllowed), errors.Is(err, node.ErrRevoked):
		return fail(http.StatusForbidden, "not_allowed", "%v", err)
	case errors.Is(err, node.ErrNoAudienceKey):
		return fail(http.StatusForbidden, "no_key", "%v", err)
	case errors.Is(err, node.ErrDeleted):
		return fail(http.StatusConflict, "deleted", "%v", err)
	case errors.Is(err, store.ErrWiped), errors.Is(err, store.ErrNoNode):
		return fail(http.StatusGone, "no_node", "%v", err)
	}
	return fail(http.StatusInternalServerError, "internal", "%v", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, e)
}

type resolveReq struct {
	Collection string `json:"collection"`
	ID         string `json:"id"`
	Field      string `json:"field"`
	Keep       string `json:"keep,omitempty"`  // an entry hash (or its prefix) from /conflicts
	Value      string `json:"value,omitempty"` // or a new value
}

func (s *Server) resolve(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
	var req resolveReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := callerOf(ctx).checkResolve(ctx, n, req.Collection, req.ID); err != nil {
		return 0, nil, err
	}
	if err := resolve(r, n, req.Collection, req.ID, req.Field, req.Keep, req.Value); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return 0, nil, err
		}
		if strings.Contains(err.Error(), "no ") || strings.Contains(err.Error(), "say which") || strings.Contains(err.Error(), "unknown collection") || strings.Contains(err.Error(), "matches more") {
			return 0, nil, fail(http.StatusBadRequest, "bad_resolve", "%v", err)
		}
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"resolved": true}, nil
}
