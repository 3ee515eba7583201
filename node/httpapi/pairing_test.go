package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

// pairClock is the server's clock, safe to move while the server runs.
type pairClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *pairClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *pairClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// pairLogs collects the server's log.
type pairLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *pairLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *pairLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// pairFix is a laptop (the fixture's server on loopback) with its LAN
// listener running on 127.0.0.1, and routes guarded as the members and
// reports screens are.
type pairFix struct {
	*fixture
	clock  *pairClock
	logs   *pairLogs
	lanURL string
	lanFP  string // the fingerprint ServeLAN reported when it started
}

func newPairFix(t *testing.T) *pairFix {
	return pairFixOn(t, newFixture(t))
}

func pairFixOn(t *testing.T, f *fixture) *pairFix {
	p := &pairFix{fixture: f, clock: &pairClock{t: f.now}, logs: &pairLogs{}}
	f.srv.cfg.Now = p.clock.Now
	f.srv.log = slog.New(slog.NewTextHandler(p.logs, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ok := func(context.Context, *node.Node, *http.Request) (int, any, error) {
		return http.StatusOK, map[string]bool{"ok": true}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/", f.srv.Handler())
	mux.HandleFunc("GET /api/v1/test/members", f.srv.wrap(true, guard(permMembersRead, ok)))
	mux.HandleFunc("GET /api/v1/test/reports", f.srv.wrap(true, guard(permReports, ok)))
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- f.srv.serveLAN(ctx, l, mux, func(url, fp string) { started <- [2]string{url, fp} })
	}()
	s := <-started
	p.lanURL, p.lanFP = s[0], s[1]
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the LAN listener: %v", err)
		}
	})
	return p
}

// pairCall is request with no Content-Type, and every answer searched
// for the planted location.
func pairCall(t *testing.T, c *http.Client, base, token, method, path, body string) (int, map[string]any, []byte) {
	t.Helper()
	resp, m, raw := request(t, c, base, token, method, path, "", []byte(body))
	noLeak(t, method+" "+path, raw)
	return resp.StatusCode, m, raw
}

// noRedirects is a client that shows each redirect rather than follow it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// directoryWith asks the laptop's web app for the directory with session
// as its cookie; it returns the status and where a redirect leads.
func (p *pairFix) directoryWith(session string) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.ts.URL+"/directory", nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: session})
	resp, err := noRedirects.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// laptop calls the API on loopback with the laptop's session.
func (p *pairFix) laptop(method, path, body string) (int, map[string]any, []byte) {
	p.t.Helper()
	return p.call(method, path, "", []byte(body))
}

// phone calls the LAN listener with a pinned client.
func (p *pairFix) phone(c *http.Client, token, method, path, body string) (int, map[string]any, []byte) {
	p.t.Helper()
	return pairCall(p.t, c, p.lanURL, token, method, path, body)
}

// code has the laptop make a pairing code.
func (p *pairFix) code(body string) (code, fingerprint string) {
	p.t.Helper()
	st, m, raw := p.laptop("POST", "/api/v1/pairing", body)
	if st != 201 {
		p.t.Fatalf("making a pairing code: %d %s", st, raw)
	}
	return m["code"].(string), m["fingerprint"].(string)
}

// pair pairs a phone as body asks and returns its client and token.
func (p *pairFix) pair(body string) (*http.Client, string, map[string]any) {
	p.t.Helper()
	code, fp := p.code(body)
	c, err := PinnedClient(fp)
	if err != nil {
		p.t.Fatal(err)
	}
	st, m, raw := p.phone(c, "", "POST", "/api/v1/pair", `{"code":"`+code+`","name":"Pixel 7"}`)
	if st != 201 {
		p.t.Fatalf("pairing: %d %s", st, raw)
	}
	return c, m["token"].(string), m
}

