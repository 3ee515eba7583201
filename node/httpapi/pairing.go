package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

// Pairing phones. The laptop's own session makes a one-time code; a phone
// on the community Wi-Fi connects to the LAN listener (HTTPS with a
// self-signed certificate that the phone pins by its fingerprint), sends
// the code, and gets a device token: a bearer token for the same /api/v1/
// endpoints, with a role and areas that never exceed the laptop's. The
// flow and its errors are in docs/api.md, "Pairing phones".

const (
	// DefaultLANAddr is where ServeLAN listens unless told: every
	// interface, port 7422.
	DefaultLANAddr = ":7422"
	// PairCodeLife is how long a pairing code works.
	PairCodeLife = 10 * time.Minute
	// PairMaxTries is how many wrong codes void every code alive at the
	// time: a guesser gets this many tries per code.
	PairMaxTries = 5
	// DefaultDeviceDays and MaxDeviceDays bound a device token's life.
	DefaultDeviceDays = 30
	MaxDeviceDays     = 90
)

const (
	metaLANCert      = "lan-tls"        // the LAN listener's certificate and key
	metaPairedDevice = "paired-devices" // the device tokens, hashed
	maxLiveCodes     = 10
	maxPairedDevices = 100
	maxDeviceAreas   = 16
	maxDeviceName    = 64
	// A revoked or expired token is remembered this long, so that its
	// phone is told why it no longer works.
	forgetDevicesAfter = 180 * 24 * time.Hour
	// A token's last use is written to the store at most this often.
	lastUsedEvery = time.Minute
	// certRetry spaces attempts to load the certificate after a failure.
	certRetry = time.Minute
)

// pairingState is the Server's pairing state; s.mu guards it.
type pairingState struct {
	codes []*pairCode
	// cert is the LAN certificate, once loaded: it stays in memory after
	// the node locks, so paired phones reach the API (and are told it is
	// locked) without the passphrase.
	cert        *tls.Certificate
	fingerprint string
	certFailed  time.Time
	// lanURL is the LAN listener's address for phones, while it runs.
	lanURL string
}

// pairCode is a pairing code the laptop made, and what it grants.
type pairCode struct {
	code    string // 10 digits
	name    string
	role    string
	areas   []string
	days    int
	expires time.Time
	fails   int
	used    bool
	void    bool
}

// pairedDevice is a device token as kept in the store: the token itself
// only as its SHA-256.
type pairedDevice struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"`
	Name      string    `json:"name"`
	PhoneName string    `json:"phone_name,omitempty"`
	Role      string    `json:"role"`
	Areas     []string  `json:"areas,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Revoked   time.Time `json:"revoked,omitzero"`
}

// pairedView is a device token as the API shows it.
type pairedView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	PhoneName string     `json:"phone_name,omitempty"`
	Role      string     `json:"role"`
	Areas     []string   `json:"areas"` // null: every area this laptop holds
	Created   time.Time  `json:"created"`
	Expires   time.Time  `json:"expires_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	Revoked   *time.Time `json:"revoked_at,omitempty"`
	// State is active, expired or revoked.
	State string `json:"state"`
}

func (d *pairedDevice) state(now time.Time) string {
	switch {
	case !d.Revoked.IsZero():
		return "revoked"
	case !now.Before(d.Expires):
		return "expired"
	}
	return "active"
}

func (d *pairedDevice) view(now time.Time) pairedView {
	v := pairedView{ID: d.ID, Name: d.Name, PhoneName: d.PhoneName, Role: d.Role, Areas: d.Areas,
		Created: d.Created, Expires: d.Expires, State: d.state(now)}
	if !d.LastUsed.IsZero() {
		t := d.LastUsed
		v.LastUsed = &t
	}
	if !d.Revoked.IsZero() {
		t := d.Revoked
		v.Revoked = &t
	}
	return v
}

// pairingRoutes: pairing phones on the LAN and their device tokens.
func (s *Server) pairingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/pairing", s.wrap(true, guard(permLaptop, s.apiPairingCode)))
	mux.HandleFunc("GET /api/v1/pairing/devices", s.wrap(true, guard(permLaptop, s.apiPairedDevices)))
	mux.HandleFunc("DELETE /api/v1/pairing/devices/{id}", s.wrap(true, guard(permLaptop, s.apiPairedRevoke)))
	mux.HandleFunc("POST /api/v1/pair", s.wrap(false, s.apiPair))
	mux.HandleFunc("GET /pairing", s.webGuard(permLaptop, s.webPairing))
	mux.HandleFunc("POST /pairing", s.webGuard(permLaptop, s.webPairingCode))
	mux.HandleFunc("POST /pairing/revoke", s.webGuard(permLaptop, s.webPairedRevoke))
}

