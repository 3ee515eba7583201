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
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
)

// The canary sweep for the web app and the API: every page reachable by
// following links from the directory, and every JSON endpoint that reads,
// is searched for the planted shelter location in the forms a leak could
// take. It runs as a coordinator outside the shelter audience (who must
// never see it) and as the admin inside it (who sees it only through an
// audited reveal, which the crawl never makes).

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

func leaks(body []byte) []byte {
	low := bytes.ToLower(body)
	for _, f := range canaryForms() {
		if bytes.Contains(low, f) {
			return f
		}
	}
	return nil
}

var hrefRE = regexp.MustCompile(`(?:href|action)="(/[^"]*)"`)

// crawl follows every same-site link from start with c and returns the
// pages fetched; each is checked for the canary.
func crawl(t *testing.T, c *http.Client, base string, starts ...string) int {
	t.Helper()
	seen := map[string]bool{}
	queue := append([]string(nil), starts...)
	for len(queue) > 0 && len(seen) < 400 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		resp, err := c.Get(base + p)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if f := leaks(body); f != nil {
			t.Fatalf("GET %s shows the planted location (as %q)", p, f)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, body)
		}
		for _, m := range hrefRE.FindAllSubmatch(body, -1) {
			link := strings.ReplaceAll(string(m[1]), "&amp;", "&")
			// Locking and the language switch end or change the
			// crawl's session; static files hold no records.
			if strings.HasPrefix(link, "/lock") || strings.HasPrefix(link, "/lang") || strings.HasPrefix(link, "/static/") {
				continue
			}
			if !seen[link] {
				queue = append(queue, link)
			}
		}
	}
	return len(seen)
}

// apiSweep reads every JSON endpoint that reads, and every record.
func apiSweep(t *testing.T, f *fixture) {
	t.Helper()
	get := func(p string) []byte {
		_, _, raw := f.do("GET", p, "")
		if l := leaks(raw); l != nil {
			t.Fatalf("GET %s shows the planted location (as %q)", p, l)
		}
		return raw
	}
	for _, p := range []string{"/api/v1/status", "/api/v1/directory", "/api/v1/directory?q=shelter", "/api/v1/outreach",
		"/api/v1/conflicts", "/api/v1/sync", "/api/v1/peers", "/api/v1/packs", "/api/v1/members", "/api/v1/reports",
		"/api/v1/reports.csv", "/api/v1/pairing/devices"} {
		get(p)
	}
	for _, coll := range []string{"directory", "outreach"} {
		var rs []node.Record
		json.Unmarshal(get("/api/v1/"+coll), &rs)
		for _, r := range rs {
			get("/api/v1/" + coll + "/" + r.ID)
		}
	}
}

func TestCanarySweepOfEveryPage(t *testing.T) {
	// The detector itself: each form is caught.
	for _, b := range [][]byte{[]byte("at " + fieldkit.CanaryMarker), []byte(base64.StdEncoding.EncodeToString([]byte(fieldkit.CanaryMarker))), []byte("the Red Porch")} {
		if leaks(b) == nil {
			t.Fatalf("the sweep would miss %q", b)
		}
	}
	f := newFixture(t)
	// A conflict, so the conflicts page has values to show.
	makeHoursConflict(t, f)
	// The coordinator's laptop, outside the shelter audience, with the
	// same records.
	admin, coord, coordDir, coordOpts := coordinatorLaptop(t, f)
	admin.Close()
	ctx := context.Background()
	if _, err := coord.Add(ctx, node.Outreach, []node.Change{{Field: "date", Value: "2026-11-20"}, {Field: "community", Value: "Fictional Bay"},
		{Field: "contact", Value: "phone"}, {Field: "subject", Value: "S-4T2W"}, {Field: "referred_to", Value: "Fictional youth shelter"}}); err != nil {
		t.Fatal(err)
	}
	coord.Close()

	for _, who := range []struct {
		name string
		srv  *Server
	}{
		{"the admin, inside the audience", f.srv},
		{"a coordinator, outside the audience", New(Config{Dir: coordDir, Options: coordOpts, Now: func() time.Time { return f.now }})},
	} {
		t.Run(who.name, func(t *testing.T) {
			g := &fixture{t: t, srv: who.srv, now: f.now}
			g.ts = httptest.NewServer(who.srv.Handler())
			defer func() { g.ts.Close(); who.srv.Close() }()
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar}
			resp, err := c.PostForm(g.ts.URL+"/unlock", url.Values{"passphrase": {pass}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			n := crawl(t, c, g.ts.URL, "/directory", "/outreach", "/conflicts", "/sync", "/packs", "/devices", "/reports", "/pairing")
			if n < 10 {
				t.Fatalf("the crawl reached only %d pages", n)
			}
			t.Logf("%d pages crawled", n)
			// The API, with a session of its own (unlocking again
			// ends the browser's session, which is done with).
			g.unlock()
			apiSweep(t, g)
		})
	}
	// Outside the audience a reveal is refused, and says nothing of
	// the location either.
	g := &fixture{t: t, now: f.now}
	g.srv = New(Config{Dir: coordDir, Options: coordOpts, Now: func() time.Time { return f.now }})
	g.ts = httptest.NewServer(g.srv.Handler())
	defer func() { g.ts.Close(); g.srv.Close() }()
	g.unlock()
	_, _, raw := g.do("GET", "/api/v1/directory?q=shelter", "")
	var rs []node.Record
	json.Unmarshal(raw, &rs)
	refused := 0
	for _, r := range rs {
		if r.Get("kind") != "shelter" {
			continue
		}
		code, _, raw := g.do("POST", "/api/v1/directory/"+r.ID+"/reveal", `{"field":"location","passphrase":"`+pass+`"}`)
		if code != http.StatusForbidden || leaks(raw) != nil {
			t.Fatalf("a reveal outside the audience: %d %s", code, raw)
		}
		refused++
	}
	if refused == 0 {
		t.Fatal("no shelter to try a reveal on")
	}
}
