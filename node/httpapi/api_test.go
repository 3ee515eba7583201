package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
)

// Every endpoint, and the bad input each refuses with the right status
// and a clear message.
func TestAPI(t *testing.T) {
	f := newFixture(t)
	if code, m, _ := f.do("GET", "/api/v1/status", ""); code != 401 || m["code"] != "locked" {
		t.Fatalf("status while locked: %d %v", code, m)
	}
	if code, m, _ := f.do("POST", "/api/v1/unlock", `{"passphrase":"wrong one"}`); code != 401 || m["code"] != "wrong_passphrase" {
		t.Fatalf("a wrong passphrase: %d %v", code, m)
	}
	if code, m, _ := f.do("POST", "/api/v1/unlock", `{"passphrase":`); code != 400 || m["code"] != "bad_json" {
		t.Fatalf("malformed JSON: %d %v", code, m)
	}
	if code, m, _ := f.do("POST", "/api/v1/unlock", `{"passphrase":"x","extra":1}`); code != 400 {
		t.Fatalf("an unknown field: %d %v", code, m)
	}
	big := `{"passphrase":"` + strings.Repeat("x", MaxBody) + `"}`
	if code, m, _ := f.do("POST", "/api/v1/unlock", big); code != 413 || m["code"] != "too_large" {
		t.Fatalf("an oversized body: %d %v", code, m)
	}
	f.unlock()
	if code, m, _ := f.do("GET", "/api/v1/status", ""); code != 200 || m["state_hash"] == nil {
		t.Fatalf("status: %d %v", code, m)
	}
	code, _, raw := f.do("GET", "/api/v1/directory?q=kamatsiaqtut", "")
	var rs []node.Record
	json.Unmarshal(raw, &rs)
	if code != 200 || len(rs) != 1 {
		t.Fatalf("search: %d %s", code, raw)
	}
	if code, _, raw := f.do("GET", "/api/v1/directory/"+rs[0].ID[:8], ""); code != 200 || !bytes.Contains(raw, []byte("1-800-265-3333")) {
		t.Fatalf("show: %d %s", code, raw)
	}
	if code, m, _ := f.do("GET", "/api/v1/directory/ffffffff", ""); code != 404 {
		t.Fatalf("an unknown record: %d %v", code, m)
	}
	if code, m, _ := f.do("GET", "/api/v1/directory?limit=abc", ""); code != 400 {
		t.Fatalf("a bad limit: %d %v", code, m)
	}
	code, m, _ := f.do("POST", "/api/v1/outreach", `{"fields":{"date":"2026-11-24","community":"Arviat","contact":"phone","subject":"S-7K3Q"}}`)
	if code != 201 {
		t.Fatalf("add outreach: %d %v", code, m)
	}
	oid := m["id"].(string)
	if code, m, _ := f.do("POST", "/api/v1/outreach", `{"fields":{"date":"yesterday","community":"Arviat","contact":"phone","subject":"S-1"}}`); code != 400 || m["code"] != "bad_field" {
		t.Fatalf("a bad date: %d %v", code, m)
	}
	if code, m, _ := f.do("PATCH", "/api/v1/outreach/"+oid, `{"fields":{"contact":"in-person"}}`); code != 200 {
		t.Fatalf("edit outreach: %d %v", code, m)
	}
	if code, _, raw := f.do("GET", "/api/v1/outreach", ""); code != 200 || !bytes.Contains(raw, []byte("in-person")) {
		t.Fatalf("list outreach: %d %s", code, raw)
	}
	if code, _, raw := f.do("GET", "/api/v1/conflicts", ""); code != 200 || strings.TrimSpace(string(raw)) != "[]" {
		t.Fatalf("conflicts: %d %s", code, raw)
	}
	if code, m, _ := f.do("POST", "/api/v1/conflicts/resolve", `{"collection":"directory","id":"`+rs[0].ID+`","field":"hours"}`); code != 400 {
		t.Fatalf("a resolve that keeps nothing: %d %v", code, m)
	}
	if code, m, _ := f.do("POST", "/api/v1/conflicts/resolve", `{"collection":"nope","id":"abcd","field":"hours","keep":"ab"}`); code != 400 {
		t.Fatalf("a resolve in an unknown collection: %d %v", code, m)
	}
	if code, m, _ := f.do("GET", "/api/v1/nothing", ""); code != 404 {
		t.Fatalf("an unknown endpoint: %d %v", code, m)
	}
	good := f.token
	f.token = "0000"
	if code, m, _ := f.do("GET", "/api/v1/status", ""); code != 401 || m["code"] != "bad_token" {
		t.Fatalf("a wrong token: %d %v", code, m)
	}
	f.token = good
	if code, _, _ := f.do("POST", "/api/v1/lock", ""); code != 200 || f.srv.Unlocked() {
		t.Fatal("lock did not lock")
	}
	if code, m, _ := f.do("GET", "/api/v1/status", ""); code != 401 || m["code"] != "locked" {
		t.Fatalf("the old token after lock: %d %v", code, m)
	}
}