// ---- The LAN listener ----

type lanKey struct{}

// viaLAN reports whether a request came in on the LAN listener.
func viaLAN(ctx context.Context) bool {
	v, _ := ctx.Value(lanKey{}).(bool)
	return v
}

// ServeLAN serves the API to paired phones on addr (DefaultLANAddr: every
// interface, port 7422) over HTTPS, until ctx ends. It serves the /api/v1/
// endpoints only: never the web pages, never unlock or lock. The
// certificate is made once per node and kept in the encrypted store, so
// it is there only once the node has been unlocked since the process
// started; until then every TLS handshake fails, with the reason logged.
// started is called once listening, with the address phones use and the
// certificate's fingerprint ("" while not known yet: the pairing screen
// shows it after the unlock). ServeLAN does not lock the node when it
// ends; Serve does.
func (s *Server) ServeLAN(ctx context.Context, addr string, started func(url, fingerprint string)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--lan %q: %w", addr, err)
	}
	return s.serveLAN(ctx, l, s.Handler(), started)
}

func (s *Server) serveLAN(ctx context.Context, l net.Listener, h http.Handler, started func(url, fingerprint string)) error {
	url := lanURLOf(l.Addr())
	s.mu.Lock()
	s.pair.lanURL = url
	fp := s.pair.fingerprint
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.pair.lanURL = ""
		s.mu.Unlock()
	}()
	log := s.log.With("listener", "lan")
	srv := &http.Server{
		Handler: s.lanOnly(h),
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS13,
			MaxVersion:     tls.VersionTLS13,
			GetCertificate: s.lanCertificate,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if started != nil {
		started(url, fp)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			srv.Close()
		case <-done:
		}
	}()
	log.Info("serving paired phones", "url", url)
	err := srv.ServeTLS(l, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// lanURLOf is the address phones use: on a listener bound to every
// interface, this laptop's first private IPv4 address.
func lanURLOf(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "https://" + a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if lan := lanIP(); lan != "" {
			host = lan
		}
	}
	return "https://" + net.JoinHostPort(host, port)
}

func lanIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	var other string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() {
			continue
		}
		if n.IP.IsPrivate() {
			return n.IP.String()
		}
		if other == "" {
			other = n.IP.String()
		}
	}
	return other
}

// lanOnly lets through what phones may reach on the LAN: the API, but
// not unlock or lock, and not with the laptop's own session token.
func (s *Server) lanOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case !strings.HasPrefix(p, "/api/v1/") || path.Clean(p) != p:
			writeErr(w, fail(http.StatusNotFound, "not_found", "this address serves the API to paired phones only (/api/v1/); the web app is on the laptop"))
			return
		case p == "/api/v1/unlock" || p == "/api/v1/lock":
			writeErr(w, fail(http.StatusForbidden, "laptop_only", "the node is unlocked and locked on the laptop only"))
			return
		case s.laptopToken(r):
			writeErr(w, fail(http.StatusForbidden, "laptop_only", "the laptop's own session works on the laptop only: pair this phone on the laptop's Phones screen"))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), lanKey{}, true)))
	})
}

// laptopToken reports whether r carries the laptop's session token.
func (s *Server) laptopToken(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1
}

var errLANCertLocked = errors.New("the LAN certificate is kept in the encrypted store, and the node has not been unlocked since floe serve started: unlock it on the laptop, then phones can connect")

// lanCertificate is the LAN listener's GetCertificate.
func (s *Server) lanCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, err := s.lanCertLocked()
	if err != nil {
		from := ""
		if hello.Conn != nil {
			from = hello.Conn.RemoteAddr().String()
		}
		s.log.Warn("LAN: refusing a phone's connection", "from", from, "reason", err)
		return nil, err
	}
	return c, nil
}

// warmLANCertLocked loads the certificate, if it is not in memory yet,
// while the node is open: after the laptop's first unlock, phones connect
// even when the node has locked again.
func (s *Server) warmLANCertLocked() {
	if s.pair.cert != nil || s.n == nil || s.cfg.Now().Sub(s.pair.certFailed) < certRetry {
		return
	}
	if _, _, err := s.lanCertLocked(); err != nil {
		s.pair.certFailed = s.cfg.Now()
		s.log.Warn("LAN: loading the certificate", "err", err)
	}
}

