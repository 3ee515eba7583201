package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
)

// The canary sweep for the web app and the API: every page reachable by
// following links from the directory, and every JSON endpoint that reads,
// is searched for the planted shelter location in the forms a leak could
// take. It runs as a coordinator outside the shelter audience (who must
// never see it) and as the admin inside it (who sees it only through an
// audited reveal, which the crawl never makes).

var hrefRE = regexp.MustCompile(`(?:href|action)="(/[^"]*)"`)

// crawl follows every same-site link from starts in the session w and
// returns the number of pages fetched; each is checked for the canary.
func crawl(w *webClient, starts ...string) int {
	t := w.t
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
		code, body := w.get(p)
		if code >= 500 {
			t.Fatalf("GET %s: %d %s", p, code, body)
		}
		for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
			link := strings.ReplaceAll(m[1], "&amp;", "&")
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
		_, _, raw := f.call("GET", p, "", nil)
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
	admin, coord, coordDir, coordOpts := joinNodes(t, f, node.RoleCoordinator, "*:*")
	admin.Close()
	ctx := context.Background()
	if _, err := coord.Add(ctx, node.Outreach, []node.Change{{Field: "date", Value: "2026-11-20"}, {Field: "community", Value: "Fictional Bay"},
		{Field: "contact", Value: "phone"}, {Field: "subject", Value: "S-4T2W"}, {Field: "referred_to", Value: "Fictional youth shelter"}}); err != nil {
		t.Fatal(err)
	}
	coord.Close()

	for _, who := range []struct {
		name string
		dir  string
		opts node.Options
	}{
		{"the admin, inside the audience", f.srv.cfg.Dir, f.srv.cfg.Options},
		{"a coordinator, outside the audience", coordDir, coordOpts},
	} {
		t.Run(who.name, func(t *testing.T) {
			g := serveFixture(t, who.dir, who.opts, f.now)
			n := crawl(newWebClient(t, g), "/directory", "/outreach", "/conflicts", "/sync", "/packs", "/devices", "/reports", "/pairing")
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
	g := serveFixture(t, coordDir, coordOpts, f.now)
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