// The whole flow over the LAN listener: the laptop makes a code, a phone
// that pins the wrong fingerprint sends nothing, the right one pairs, its
// token reads and writes, the code works once, and a revoked token is
// refused with the reason.
func TestPairingFlow(t *testing.T) {
	p := newPairFix(t)
	p.unlock()
	if p.lanFP != "" {
		t.Fatalf("ServeLAN knew the fingerprint before the node was unlocked: %q", p.lanFP)
	}
	st, m, raw := p.laptop("POST", "/api/v1/pairing", `{"name":"Annie's phone","role":"outreach-worker"}`)
	if st != 201 {
		t.Fatalf("making a code: %d %s", st, raw)
	}
	code, fp := m["code"].(string), m["fingerprint"].(string)
	if !regexp.MustCompile(`^[0-9]{5}-[0-9]{5}$`).MatchString(code) {
		t.Fatalf("the code %q is not 10 digits shown as 5-5", code)
	}
	if m["url"] != p.lanURL || m["expires_at"] != p.clock.Now().Add(10*time.Minute).Format(time.RFC3339) {
		t.Fatalf("the code's URL or expiry: %v (LAN at %s)", m, p.lanURL)
	}
	if !regexp.MustCompile(`^([0-9A-F]{4} ){15}[0-9A-F]{4}$`).MatchString(fp) {
		t.Fatalf("the fingerprint %q is not 16 groups of 4 hex digits", fp)
	}
	// The fingerprint is the one of the certificate the listener serves.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(p.lanURL, "https://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	served := conn.ConnectionState().PeerCertificates[0].Raw
	if conn.ConnectionState().Version != tls.VersionTLS13 {
		t.Fatalf("TLS version %x, not 1.3", conn.ConnectionState().Version)
	}
	conn.Close()
	if fingerprintOf(served) != fp {
		t.Fatalf("the pairing screen shows %s, the listener serves %s", fp, fingerprintOf(served))
	}

	// A phone pinning another fingerprint refuses the connection before
	// it sends the code.
	other := fingerprintOf([]byte("another laptop's certificate"))
	bad, err := PinnedClient(other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Post(p.lanURL+"/api/v1/pair", "application/json", strings.NewReader(`{"code":"`+code+`"}`))
	if err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("a phone pinning another fingerprint connected: %v", err)
	}
	if _, err := PinnedClient("12 34"); err == nil {
		t.Fatal("a fingerprint of 4 digits was taken")
	}

	// The right fingerprint pairs, with the code typed without the dash.
	phone, err := PinnedClient(strings.ToLower(fp))
	if err != nil {
		t.Fatal(err)
	}
	st, m, raw = p.phone(phone, "", "POST", "/api/v1/pair", `{"code":"`+strings.ReplaceAll(code, "-", " ")+`","name":"Pixel 7"}`)
	if st != 201 {
		t.Fatalf("pairing with the right fingerprint: %d %s", st, raw)
	}
	tok, id := m["token"].(string), m["token_id"].(string)
	if len(tok) != 64 || id == "" || m["role"] != "outreach-worker" || m["areas"] != nil || m["fingerprint"] != fp ||
		m["expires_at"] != p.clock.Now().Add(30*24*time.Hour).Format(time.RFC3339) {
		t.Fatalf("the pairing's answer: %s", raw)
	}

	// The token reads and writes on the LAN.
	st, _, raw = p.phone(phone, tok, "GET", "/api/v1/directory?q=shelter", "")
	var rs []node.Record
	json.Unmarshal(raw, &rs)
	if st != 200 || len(rs) == 0 {
		t.Fatalf("a search by the phone: %d %s", st, raw)
	}
	if st, m, _ := p.phone(phone, tok, "POST", "/api/v1/outreach", `{"fields":{"date":"2026-11-24","community":"Arviat","contact":"phone","subject":"S-7K3Q"}}`); st != 201 {
		t.Fatalf("an outreach record from the phone: %d %v", st, m)
	}

	// The code works once.
	if st, m, _ := p.phone(phone, "", "POST", "/api/v1/pair", `{"code":"`+code+`"}`); st != 401 || m["code"] != "code_used" || !strings.Contains(m["error"].(string), "make a new one on the laptop") {
		t.Fatalf("a code used twice: %d %v", st, m)
	}

	// The token is kept hashed; the list shows the phone, not its token.
	st, _, raw = p.laptop("GET", "/api/v1/pairing/devices", "")
	var ds []pairedView
	json.Unmarshal(raw, &ds)
	if st != 200 || len(ds) != 1 || ds[0].ID != id || ds[0].Name != "Annie's phone" || ds[0].PhoneName != "Pixel 7" || ds[0].State != "active" || ds[0].LastUsed == nil {
		t.Fatalf("the paired phones: %d %s", st, raw)
	}
	p.srv.mu.Lock()
	kept, err := p.srv.n.Store().GetMeta(metaPairedDevice)
	p.srv.mu.Unlock()
	sum := sha256.Sum256([]byte(tok))
	if err != nil || bytes.Contains(kept, []byte(tok)) || bytes.Contains(raw, []byte(tok)) || !bytes.Contains(kept, []byte(tokenHash(tok))) || tokenHash(tok) != hex.EncodeToString(sum[:]) {
		t.Fatalf("the token is not kept as its hash only (%v)", err)
	}

	// A device token is not a web session, and the laptop's session is
	// not for the LAN.
	if st, where := p.directoryWith(tok); st != http.StatusSeeOther || where != "/" {
		t.Fatalf("the web app took a phone's token as its cookie: %d %s", st, where)
	}
	if st, m, _ := p.phone(phone, p.token, "GET", "/api/v1/status", ""); st != 403 || m["code"] != "laptop_only" {
		t.Fatalf("the laptop's session over the LAN: %d %v", st, m)
	}

	// Revoked: the phone is told so, and why.
	if st, m, _ := p.laptop("DELETE", "/api/v1/pairing/devices/"+id, ""); st != 200 || m["state"] != "revoked" {
		t.Fatalf("revoking: %d %v", st, m)
	}
	st, m, _ = p.phone(phone, tok, "GET", "/api/v1/directory", "")
	if st != 401 || m["code"] != "bad_token" || !strings.Contains(m["error"].(string), "revoked on 2026-11-25: pair it again on the laptop") {
		t.Fatalf("a revoked token: %d %v", st, m)
	}
	if st, m, _ := p.laptop("DELETE", "/api/v1/pairing/devices/0000", ""); st != 404 {
		t.Fatalf("revoking an unknown phone: %d %v", st, m)
	}
}