// lanCertLocked is the LAN certificate and its fingerprint: from memory,
// or from the open node's store, made there the first time.
func (s *Server) lanCertLocked() (*tls.Certificate, string, error) {
	if s.pair.cert != nil {
		return s.pair.cert, s.pair.fingerprint, nil
	}
	if s.n == nil {
		return nil, "", errLANCertLocked
	}
	var kept struct{ Cert, Key []byte }
	b, err := s.n.Store().GetMeta(metaLANCert)
	switch {
	case errors.Is(err, sp.ErrNotFound):
		kept.Cert, kept.Key, err = newLANCert(s.cfg.Now())
		if err != nil {
			return nil, "", err
		}
		b, _ = json.Marshal(kept)
		if err := s.n.Store().PutMeta(metaLANCert, b); err != nil {
			return nil, "", fmt.Errorf("keeping the LAN certificate: %w", err)
		}
		s.log.Info("LAN: made this node's certificate", "fingerprint", fingerprintOf(kept.Cert))
	case err != nil:
		return nil, "", fmt.Errorf("reading the LAN certificate: %w", err)
	default:
		if err := json.Unmarshal(b, &kept); err != nil {
			return nil, "", fmt.Errorf("reading the LAN certificate: %w", err)
		}
	}
	key, err := x509.ParsePKCS8PrivateKey(kept.Key)
	if err != nil {
		return nil, "", fmt.Errorf("reading the LAN certificate's key: %w", err)
	}
	leaf, err := x509.ParseCertificate(kept.Cert)
	if err != nil {
		return nil, "", fmt.Errorf("reading the LAN certificate: %w", err)
	}
	s.pair.cert = &tls.Certificate{Certificate: [][]byte{kept.Cert}, PrivateKey: key, Leaf: leaf}
	s.pair.fingerprint = fingerprintOf(kept.Cert)
	return s.pair.cert, s.pair.fingerprint, nil
}

// newLANCert makes a self-signed ECDSA P-256 certificate. Phones check it
// by its fingerprint, not by its names or dates; it is valid for 30 years
// so that it never stops a pinned phone.
func newLANCert(now time.Time) (certDER, keyDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Floe node (pinned by fingerprint)"},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.AddDate(30, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	return certDER, keyDER, err
}

// fingerprintOf is the SHA-256 of a certificate's DER, as 16 groups of 4
// hex digits.
func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	return formatFingerprint(sum[:])
}

// formatFingerprint shows a SHA-256 as 16 groups of 4 hex digits.
func formatFingerprint(sum []byte) string {
	h := strings.ToUpper(hex.EncodeToString(sum))
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i:min(i+4, len(h))])
	}
	return b.String()
}

// parseFingerprint reads a fingerprint as shown, or with colons, dashes,
// other spacing or lower case.
func parseFingerprint(s string) ([]byte, error) {
	h := strings.Map(func(r rune) rune {
		if r == ' ' || r == ':' || r == '-' || r == '\t' {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("fingerprint %q: give the 64 hex digits shown on the laptop's pairing screen", s)
	}
	return b, nil
}

// PinnedClient is an HTTP client for a phone (or a test) that trusts the
// laptop's LAN listener only if its certificate has this fingerprint. It
// checks the fingerprint during the TLS handshake, before any request
// (a pairing code, a token) is sent.
func PinnedClient(fingerprint string) (*http.Client, error) {
	want, err := parseFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The certificate is self-signed: no authority vouches for it.
		// VerifyPeerCertificate checks it against the pinned fingerprint
		// instead, on every handshake (there is no session cache, so no
		// handshake is resumed without it).
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the laptop sent no certificate")
			}
			got := sha256.Sum256(raw[0])
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("the certificate's fingerprint is %s, not the %s expected: this is not the laptop the fingerprint came from, or something is in between; compare the fingerprint on the laptop's pairing screen", fingerprintOf(raw[0]), formatFingerprint(want))
			}
			return nil
		},
	}
	tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true, Proxy: nil,
		TLSHandshakeTimeout: 15 * time.Second, IdleConnTimeout: time.Minute}
	return &http.Client{Transport: tr, Timeout: time.Minute}, nil
}

// ---- Pairing codes ----

type pairingReq struct {
	Name  string   `json:"name"`
	Role  string   `json:"role"`
	Areas []string `json:"areas,omitempty"`
	Days  int      `json:"days,omitempty"`
}

type pairingCodeView struct {
	Code        string    `json:"code"`
	Expires     time.Time `json:"expires_at"`
	Fingerprint string    `json:"fingerprint"`
	// URL is the LAN listener's address for phones; "" when it is not
	// running.
	URL string `json:"url"`
}

