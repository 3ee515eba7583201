package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// What every test of the package shares: a laptop served on loopback (a
// fixture), a second laptop joined to its network, the one way to call
// the API, a browser's cookie session, and the search for the planted
// shelter location.

const pass = "correct horse battery"

type fixture struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	now   time.Time
	token string
}

// newFixture is an admin's laptop, locked, with the sample directory.
func newFixture(t *testing.T) *fixture {
	dir := filepath.Join(t.TempDir(), "node")
	opts := node.Options{Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}, Audiences: []string{node.ShelterAudience}}
	n, err := node.Init(context.Background(), dir, []byte(pass), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fieldkit.SampleDirectory() {
		ch, _ := node.ChangesFrom(r.Fields)
		if _, err := n.Add(context.Background(), node.Directory, ch); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()
	return serveFixture(t, dir, opts, time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
}

// serveFixture serves the node in dir, locked, on loopback until the
// test ends; the server's clock is the fixture's now.
func serveFixture(t *testing.T, dir string, opts node.Options, now time.Time) *fixture {
	f := &fixture{t: t, now: now}
	f.srv = New(Config{Dir: dir, Options: opts, Now: func() time.Time { return f.now }})
	f.ts = httptest.NewServer(localGuard(f.srv.Handler())) // as Serve does
	t.Cleanup(func() { f.ts.Close(); f.srv.Close() })
	return f
}

// ---- A second laptop on the fixture's network ----

// joinNodes admits a laptop of role, limited to areas, to the fixture's
// network, named "<role> laptop", and gives each node the other's
// entries, as a sync would. The fixture must be locked: the admin's node
// is opened here. Both nodes are left open for the caller to close; dir
// and opts open the new laptop again. The new laptop is in no audience
// (a coordinator's does not see the shelter's location).
func joinNodes(t *testing.T, f *fixture, role string, areas ...string) (admin, n *node.Node, dir string, opts node.Options) {
	t.Helper()
	ctx := context.Background()
	admin, err := node.Open(ctx, f.srv.cfg.Dir, []byte(pass), f.srv.cfg.Options)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := admin.MakeInvite(node.InviteOptions{Role: role, Areas: areas})
	if err != nil {
		t.Fatal(err)
	}
	n, req, dir, opts := newJoiner(t, f, inv, role+" laptop")
	if _, err := admin.Admit(ctx, req); err != nil {
		t.Fatal(err)
	}
	swapEntries(t, admin, n)
	return admin, n, dir, opts
}

// joinLaptop is joinNodes with both nodes closed and the new laptop
// served, locked, as a fixture of its own.
func joinLaptop(t *testing.T, f *fixture, role string, areas ...string) *fixture {
	t.Helper()
	admin, n, dir, opts := joinNodes(t, f, role, areas...)
	n.Close()
	admin.Close()
	return serveFixture(t, dir, opts, f.now)
}

// newJoiner starts a laptop in a folder of its own from the invite inv,
// with the fixture's options but no audience, and makes its join request
// under name. The node is left open.
func newJoiner(t *testing.T, f *fixture, inv node.Invite, name string) (n *node.Node, req node.JoinRequest, dir string, opts node.Options) {
	t.Helper()
	opts = f.srv.cfg.Options
	opts.Join, opts.Audiences = &inv, nil
	dir = filepath.Join(t.TempDir(), "laptop")
	n, err := node.Init(context.Background(), dir, []byte(pass), opts)
	if err != nil {
		t.Fatal(err)
	}
	req, err = n.MakeJoinRequest(name)
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	return n, req, dir, opts
}

// swapEntries gives each node the other's entries, as a sync would.
func swapEntries(t *testing.T, a, b *node.Node) {
	t.Helper()
	ctx := context.Background()
	for _, p := range [][2]*node.Node{{a, b}, {b, a}} {
		var es []sp.Entry
		_ = p[0].Entries(ctx, func(e sp.Entry) error { es = append(es, e); return nil })
		if _, err := p[1].Merge(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
}

// ---- Calling the API ----

// request is the one way the tests call the API: method base+path with
// c, token as the bearer token (none if ""), and body of type ctype (no
// Content-Type if ""). It returns the response, with its body read and
// closed, the body as a JSON object if it is one, and the body.
func request(t *testing.T, c *http.Client, base, token, method, path, ctype string, body []byte) (*http.Response, map[string]any, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp, m, raw
}

// send is request on the fixture's loopback server with its token.
func (f *fixture) send(method, path, ctype string, body []byte) (*http.Response, map[string]any, []byte) {
	f.t.Helper()
	return request(f.t, http.DefaultClient, f.ts.URL, f.token, method, path, ctype, body)
}

// do is send with a JSON body, or none; the answer is not searched for
// the planted location (a reveal shows it).
func (f *fixture) do(method, path, body string) (int, map[string]any, []byte) {
	f.t.Helper()
	resp, m, raw := f.send(method, path, "", []byte(body))
	return resp.StatusCode, m, raw
}

// call is send with every answer searched for the planted location.
func (f *fixture) call(method, path, ctype string, body []byte) (int, map[string]any, []byte) {
	f.t.Helper()
	resp, m, raw := f.send(method, path, ctype, body)
	noLeak(f.t, method+" "+path, raw)
	return resp.StatusCode, m, raw
}

func (f *fixture) json(method, path, body string) (int, map[string]any, []byte) {
	f.t.Helper()
	return f.call(method, path, "application/json", []byte(body))
}

func (f *fixture) unlock() {
	f.t.Helper()
	code, m, raw := f.do("POST", "/api/v1/unlock", `{"passphrase":"`+pass+`"}`)
	if code != 200 {
		f.t.Fatalf("unlock: %d %s", code, raw)
	}
	f.token = m["token"].(string)
}

// ---- A browser's session ----

// webClient is a browser's session on f: a cookie jar, unlocked. Every
// page it reads is searched for the planted location and must carry the
// headers that keep it out of caches and other sites.
type webClient struct {
	t *testing.T
	c *http.Client
	f *fixture
}

// newWebClient unlocks the fixture's web app with the form, as a
// browser does.
func newWebClient(t *testing.T, f *fixture) *webClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	w := &webClient{t: t, c: &http.Client{Jar: jar}, f: f}
	code, body := w.post("/unlock", url.Values{"passphrase": {pass}})
	if code != 200 || !strings.Contains(body, `id="q"`) {
		t.Fatalf("the unlock: %d %s", code, body)
	}
	return w
}

// read reads and closes a response, and checks it.
func (w *webClient) read(resp *http.Response, err error) (*http.Response, string) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	where := resp.Request.Method + " " + resp.Request.URL.Path
	noLeak(w.t, where, b)
	// Every page, an error's too, keeps the headers that keep it out of
	// caches and other sites.
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") &&
		(resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("Cache-Control") != "no-store") {
		w.t.Fatalf("%s (%d) went out without its security headers: %v", where, resp.StatusCode, resp.Header)
	}
	return resp, string(b)
}

// fetch gets path, with the response for its headers.
func (w *webClient) fetch(path string) (*http.Response, string) {
	w.t.Helper()
	return w.read(w.c.Get(w.f.ts.URL + path))
}

func (w *webClient) get(path string) (int, string) {
	w.t.Helper()
	resp, body := w.fetch(path)
	return resp.StatusCode, body
}

func (w *webClient) post(path string, form url.Values) (int, string) {
	w.t.Helper()
	resp, body := w.read(w.c.PostForm(w.f.ts.URL+path, form))
	return resp.StatusCode, body
}

// ---- The planted location ----

// canaryForms are the ways the planted location could show.
func canaryForms() [][]byte {
	m := fieldkit.CanaryMarker
	return [][]byte{
		[]byte(strings.ToLower(m)),
		[]byte(strings.ToLower(base64.StdEncoding.EncodeToString([]byte(m)))),
		[]byte(strings.ToLower(base64.RawURLEncoding.EncodeToString([]byte(m)))),
		[]byte(hex.EncodeToString([]byte(m))),
		[]byte("red porch"), // the words of a sample shelter's location
	}
}

// leaks is the form of the planted location body shows, or nil.
func leaks(body []byte) []byte {
	low := bytes.ToLower(body)
	for _, f := range canaryForms() {
		if bytes.Contains(low, f) {
			return f
		}
	}
	return nil
}

// noLeak fails the test if body shows the planted location in any form.
func noLeak(t *testing.T, where string, body []byte) {
	t.Helper()
	if f := leaks(body); f != nil {
		t.Fatalf("%s shows the planted shelter location (as %q)", where, f)
	}
}