// Guessing is limited: five wrong codes void every code then waiting; a
// code expires after 10 minutes; a code that is not 10 digits is not a
// guess.
func TestPairingCodeRules(t *testing.T) {
	p := newPairFix(t)
	p.srv.cfg.IdleLock = time.Hour // the clock moves past a code's life below
	p.unlock()
	a, fp := p.code(`{"name":"A","role":"outreach-worker"}`)
	b, _ := p.code(`{"name":"B","role":"trainer"}`)
	phone, _ := PinnedClient(fp)
	for i := range 5 {
		if st, m, _ := p.phone(phone, "", "POST", "/api/v1/pair", `{"code":"12345"}`); st != 400 || m["code"] != "bad_code" {
			t.Fatalf("a code of 5 digits: %d %v", st, m)
		}
		wrong := "0000000000"
		if a == "00000-00000" || b == "00000-00000" {
			wrong = "1111111111"
		}
		st, m, _ := p.phone(phone, "", "POST", "/api/v1/pair", `{"code":"`+wrong+`"}`)
		if st != 401 || m["code"] != "wrong_code" {
			t.Fatalf("wrong code %d: %d %v", i+1, st, m)
		}
	}
	for _, c := range []string{a, b} {
		st, m, _ := p.phone(phone, "", "POST", "/api/v1/pair", `{"code":"`+c+`"}`)
		if st != 401 || m["code"] != "code_void" || !strings.Contains(m["error"].(string), "make a new one on the laptop") {
			t.Fatalf("a code after 5 wrong tries: %d %v", st, m)
		}
	}
	// A code made after that starts afresh.
	c, _ := p.code(`{"name":"C","role":"outreach-worker"}`)
	if st, m, _ := p.phone(phone, "", "POST", "/api/v1/pair", `{"code":"`+c+`"}`); st != 201 {
		t.Fatalf("a new code after the voiding: %d %v", st, m)
	}

	// Expired after 10 minutes.
	d, _ := p.code(`{"name":"D","role":"outreach-worker"}`)
	p.clock.Add(10*time.Minute + time.Second)
	st, m, _ := p.phone(phone, "", "POST", "/api/v1/pair", `{"code":"`+d+`"}`)
	if st != 401 || m["code"] != "code_expired" || !strings.Contains(m["error"].(string), "expired at 09:10: make a new one on the laptop") {
		t.Fatalf("an expired code: %d %v", st, m)
	}

	// What the laptop may ask for.
	for body, want := range map[string]string{
		`{"name":"x","role":"root"}`:                                  "bad_role",
		`{"name":"","role":"trainer"}`:                                "bad_name",
		`{"name":"x","role":"trainer","days":91}`:                     "bad_days",
		`{"name":"x","role":"trainer","areas":["outreach:Kivalliq"]}`: "bad_areas",
		`{"name":"x","role":"trainer","extra":1}`:                     "bad_json",
	} {
		if st, m, _ := p.laptop("POST", "/api/v1/pairing", body); st != 400 || m["code"] != want {
			t.Errorf("%s: %d %v, want 400 %s", body, st, m, want)
		}
	}
}