func (s *Server) apiPairingCode(_ context.Context, n *node.Node, r *http.Request) (int, any, error) {
	var req pairingReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	v, err := s.makePairCode(n, req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, v, nil
}

// pairRoles are the roles a device token may carry on a node of role: the
// node's own, or one after it in node.Roles that reaches only endpoints
// and collections the node's role reaches. admin: every role;
// coordinator: all but admin; shelter-staff: itself and outreach-worker;
// trainer and outreach-worker: themselves.
func pairRoles(role string) []string {
	ni := slices.Index(node.Roles, role)
	if ni < 0 {
		return nil
	}
	mine := node.Cert{Role: role, Areas: []string{"*:*"}}
	var out []string
	for _, r := range node.Roles[ni:] {
		ok := true
		for _, p := range rolePerms[r] {
			ok = ok && slices.Contains(rolePerms[role], p)
		}
		theirs := node.Cert{Role: r, Areas: []string{"*:*"}}
		for _, coll := range []string{node.Directory, node.Outreach, node.Audit} {
			ok = ok && (!theirs.CanRead(coll, "") || mine.CanRead(coll, ""))
			if coll != node.Audit {
				ok = ok && (!theirs.CanWrite(coll, "") || mine.CanWrite(coll, ""))
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// pairAreas checks a token's areas: grants as certificates have them
// ("outreach:kivalliq/arviat", "kivalliq", "*:*"), each within one of the
// node's own grants. None given means every area the node holds.
func pairAreas(cert node.Cert, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > maxDeviceAreas {
		return nil, fail(http.StatusBadRequest, "bad_areas", "give at most %d areas", maxDeviceAreas)
	}
	var mine []node.Grant
	for _, a := range cert.Areas {
		if g, err := node.ParseGrant(a); err == nil {
			mine = append(mine, g)
		}
	}
	out := []string{}
	for _, a := range in {
		g, err := node.ParseGrant(a)
		if err != nil {
			return nil, fail(http.StatusBadRequest, "bad_areas", "%v", err)
		}
		if !slices.ContainsFunc(mine, func(m node.Grant) bool {
			return (m.Collection == "*" || m.Collection == g.Collection) && sp.AreaCovers(m.Area, g.Area)
		}) {
			return nil, fail(http.StatusBadRequest, "bad_areas", "area %s is outside this laptop's own areas (%s): a phone gets no more than the laptop", g, strings.Join(cert.Areas, ", "))
		}
		if !slices.Contains(out, g.String()) {
			out = append(out, g.String())
		}
	}
	return out, nil
}

// cleanName checks a device name: printable, at most 64 characters.
func cleanName(what, s string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" && required {
		return "", fail(http.StatusBadRequest, "bad_name", "give the %s, e.g. \"Annie's phone\"", what)
	}
	if utf8.RuneCountInString(s) > maxDeviceName || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", fail(http.StatusBadRequest, "bad_name", "the %s is at most %d printable characters", what, maxDeviceName)
	}
	return s, nil
}

// makePairCode makes a pairing code for what req asks.
func (s *Server) makePairCode(n *node.Node, req pairingReq) (pairingCodeView, error) {
	cert, ok := n.Cert()
	if !ok {
		return pairingCodeView{}, fail(http.StatusForbidden, "wrong_role", "this laptop is not yet admitted to the network, so it cannot pair phones")
	}
	name, err := cleanName("phone's name", req.Name, true)
	if err != nil {
		return pairingCodeView{}, err
	}
	if allowed := pairRoles(cert.Role); !slices.Contains(allowed, req.Role) {
		return pairingCodeView{}, fail(http.StatusBadRequest, "bad_role", "role %q: a phone paired with this laptop (role %s) may have one of: %s", req.Role, cert.Role, strings.Join(allowed, ", "))
	}
	areas, err := pairAreas(cert, req.Areas)
	if err != nil {
		return pairingCodeView{}, err
	}
	days := req.Days
	if days == 0 {
		days = DefaultDeviceDays
	}
	if days < 1 || days > MaxDeviceDays {
		return pairingCodeView{}, fail(http.StatusBadRequest, "bad_days", "days is from 1 to %d (default %d)", MaxDeviceDays, DefaultDeviceDays)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		return pairingCodeView{}, fail(http.StatusUnauthorized, "locked", "the node is locked: unlock it with the passphrase (POST /api/v1/unlock)")
	}
	now := s.cfg.Now()
	s.prunePairCodesLocked(now)
	live := 0
	for _, c := range s.pair.codes {
		if c.live(now) {
			live++
		}
	}
	if live >= maxLiveCodes {
		return pairingCodeView{}, fail(http.StatusTooManyRequests, "too_many_codes", "%d pairing codes are waiting already: use them, or wait for them to expire (%s)", live, PairCodeLife)
	}
	ds, err := loadPairedDevices(s.n)
	if err != nil {
		return pairingCodeView{}, err
	}
	if active := countActive(ds, now); active >= maxPairedDevices {
		return pairingCodeView{}, fail(http.StatusConflict, "too_many_devices", "%d phones are paired already: revoke some first", active)
	}
	_, fp, err := s.lanCertLocked()
	if err != nil {
		return pairingCodeView{}, err
	}
	var code string
	for code == "" || slices.ContainsFunc(s.pair.codes, func(c *pairCode) bool { return c.code == code }) {
		v, err := rand.Int(rand.Reader, big.NewInt(10_000_000_000))
		if err != nil {
			return pairingCodeView{}, err
		}
		code = fmt.Sprintf("%010d", v)
	}
	pc := &pairCode{code: code, name: name, role: req.Role, areas: areas, days: days, expires: now.Add(PairCodeLife)}
	s.pair.codes = append(s.pair.codes, pc)
	s.log.Info("pairing: made a code", "role", req.Role, "areas", areas, "days", days)
	return pairingCodeView{Code: code[:5] + "-" + code[5:], Expires: pc.expires, Fingerprint: fp, URL: s.pair.lanURL}, nil
}

func (c *pairCode) live(now time.Time) bool { return !c.used && !c.void && now.Before(c.expires) }

// prunePairCodesLocked forgets codes an hour after they expired (until
// then, a phone that sends one is told it expired).
func (s *Server) prunePairCodesLocked(now time.Time) {
	s.pair.codes = slices.DeleteFunc(s.pair.codes, func(c *pairCode) bool { return now.Sub(c.expires) > time.Hour })
}

func countActive(ds []pairedDevice, now time.Time) int {
	k := 0
	for i := range ds {
		if ds[i].state(now) == "active" {
			k++
		}
	}
	return k
}

// ---- Pairing a phone ----

type pairReq struct {
	Code string `json:"code"`
	Name string `json:"name,omitempty"`
}

type pairResp struct {
	Token       string    `json:"token"`
	TokenID     string    `json:"token_id"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	Areas       []string  `json:"areas"`
	Expires     time.Time `json:"expires_at"`
	Fingerprint string    `json:"fingerprint"`
}

// parsePairCode reads a code as typed: 10 digits, with or without the
// dash or spaces the laptop shows.
func parsePairCode(s string) (string, error) {
	c := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(c) != 10 || strings.ContainsFunc(c, func(r rune) bool { return r < '0' || r > '9' }) {
		return "", fail(http.StatusBadRequest, "bad_code", "a pairing code is the 10 digits shown on the laptop, e.g. 12345-67890")
	}
	return c, nil
}

func (s *Server) apiPair(ctx context.Context, _ *node.Node, r *http.Request) (int, any, error) {
	if !viaLAN(ctx) && !fromLoopback(r) {
		return 0, nil, fail(http.StatusForbidden, "laptop_only", "pair on the LAN listener (floe serve --lan)")
	}
	var req pairReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	code, err := parsePairCode(req.Code)
	if err != nil {
		return 0, nil, err
	}
	phone, err := cleanName("phone's own name", req.Name, false)
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	if s.n == nil {
		return 0, nil, errPhoneLocked()
	}
	now := s.cfg.Now()
	s.prunePairCodesLocked(now)
	var pc *pairCode
	for _, c := range s.pair.codes {
		if subtle.ConstantTimeCompare([]byte(c.code), []byte(code)) == 1 {
			pc = c
		}
	}
	switch {
	case pc == nil:
		voided := false
		for _, c := range s.pair.codes {
			if c.live(now) {
				c.fails++
				if c.fails >= PairMaxTries {
					c.void, voided = true, true
				}
			}
		}
		s.log.Warn("pairing: a wrong code", "from", r.RemoteAddr, "voided", voided)
		return 0, nil, fail(http.StatusUnauthorized, "wrong_code", "that is not a pairing code this laptop made: check the digits on the laptop's screen (after %d wrong codes, every waiting code is void)", PairMaxTries)
	case pc.used:
		return 0, nil, fail(http.StatusUnauthorized, "code_used", "this pairing code was used already: make a new one on the laptop")
	case pc.void:
		return 0, nil, fail(http.StatusUnauthorized, "code_void", "this pairing code was voided after %d wrong codes were tried: make a new one on the laptop", PairMaxTries)
	case !now.Before(pc.expires):
		return 0, nil, fail(http.StatusUnauthorized, "code_expired", "this pairing code expired at %s: make a new one on the laptop", pc.expires.Format("15:04"))
	}
	_, fp, err := s.lanCertLocked()
	if err != nil {
		return 0, nil, err
	}
	ds, err := loadPairedDevices(s.n)
	if err != nil {
		return 0, nil, err
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	id := make([]byte, 8)
	rand.Read(id)
	tok := hex.EncodeToString(raw)
	d := pairedDevice{ID: hex.EncodeToString(id), Hash: tokenHash(tok), Name: pc.name, PhoneName: phone, Role: pc.role, Areas: pc.areas,
		Created: now, Expires: now.Add(time.Duration(pc.days) * 24 * time.Hour), LastUsed: now}
	if err := savePairedDevices(s.n, append(ds, d), now); err != nil {
		return 0, nil, err
	}
	pc.used = true
	s.deviceUse = now
	s.log.Info("pairing: paired a phone", "token_id", d.ID, "role", d.Role, "areas", d.Areas, "expires", d.Expires)
	return http.StatusCreated, pairResp{Token: tok, TokenID: d.ID, Name: d.Name, Role: d.Role, Areas: d.Areas, Expires: d.Expires, Fingerprint: fp}, nil
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

func errPhoneLocked() *apiError {
	return fail(http.StatusUnauthorized, "locked", "the laptop is locked: someone must unlock it on the laptop")
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// ---- Device tokens ----

type pairedFile struct {
	Devices []pairedDevice `json:"devices"`
}

func loadPairedDevices(n *node.Node) ([]pairedDevice, error) {
	b, err := n.Store().GetMeta(metaPairedDevice)
	if errors.Is(err, sp.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f pairedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("reading the paired phones: %w", err)
	}
	return f.Devices, nil
}

// savePairedDevices keeps the tokens, forgetting those revoked or expired
// long ago.
func savePairedDevices(n *node.Node, ds []pairedDevice, now time.Time) error {
	ds = slices.DeleteFunc(ds, func(d pairedDevice) bool {
		end := d.Expires
		if !d.Revoked.IsZero() && d.Revoked.Before(end) {
			end = d.Revoked
		}
		return now.Sub(end) > forgetDevicesAfter
	})
	b, err := json.Marshal(pairedFile{Devices: ds})
	if err != nil {
		return err
	}
	return n.Store().PutMeta(metaPairedDevice, b)
}

// deviceSessionLocked looks a bearer token up among the device tokens; s.n
// is open. A token's use keeps the node open (see expireLocked).
func (s *Server) deviceSessionLocked(tok string) (caller, *apiError) {
	bad := fail(http.StatusUnauthorized, "bad_token", "missing or expired session token: unlock again (a phone: pair it again on the laptop)")
	if tok == "" {
		return caller{}, bad
	}
	ds, err := loadPairedDevices(s.n)
	if err != nil {
		s.log.Warn("reading the paired phones", "err", err)
		return caller{}, classify(err)
	}
	h := tokenHash(tok)
	i := -1
	for j := range ds {
		if subtle.ConstantTimeCompare([]byte(ds[j].Hash), []byte(h)) == 1 {
			i = j
		}
	}
	if i < 0 {
		return caller{}, bad
	}
	d := &ds[i]
	now := s.cfg.Now()
	switch d.state(now) {
	case "revoked":
		return caller{}, fail(http.StatusUnauthorized, "bad_token", "this phone's pairing (%s) was revoked on %s: pair it again on the laptop", d.Name, d.Revoked.Format(time.DateOnly))
	case "expired":
		return caller{}, fail(http.StatusUnauthorized, "bad_token", "this phone's pairing (%s) expired on %s: pair it again on the laptop", d.Name, d.Expires.Format(time.DateOnly))
	}
	if cert, ok := s.n.Cert(); !ok || !slices.Contains(pairRoles(cert.Role), d.Role) {
		return caller{}, fail(http.StatusUnauthorized, "bad_token", "this phone's pairing (%s) gives role %s, which this laptop's role no longer allows: pair it again on the laptop", d.Name, d.Role)
	}
	if now.Sub(d.LastUsed) >= lastUsedEvery {
		d.LastUsed = now
		if err := savePairedDevices(s.n, ds, now); err != nil {
			s.log.Warn("pairing: keeping a phone's last use", "err", err)
		}
	}
	s.deviceUse = now
	return caller{Device: d.Name, TokenID: d.ID, Role: d.Role, Areas: d.Areas}, nil
}

func (s *Server) pairedDevices() ([]pairedView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		return nil, fail(http.StatusUnauthorized, "locked", "the node is locked: unlock it with the passphrase (POST /api/v1/unlock)")
	}
	ds, err := loadPairedDevices(s.n)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := []pairedView{}
	for i := range ds {
		out = append(out, ds[i].view(now))
	}
	return out, nil
}

func (s *Server) revokePaired(id string) (pairedView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		return pairedView{}, fail(http.StatusUnauthorized, "locked", "the node is locked: unlock it with the passphrase (POST /api/v1/unlock)")
	}
	ds, err := loadPairedDevices(s.n)
	if err != nil {
		return pairedView{}, err
	}
	now := s.cfg.Now()
	i := slices.IndexFunc(ds, func(d pairedDevice) bool { return d.ID == id })
	if i < 0 {
		return pairedView{}, fail(http.StatusNotFound, "not_found", "no paired phone has the token ID %q (GET /api/v1/pairing/devices lists them)", id)
	}
	if ds[i].Revoked.IsZero() {
		ds[i].Revoked = now
		if err := savePairedDevices(s.n, ds, now); err != nil {
			return pairedView{}, err
		}
		s.log.Info("pairing: revoked a phone", "token_id", id)
	}
	return ds[i].view(now), nil
}

func (s *Server) apiPairedDevices(context.Context, *node.Node, *http.Request) (int, any, error) {
	v, err := s.pairedDevices()
	return http.StatusOK, v, err
}

func (s *Server) apiPairedRevoke(_ context.Context, _ *node.Node, r *http.Request) (int, any, error) {
	v, err := s.revokePaired(r.PathValue("id"))
	return http.StatusOK, v, err
}

// ---- Areas: what a paired phone reads and writes ----

// deviceCert is a paired device's reach in the node's own terms: its
// role, in its areas (every area when it has none).
func (c caller) deviceCert() *node.Cert {
	areas := c.Areas
	if areas == nil {
		areas = []string{"*:*"}
	}
	return &node.Cert{Role: c.Role, Areas: areas}
}

// covers reports whether c may read a record of area in coll. The
// laptop's session reads whatever the node holds; a paired device reads
// as a certificate of its role and areas would (network-wide records
// too).
func (c caller) covers(coll, area string) bool {
	return c.Laptop() || c.deviceCert().CanRead(coll, area)
}

// coversWrite reports whether c may write a record of area in coll.
func (c caller) coversWrite(coll, area string) bool {
	return c.Laptop() || c.deviceCert().CanWrite(coll, area)
}

// recordArea is the area a record was made in ("" for the whole
// network): the area its entries carry, bound to its ID.
func recordArea(ctx context.Context, n *node.Node, coll string, id sp.RecordID) (string, error) {
	es, err := n.Store().Record(ctx, coll, id)
	if err != nil {
		return "", err
	}
	for _, e := range es {
		if e.Area != "" {
			return e.Area, nil
		}
	}
	return "", nil
}

// shows reports whether c may see rec.
func (c caller) shows(ctx context.Context, n *node.Node, rec node.Record) bool {
	if c.Laptop() {
		return true
	}
	id, err := sp.ParseRecordID(rec.ID)
	if err != nil {
		return false
	}
	area, err := recordArea(ctx, n, rec.Collection, id)
	return err == nil && c.covers(rec.Collection, area)
}

// search is n.Search with only the records c may see.
func (c caller) search(ctx context.Context, n *node.Node, q string, limit int) ([]node.Record, error) {
	if c.Laptop() {
		return n.Search(ctx, q, limit)
	}
	rs, err := n.Search(ctx, q, 500)
	if err != nil {
		return nil, err
	}
	out := []node.Record{}
	for _, rec := range rs {
		if len(out) < limit && c.shows(ctx, n, rec) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// onlyConflicts keeps the conflicts on records c may see.
func (c caller) onlyConflicts(ctx context.Context, n *node.Node, cs []node.Conflict) []node.Conflict {
	if c.Laptop() {
		return cs
	}
	out := []node.Conflict{}
	for _, x := range cs {
		if c.shows(ctx, n, node.Record{Collection: x.Collection, ID: x.ID}) {
			out = append(out, x)
		}
	}
	return out
}

func (c caller) areaText() string {
	if c.Areas == nil {
		return "every area"
	}
	return strings.Join(c.Areas, ", ")
}

// checkWrite is the 403 for a paired device changing a record outside its
// role or areas.
func (c caller) checkWrite(ctx context.Context, n *node.Node, coll string, id sp.RecordID) error {
	if c.Laptop() {
		return nil
	}
	area, err := recordArea(ctx, n, coll, id)
	if err != nil {
		return err
	}
	if !c.coversWrite(coll, area) {
		return fail(http.StatusForbidden, "wrong_area", "the paired device %s (role %s, areas: %s) may not change this %s record: it is outside the device's reach", c.Device, c.Role, c.areaText(), coll)
	}
	return nil
}

// checkResolve is checkWrite for a conflict named as the resolve endpoint
// names it; a bad collection or ID is left for the resolve to report.
func (c caller) checkResolve(ctx context.Context, n *node.Node, coll, idArg string) error {
	if c.Laptop() {
		return nil
	}
	if _, err := node.SchemaFor(coll); err != nil {
		return nil
	}
	id, err := n.FindID(ctx, coll, idArg)
	if err != nil {
		return nil
	}
	return c.checkWrite(ctx, n, coll, id)
}

// add creates a record for c: a paired device with areas writes in the
// first of them that allows coll.
func (c caller) add(ctx context.Context, n *node.Node, coll string, ch []node.Change) (sp.RecordID, error) {
	if c.Laptop() {
		return n.Add(ctx, coll, ch)
	}
	for _, a := range c.deviceCert().Areas {
		g, err := node.ParseGrant(a)
		if err != nil || (g.Collection != "*" && g.Collection != coll) {
			continue
		}
		area := g.Area
		if area == "*" {
			area = n.DefaultArea(coll)
		}
		if c.coversWrite(coll, area) {
			return n.AddIn(ctx, coll, area, ch)
		}
	}
	return sp.RecordID{}, fail(http.StatusForbidden, "wrong_area", "the paired device %s (role %s, areas: %s) may write no %s records", c.Device, c.Role, c.areaText(), coll)
}

// ---- The pairing screen ----

type pairingPage struct {
	Roles       []string
	Form        map[string]string
	Code        string
	CodeExpires string
	Fingerprint string
	LANURL      string
	Devices     []pairedRow
	Revoked     bool
	NodeRole    string
}

type pairedRow struct {
	pairedView
	AreasText, ExpiresText, LastUsedText string
}

func (s *Server) pairingPage(r *http.Request, n *node.Node, form map[string]string) (page, *pairingPage) {
	d := &pairingPage{Form: form, Revoked: r.URL.Query().Get("revoked") == "1"}
	if cert, ok := n.Cert(); ok {
		d.Roles, d.NodeRole = pairRoles(cert.Role), cert.Role
	}
	if d.Form["role"] == "" && len(d.Roles) > 0 {
		d.Form["role"] = d.Roles[len(d.Roles)-1]
	}
	if d.Form["days"] == "" {
		d.Form["days"] = strconv.Itoa(DefaultDeviceDays)
	}
	s.mu.Lock()
	d.LANURL = s.pair.lanURL
	_, d.Fingerprint, _ = s.lanCertLocked()
	s.mu.Unlock()
	p := page{Data: d}
	vs, err := s.pairedDevices()
	if err != nil {
		p.Error = err.Error()
	}
	for _, v := range vs {
		row := pairedRow{pairedView: v, AreasText: strings.Join(v.Areas, ", "), ExpiresText: v.Expires.Format(time.DateOnly), LastUsedText: "—"}
		if v.Areas == nil {
			row.AreasText = "*"
		}
		if v.LastUsed != nil {
			row.LastUsedText = v.LastUsed.Format("2006-01-02 15:04")
		}
		d.Devices = append(d.Devices, row)
	}
	return p, d
}

func (s *Server) webPairing(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, _ := s.pairingPage(r, n, map[string]string{})
	s.render(w, r, "pairing.html", p)
}

func (s *Server) webPairingCode(w http.ResponseWriter, r *http.Request, n *node.Node) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form is too large or malformed", http.StatusBadRequest)
		return
	}
	form := map[string]string{}
	for _, f := range []string{"name", "role", "areas", "days"} {
		form[f] = strings.TrimSpace(r.PostFormValue(f))
	}
	req := pairingReq{Name: form["name"], Role: form["role"], Areas: strings.FieldsFunc(form["areas"], func(r rune) bool { return r == ',' || unicode.IsSpace(r) })}
	var err error
	if form["days"] != "" {
		if req.Days, err = strconv.Atoi(form["days"]); err != nil || req.Days == 0 {
			req.Days = -1 // refused below, with the reason
		}
	}
	v, err := s.makePairCode(n, req)
	p, d := s.pairingPage(r, n, form)
	if err != nil {
		p.Error = err.Error()
		w.WriteHeader(http.StatusBadRequest)
	} else {
		d.Code, d.CodeExpires, d.Fingerprint = v.Code, v.Expires.Format("15:04"), v.Fingerprint
		d.Form["name"] = ""
	}
	s.render(w, r, "pairing.html", p)
}

func (s *Server) webPairedRevoke(w http.ResponseWriter, r *http.Request, n *node.Node) {
	if _, err := s.revokePaired(r.PostFormValue("id")); err != nil {
		p, _ := s.pairingPage(r, n, map[string]string{})
		p.Error = err.Error()
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, r, "pairing.html", p)
		return
	}
	http.Redirect(w, r, "/pairing?revoked=1", http.StatusSeeOther)
}