// The node locks itself after the idle time, and a token stops working.
func TestIdleLock(t *testing.T) {
	f := newFixture(t)
	f.unlock()
	f.now = f.now.Add(4 * time.Minute)
	if code, _, _ := f.do("GET", "/api/v1/status", ""); code != 200 {
		t.Fatal("locked before the idle time")
	}
	f.now = f.now.Add(DefaultIdleLock + time.Second)
	f.srv.Tick()
	if f.srv.Unlocked() {
		t.Fatal("still unlocked after the idle time")
	}
	if code, m, _ := f.do("GET", "/api/v1/status", ""); code != 401 || m["code"] != "locked" {
		t.Fatalf("after the idle lock: %d %v", code, m)
	}
}

// A location appears in no API response but an audited reveal by a
// member of its audience with the passphrase typed again.
func TestAPIRevealAndCanary(t *testing.T) {
	f := newFixture(t)
	f.unlock()
	code, _, raw := f.do("GET", "/api/v1/directory?q=shelter&limit=50", "")
	if code != 200 {
		t.Fatalf("search: %d", code)
	}
	noLeak(t, "search", raw)
	var rs []node.Record
	json.Unmarshal(raw, &rs)
	var shelter string
	for _, r := range rs {
		if r.Get("kind") == "shelter" {
			shelter = r.ID
		}
	}
	for _, p := range []string{"/api/v1/directory", "/api/v1/directory/" + shelter, "/api/v1/conflicts", "/api/v1/status"} {
		_, _, raw := f.do("GET", p, "")
		noLeak(t, p, raw)
	}
	if code, m, _ := f.do("POST", "/api/v1/directory/"+shelter+"/reveal", `{"field":"location","passphrase":"wrong"}`); code != 401 {
		t.Fatalf("a reveal with a wrong passphrase: %d %v", code, m)
	}
	code, m, _ := f.do("POST", "/api/v1/directory/"+shelter+"/reveal", `{"field":"location","passphrase":"`+pass+`"}`)
	if code != 200 || !strings.Contains(m["value"].(string), fieldkit.CanaryMarker) {
		t.Fatalf("a reveal by the audience: %d %v", code, m)
	}
}

// A service page in French labels its fields and kind in French; a value
// is escaped, never taken as HTML.
func TestServicePageInFrench(t *testing.T) {
	f := newFixture(t)
	w := newWebClient(t, f)
	w.get("/lang?l=fr&next=/")
	_, body := w.get("/directory?q=kamatsiaqtut")
	i := strings.Index(body, `href="/directory/`)
	if i < 0 {
		t.Fatalf("no result:\n%s", body)
	}
	id := body[i+len(`href="/directory/`):]
	id = id[:strings.IndexByte(id, '"')]
	if !strings.Contains(body, "Ligne d&#39;écoute") {
		t.Fatalf("the kind is not in French:\n%s", body)
	}
	_, body = w.get("/directory/" + id)
	for _, want := range []string{"Téléphone", "Heures", "Nom (en)"} {
		if !strings.Contains(body, want) {
			t.Errorf("the service page lacks %q", want)
		}
	}
}