// A phone never gets more than its laptop: a coordinator's laptop pairs
// no admin phone; an outreach worker's laptop in Kivalliq pairs only
// outreach workers, only in Kivalliq.
func TestPairingWithinTheLaptopsRole(t *testing.T) {
	want := map[string][]string{
		node.RoleAdmin:        {"admin", "coordinator", "shelter-staff", "trainer", "outreach-worker"},
		node.RoleCoordinator:  {"coordinator", "shelter-staff", "trainer", "outreach-worker"},
		node.RoleShelterStaff: {"shelter-staff", "outreach-worker"},
		node.RoleTrainer:      {"trainer"},
		node.RoleOutreach:     {"outreach-worker"},
	}
	for role, roles := range want {
		if got := strings.Join(pairRoles(role), ","); got != strings.Join(roles, ",") {
			t.Errorf("a %s laptop pairs %s, want %s", role, got, strings.Join(roles, ","))
		}
	}
	f := newFixture(t)
	// An outreach worker's laptop in Kivalliq, with a LAN listener of its own.
	p := pairFixOn(t, joinLaptop(t, f, node.RoleOutreach, "outreach:kivalliq", "directory:*"))
	p.unlock()
	if st, m, _ := p.laptop("POST", "/api/v1/pairing", `{"name":"x","role":"coordinator"}`); st != 400 || m["code"] != "bad_role" || !strings.Contains(m["error"].(string), "outreach-worker") {
		t.Fatalf("a coordinator phone from an outreach worker's laptop: %d %v", st, m)
	}
	if st, m, _ := p.laptop("POST", "/api/v1/pairing", `{"name":"x","role":"outreach-worker","areas":["outreach:qikiqtaaluk"]}`); st != 400 || m["code"] != "bad_areas" {
		t.Fatalf("an area outside the laptop's: %d %v", st, m)
	}
	if st, m, _ := p.laptop("POST", "/api/v1/pairing", `{"name":"x","role":"outreach-worker","areas":["*:*"]}`); st != 400 || m["code"] != "bad_areas" {
		t.Fatalf("every area, from a laptop with some: %d %v", st, m)
	}
	_, _, m := p.pair(`{"name":"x","role":"outreach-worker","areas":["outreach:kivalliq/arviat"],"days":90}`)
	if areas, _ := m["areas"].([]any); len(areas) != 1 || areas[0] != "outreach:kivalliq/arviat" {
		t.Fatalf("the phone's areas: %v", m)
	}
}

// A phone with the outreach-worker role reaches what that role reaches,
// and never the laptop's own endpoints, a reveal, members or reports.
func TestPairedPhoneRole(t *testing.T) {
	p := newPairFix(t)
	p.unlock()
	phone, tok, _ := p.pair(`{"name":"Annie's phone","role":"outreach-worker"}`)
	_, _, raw := p.phone(phone, tok, "GET", "/api/v1/directory?q=shelter", "")
	var rs []node.Record
	json.Unmarshal(raw, &rs)
	shelter := ""
	for _, r := range rs {
		if r.Get("kind") == "shelter" {
			shelter = r.ID
		}
	}
	if shelter == "" {
		t.Fatalf("no shelter in %s", raw)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/pairing", `{"name":"y","role":"outreach-worker"}`},
		{"GET", "/api/v1/pairing/devices", ""},
		{"POST", "/api/v1/directory/" + shelter + "/reveal", `{"field":"location","passphrase":"` + pass + `"}`},
		{"GET", "/api/v1/test/members", ""},
		{"GET", "/api/v1/test/reports", ""},
	} {
		if st, m, _ := p.phone(phone, tok, c.method, c.path, c.body); st != 403 || m["code"] != "wrong_role" {
			t.Errorf("%s %s by an outreach worker's phone: %d %v", c.method, c.path, st, m)
		}
	}
	// The same routes let an admin's phone through, but the laptop's own
	// endpoints and the reveal still not.
	admin, atok, _ := p.pair(`{"name":"Admin's phone","role":"admin"}`)
	if st, m, _ := p.phone(admin, atok, "GET", "/api/v1/test/members", ""); st != 200 {
		t.Fatalf("the members route for an admin's phone: %d %v", st, m)
	}
	if st, m, _ := p.phone(admin, atok, "POST", "/api/v1/directory/"+shelter+"/reveal", `{"field":"location","passphrase":"`+pass+`"}`); st != 403 || m["code"] != "wrong_role" {
		t.Fatalf("a reveal from an admin's phone: %d %v", st, m)
	}
	// A trainer's phone reads the directory but no outreach record.
	trainer, ttok, _ := p.pair(`{"name":"Trainer's phone","role":"trainer"}`)
	if st, m, _ := p.phone(trainer, ttok, "GET", "/api/v1/outreach", ""); st != 403 || m["code"] != "wrong_role" {
		t.Fatalf("outreach records for a trainer's phone: %d %v", st, m)
	}
}

// A phone limited to Kivalliq sees Kivalliq's records and the
// network-wide ones, writes in Kivalliq, and changes nothing elsewhere.
func TestPairedPhoneAreas(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n, err := node.Open(ctx, f.srv.cfg.Dir, []byte(pass), f.srv.cfg.Options)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]sp.RecordID{}
	for key, area := range map[string]string{"arviat": "kivalliq/arviat", "iqaluit": "qikiqtaaluk/iqaluit"} {
		community := strings.ToUpper(key[:1]) + key[1:]
		id, err := n.AddIn(ctx, node.Directory, area, []node.Change{{Field: "name", Value: community + " wellness centre"}, {Field: "kind", Value: "health"}})
		if err != nil {
			t.Fatal(err)
		}
		ids["dir-"+key] = id
		id, err = n.AddIn(ctx, node.Outreach, area, []node.Change{{Field: "date", Value: "2026-11-20"}, {Field: "community", Value: community}, {Field: "contact", Value: "phone"}, {Field: "subject", Value: "S-7K3Q"}})
		if err != nil {
			t.Fatal(err)
		}
		ids["out-"+key] = id
	}
	n.Close()
	p := pairFixOn(t, f)
	p.unlock()
	phone, tok, _ := p.pair(`{"name":"Arviat phone","role":"outreach-worker","areas":["kivalliq"]}`)

	has := func(raw []byte, id sp.RecordID) bool { return bytes.Contains(raw, []byte(id.String())) }
	_, _, raw := p.phone(phone, tok, "GET", "/api/v1/outreach", "")
	if !has(raw, ids["out-arviat"]) || has(raw, ids["out-iqaluit"]) {
		t.Fatalf("the phone's outreach records: %s", raw)
	}
	_, _, raw = p.phone(phone, tok, "GET", "/api/v1/directory", "")
	if !has(raw, ids["dir-arviat"]) || has(raw, ids["dir-iqaluit"]) || !bytes.Contains(raw, []byte("Kids Help Phone")) {
		t.Fatalf("the phone's directory (Arviat and the network-wide hotlines, not Iqaluit): %s", raw)
	}
	if _, _, raw := p.phone(phone, tok, "GET", "/api/v1/directory?q=wellness", ""); !has(raw, ids["dir-arviat"]) || has(raw, ids["dir-iqaluit"]) {
		t.Fatalf("the phone's search: %s", raw)
	}
	for _, k := range []string{"dir-iqaluit", "out-iqaluit"} {
		coll := map[bool]string{true: "directory", false: "outreach"}[strings.HasPrefix(k, "dir")]
		if st, m, _ := p.phone(phone, tok, "GET", "/api/v1/"+coll+"/"+ids[k].String(), ""); st != 404 {
			t.Fatalf("%s from the phone: %d %v", k, st, m)
		}
	}
	if st, m, _ := p.phone(phone, tok, "GET", "/api/v1/outreach/"+ids["out-arviat"].String(), ""); st != 200 {
		t.Fatalf("the Arviat record from the phone: %d %v", st, m)
	}
	// The laptop sees both.
	if _, _, raw := p.laptop("GET", "/api/v1/outreach", ""); !has(raw, ids["out-arviat"]) || !has(raw, ids["out-iqaluit"]) {
		t.Fatalf("the laptop's outreach records: %s", raw)
	}

	// Writes: in the phone's area, never outside.
	st, m, _ := p.phone(phone, tok, "POST", "/api/v1/outreach", `{"fields":{"date":"2026-11-24","community":"Arviat","contact":"phone","subject":"S-7K3Q"}}`)
	if st != 201 {
		t.Fatalf("a record from the phone: %d %v", st, m)
	}
	id, _ := sp.ParseRecordID(m["id"].(string))
	p.srv.mu.Lock()
	area, err := recordArea(ctx, p.srv.n, node.Outreach, id)
	p.srv.mu.Unlock()
	if err != nil || area != "kivalliq" {
		t.Fatalf("the phone's record is in area %q (%v), want kivalliq", area, err)
	}
	if st, m, _ := p.phone(phone, tok, "PATCH", "/api/v1/outreach/"+ids["out-iqaluit"].String(), `{"fields":{"contact":"in-person"}}`); st != 403 || m["code"] != "wrong_area" {
		t.Fatalf("an Iqaluit record changed from the Arviat phone: %d %v", st, m)
	}
	if st, m, _ := p.phone(phone, tok, "PATCH", "/api/v1/outreach/"+ids["out-arviat"].String(), `{"fields":{"contact":"in-person"}}`); st != 200 {
		t.Fatalf("the Arviat record changed from the phone: %d %v", st, m)
	}
	if st, m, _ := p.phone(phone, tok, "POST", "/api/v1/conflicts/resolve", `{"collection":"outreach","id":"`+ids["out-iqaluit"].String()+`","field":"contact","value":"video"}`); st != 403 || m["code"] != "wrong_area" {
		t.Fatalf("a resolve on an Iqaluit record from the Arviat phone: %d %v", st, m)
	}
	_, _, raw = p.laptop("GET", "/api/v1/outreach/"+ids["out-iqaluit"].String(), "")
	if bytes.Contains(raw, []byte("in-person")) || bytes.Contains(raw, []byte("video")) {
		t.Fatalf("the Iqaluit record was changed: %s", raw)
	}
}

// The LAN listener serves the API to phones and nothing else: no web
// page, no unlock or lock, no plain HTTP, no TLS below 1.3, and no
// certificate at all before the node's first unlock. The certificate
// outlives a restart.
func TestLANServesOnlyTheAPI(t *testing.T) {
	f := newFixture(t)
	logs := &pairLogs{}
	f.srv.log = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- f.srv.ServeLAN(ctx, "127.0.0.1:0", func(url, fp string) { started <- [2]string{url, fp} })
	}()
	s := <-started
	url, fp := s[0], s[1]
	if fp != "" || !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("ServeLAN started with %q %q", url, fp)
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if _, err := insecure.Get(url + "/api/v1/status"); err == nil {
		t.Fatal("a TLS handshake succeeded before the node was ever unlocked")
	}
	if !strings.Contains(logs.String(), "has not been unlocked since floe serve started") {
		t.Fatalf("the refused handshake's reason is not logged:\n%s", logs)
	}
	// Plain HTTP gets nothing of the API.
	if resp, err := http.Get("http://" + strings.TrimPrefix(url, "https://") + "/api/v1/status"); err == nil {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || bytes.Contains(raw, []byte(`"code"`)) {
			t.Fatalf("plain HTTP to the LAN port: %d %s", resp.StatusCode, raw)
		}
	}

	f.unlock()
	f.do("GET", "/api/v1/status", "")
	f.srv.mu.Lock()
	fp = f.srv.pair.fingerprint
	f.srv.mu.Unlock()
	phone, err := PinnedClient(fp)
	if err != nil {
		t.Fatalf("no fingerprint after the unlock: %v", err)
	}
	if st, m, _ := pairCall(t, phone, url, "", "POST", "/api/v1/unlock", `{"passphrase":"`+pass+`"}`); st != 403 || m["code"] != "laptop_only" {
		t.Fatalf("unlock over the LAN: %d %v", st, m)
	}
	if st, m, _ := pairCall(t, phone, url, "", "POST", "/api/v1/lock", ""); st != 403 || m["code"] != "laptop_only" {
		t.Fatalf("lock over the LAN: %d %v", st, m)
	}
	if st, m, _ := pairCall(t, phone, url, "", "POST", "/api/v1/./unlock", `{"passphrase":"`+pass+`"}`); st != 404 {
		t.Fatalf("unlock by a roundabout path over the LAN: %d %v", st, m)
	}
	for _, path := range []string{"/", "/directory", "/pairing", "/static/floe.css", "/lang?l=fr", "/api/v1/../directory"} {
		st, _, raw := pairCall(t, phone, url, "", "GET", path, "")
		if st != 404 || bytes.Contains(raw, []byte("<html")) || bytes.Contains(raw, []byte("body {")) {
			t.Errorf("GET %s over the LAN: %d %.80s", path, st, raw)
		}
	}
	if !f.srv.Unlocked() {
		t.Fatal("the LAN locked the node")
	}
	// TLS 1.2 is refused.
	if c, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}); err == nil {
		c.Close()
		t.Fatal("a TLS 1.2 handshake succeeded")
	}
	// Locked again, the listener still shakes hands and says why nothing
	// works.
	f.do("POST", "/api/v1/lock", "")
	if st, m, _ := pairCall(t, phone, url, "0123", "GET", "/api/v1/status", ""); st != 401 || m["code"] != "locked" || m["error"] != "the laptop is locked: someone must unlock it on the laptop" {
		t.Fatalf("a phone's request while the laptop is locked: %d %v", st, m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The same certificate after a restart.
	f.srv.Close()
	g := serveFixture(t, f.srv.cfg.Dir, f.srv.cfg.Options, f.now)
	g.unlock()
	_, m, _ := g.do("POST", "/api/v1/pairing", `{"name":"x","role":"trainer"}`)
	if m["fingerprint"] != fp {
		t.Fatalf("the fingerprint changed with a restart: %v, was %s", m["fingerprint"], fp)
	}
}

// The node stays open while the laptop or any phone used it within the
// idle time; the laptop's own session still ends after its own idle
// time; with nobody using it, it locks, and phones are told to have it
// unlocked on the laptop.
func TestPhonesKeepTheNodeOpen(t *testing.T) {
	p := newPairFix(t)
	p.unlock()
	phone, tok, _ := p.pair(`{"name":"Annie's phone","role":"outreach-worker"}`)
	session := p.token
	p.clock.Add(4 * time.Minute)
	if st, _, _ := p.phone(phone, tok, "GET", "/api/v1/status", ""); st != 200 {
		t.Fatal("the phone was refused within the idle time")
	}
	p.clock.Add(4 * time.Minute) // the laptop: 8 minutes idle; the phone: 4
	p.srv.Tick()
	if !p.srv.Unlocked() {
		t.Fatal("the node locked while a phone used it")
	}
	if st, m, _ := p.laptop("GET", "/api/v1/status", ""); st != 401 || m["code"] != "bad_token" {
		t.Fatalf("the laptop's idle session: %d %v", st, m)
	}
	if st, where := p.directoryWith(session); st != http.StatusSeeOther || where != "/" {
		t.Fatalf("the laptop's browser after its idle time: %d %s, want the unlock page", st, where)
	}
	if st, _, _ := p.phone(phone, tok, "GET", "/api/v1/outreach", ""); st != 200 {
		t.Fatal("the phone was refused while it keeps the node open")
	}
	p.clock.Add(DefaultIdleLock + time.Second)
	p.srv.Tick()
	if p.srv.Unlocked() {
		t.Fatal("still unlocked with nobody using it")
	}
	st, m, _ := p.phone(phone, tok, "GET", "/api/v1/outreach", "")
	if st != 401 || m["code"] != "locked" || m["error"] != "the laptop is locked: someone must unlock it on the laptop" {
		t.Fatalf("the phone after the idle lock: %d %v", st, m)
	}
	// Unlocked again on the laptop, the phone works again.
	p.unlock()
	if st, _, _ := p.phone(phone, tok, "GET", "/api/v1/outreach", ""); st != 200 {
		t.Fatal("the phone's token did not outlive the lock")
	}
}

// A token stops working when it expires, and says when.
func TestPairedTokenExpires(t *testing.T) {
	p := newPairFix(t)
	p.unlock()
	phone, tok, m := p.pair(`{"name":"Annie's phone","role":"outreach-worker","days":1}`)
	if m["expires_at"] != "2026-11-26T09:00:00Z" {
		t.Fatalf("a 1-day token expires at %v", m["expires_at"])
	}
	p.clock.Add(23 * time.Hour)
	p.unlock()
	if st, _, _ := p.phone(phone, tok, "GET", "/api/v1/directory", ""); st != 200 {
		t.Fatal("the token was refused before it expired")
	}
	p.clock.Add(time.Hour)
	p.unlock()
	st, m, _ := p.phone(phone, tok, "GET", "/api/v1/directory", "")
	if st != 401 || m["code"] != "bad_token" || !strings.Contains(m["error"].(string), "expired on 2026-11-26: pair it again on the laptop") {
		t.Fatalf("an expired token: %d %v", st, m)
	}
	_, _, raw := p.laptop("GET", "/api/v1/pairing/devices", "")
	if !bytes.Contains(raw, []byte(`"state": "expired"`)) {
		t.Fatalf("the list does not show the token expired: %s", raw)
	}
}

// The pairing screen: a code in large digits, the fingerprint, the LAN
// address and the paired phones with a revoke button; the laptop only.
func TestPairingPage(t *testing.T) {
	p := newPairFix(t)
	w := newWebClient(t, p.fixture)
	_, body := w.post("/pairing", url.Values{"name": {"Annie's phone"}, "role": {"outreach-worker"}, "days": {"30"}})
	code := regexp.MustCompile(`id="code" lang="zxx">([0-9]{5}-[0-9]{5})<`).FindStringSubmatch(body)
	if code == nil || !strings.Contains(body, p.lanURL) || !strings.Contains(body, `/static/pairing.css`) {
		t.Fatalf("the page after making a code:\n%s", body)
	}
	p.srv.mu.Lock()
	fp := p.srv.pair.fingerprint
	p.srv.mu.Unlock()
	if fp == "" || !strings.Contains(body, fp) {
		t.Fatalf("the page does not show the fingerprint %q", fp)
	}
	phone, _ := PinnedClient(fp)
	if st, m, _ := p.phone(phone, "", "POST", "/api/v1/pair", `{"code":"`+code[1]+`"}`); st != 201 {
		t.Fatalf("pairing with the page's code: %d %v", st, m)
	}
	_, body = w.get("/pairing")
	if !strings.Contains(body, "Annie&#39;s phone") || !strings.Contains(body, `class="revoke"`) {
		t.Fatalf("the page does not list the phone:\n%s", body)
	}
	id := regexp.MustCompile(`name="id" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	w.post("/pairing/revoke", url.Values{"id": {id[1]}})
	_, body = w.get("/pairing?revoked=1")
	if strings.Contains(body, `class="revoke"`) || !strings.Contains(body, "Revoked") {
		t.Fatalf("the page after revoking:\n%s", body)
	}
	// In French, every string of the screen is translated; in Inuktitut,
	// a string not translated yet shows in English, marked.
	w.get("/lang?l=fr&next=/pairing")
	if _, body := w.get("/pairing"); !strings.Contains(body, "Jumeler un téléphone") {
		t.Fatalf("the page in French:\n%s", body)
	}
	for k := range translations["en"] {
		if strings.HasPrefix(k, "pairing.") && strings.Contains(string(translate("fr", k)), `class="missing"`) {
			t.Errorf("%s is not translated into French", k)
		}
	}
	w.get("/lang?l=iu&next=/pairing")
	if _, body := w.get("/pairing"); !strings.Contains(body, `<span class="missing" lang="en" title="not translated yet">Pair a phone</span>`) {
		t.Fatalf("the page in Inuktitut does not mark the English title:\n%s", body)
	}
	// Without the laptop's session: the unlock page.
	if resp, _, _ := request(t, noRedirects, p.ts.URL, "", "GET", "/pairing", "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the pairing page without a session: %d", resp.StatusCode)
	}
	_, _, raw := request(t, noRedirects, p.ts.URL, "", "POST", "/pairing", "application/x-www-form-urlencoded", []byte("name=x&role=admin"))
	noLeak(t, "POST /pairing", raw)
	if bytes.Contains(raw, []byte(`id="code"`)) {
		t.Fatal("a code was made without the laptop's session")
	}
}

// The pairing screen on a phone-sized browser: the code is large, and
// nothing makes the page scroll sideways.
func TestPairingScreenOnAPhone(t *testing.T) {
	chromium(t)
	p := newPairFix(t)
	p.unlock()
	p.pair(`{"name":"Annie's phone (Arviat outreach, the one with the red case)","role":"outreach-worker","areas":["outreach:kivalliq/arviat"]}`)
	ctx, cancel := browser(t)
	defer cancel()
	var scroll, width int
	var size float64
	var code string
	err := chromedp.Run(ctx,
		chromedp.EmulateViewport(360, 740),
		unlockInBrowser(p.ts.URL),
		chromedp.Navigate(p.ts.URL+"/pairing"),
		chromedp.WaitVisible("#name", chromedp.ByID),
		chromedp.SendKeys("#name", "Joanasie's phone", chromedp.ByID),
		chromedp.Click("#make-code", chromedp.ByID),
		chromedp.WaitVisible("#code", chromedp.ByID),
		chromedp.Text("#code", &code, chromedp.ByID),
		chromedp.Evaluate(`parseFloat(getComputedStyle(document.getElementById("code")).fontSize)`, &size),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scroll),
		chromedp.Evaluate(`document.documentElement.clientWidth`, &width),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]{5}-[0-9]{5}$`).MatchString(code) {
		t.Fatalf("the code shown: %q", code)
	}
	if size < 28 {
		t.Errorf("the code is %.0f pixels high: too small to read across a table", size)
	}
	if scroll > width+1 {
		t.Errorf("the pairing screen is %d pixels wide on a %d-pixel phone: it scrolls sideways", scroll, width)
	}
}
