package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
)

// The packs and devices screens and their API: what an admin, a
// coordinator, a trainer and an outreach worker each reach, the packs a
// laptop refuses, and a revocation that really revokes.

func (f *fixture) list(path string) []map[string]any {
	f.t.Helper()
	code, _, raw := f.call("GET", path, "", nil)
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); code != 200 || err != nil {
		f.t.Fatalf("GET %s: %d %s", path, code, raw)
	}
	return out
}

// wantErr checks an error answer: its status, its code, and words of its
// message.
func wantErr(t *testing.T, what string, code int, m map[string]any, status int, errCode string, words ...string) {
	t.Helper()
	if code != status || m["code"] != errCode {
		t.Fatalf("%s: got %d %v, want %d %s", what, code, m, status, errCode)
	}
	msg, _ := m["error"].(string)
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Fatalf("%s: the message %q does not say %q", what, msg, w)
		}
	}
}

// testPacks are packs of the sample spreadsheet.
type testPacks struct {
	full  []byte // "kivalliq-services" version 1
	delta []byte // version 2, an update of version 1: one phone number
	// posters is a pack with a 200 KB attachment, larger than a page's
	// form may be.
	posters []byte
	// other is the same spreadsheet from a trainer of another network.
	other []byte
}

// changedPhone is the phone number version 2 gives a service.
const changedPhone = "867-555-0199"

func buildTestPacks(t *testing.T, f *fixture) testPacks {
	t.Helper()
	ctx := context.Background()
	rows := func() []fieldkit.ServiceRow {
		rows, bad, err := fieldkit.ReadServices(bytes.NewReader(fieldkit.SamplePackCSV))
		if err != nil || len(bad) > 0 {
			t.Fatalf("the sample spreadsheet: %v %v", bad, err)
		}
		return rows
	}
	build := func(n *node.Node, rows []fieldkit.ServiceRow, opts node.PackBuildOptions) []byte {
		var buf bytes.Buffer
		if rep, err := n.BuildPack(ctx, rows, false, opts, &buf); err != nil {
			t.Fatalf("building a pack: %v %v", err, rep.Problems)
		}
		noLeak(t, "a pack", buf.Bytes())
		return buf.Bytes()
	}
	var p testPacks
	admin, trainer, _, _ := joinNodes(t, f, node.RoleTrainer, "directory:*")
	admin.Close()
	defer trainer.Close()
	sheet := rows()
	p.full = build(trainer, sheet, node.PackBuildOptions{Name: "kivalliq-services"})
	for i := range sheet {
		if sheet[i].Key == "example-wellness-centre-fictional" {
			sheet[i].Fields["phone"] = changedPhone
		}
	}
	p.delta = build(trainer, sheet, node.PackBuildOptions{Name: "kivalliq-services", Delta: true})
	poster := bytes.Repeat([]byte("fictional poster "), 12000)
	posterRows, _, err := fieldkit.ReadServices(strings.NewReader("id,kind,name/en,phone,attachments\nposter-1,health,Sample Poster Clinic (fictional),867-555-0100,poster.pdf\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.posters = build(trainer, posterRows, node.PackBuildOptions{Name: "posters", Files: func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(poster)), nil
	}})
	if len(p.posters) <= MaxBody {
		t.Fatalf("the posters pack is %d bytes: it should be larger than a form may be", len(p.posters))
	}
	// Another network's first laptop (an admin, who may write the
	// directory) builds the same spreadsheet.
	other, err := node.Init(ctx, filepath.Join(t.TempDir(), "other"), []byte(pass), f.srv.cfg.Options)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	p.other = build(other, rows(), node.PackBuildOptions{Name: "kivalliq-services"})
	return p
}

func tamper(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)/2] ^= 0x20
	return c
}

func stateHash(f *fixture) string {
	f.t.Helper()
	code, m, raw := f.call("GET", "/api/v1/status", "", nil)
	if code != 200 {
		f.t.Fatalf("status: %d %s", code, raw)
	}
	return m["state_hash"].(string)
}

// lowerMaxPack lowers the pack upload cap until restore is called.
func lowerMaxPack(n int64) (restore func()) {
	old := maxPack
	maxPack = n
	return func() { maxPack = old }
}

// main is a page's own content, without the menu.
func mainOf(page string) string {
	if i := strings.Index(page, "<main>"); i >= 0 {
		return page[i:]
	}
	return page
}

const octet = "application/octet-stream"

// Installing, checking, listing and forgetting packs over the API, and
// every pack a laptop must refuse with nothing of it applied.
func TestPacksAPI(t *testing.T) {
	f := newFixture(t)
	packs := buildTestPacks(t, f)
	outreach := joinLaptop(t, f, node.RoleOutreach, "outreach:kivalliq", "directory:*")

	code, m, _ := f.call("GET", "/api/v1/packs", "", nil)
	wantErr(t, "the list while locked", code, m, 401, "locked")
	code, m, _ = f.call("POST", "/api/v1/packs", octet, packs.full)
	wantErr(t, "an install while locked", code, m, 401, "locked")
	f.unlock()
	f.token = "0000"
	code, m, _ = f.call("POST", "/api/v1/packs", octet, packs.full)
	wantErr(t, "an install with a wrong token", code, m, 401, "bad_token")
	f.unlock()

	if ps := f.list("/api/v1/packs"); len(ps) != 0 {
		t.Fatalf("packs before any install: %v", ps)
	}
	before := stateHash(f)
	services := len(f.list("/api/v1/directory"))

	// Checking installs nothing.
	code, m, raw := f.call("POST", "/api/v1/packs/verify", octet, packs.full)
	if code != 200 || m["name"] != "kivalliq-services" || m["version"] != 1.0 || m["signer_role"] != node.RoleTrainer ||
		m["services"] != 17.0 || m["installed_before"] != 0.0 || m["verified"] != true {
		t.Fatalf("verify: %d %s", code, raw)
	}
	// Refused, each with nothing applied.
	code, m, _ = f.call("POST", "/api/v1/packs", octet, packs.delta)
	wantErr(t, "an update without the version it updates", code, m, 409, "needs_base", "install the full pack")
	code, m, _ = f.call("POST", "/api/v1/packs", octet, tamper(packs.full))
	wantErr(t, "a tampered pack", code, m, 400, "bad_pack", "not an intact Floe pack", "nothing was applied")
	code, m, _ = f.call("POST", "/api/v1/packs", octet, packs.full[:len(packs.full)-10])
	wantErr(t, "a pack cut short", code, m, 400, "bad_pack", "nothing was applied")
	code, m, _ = f.call("POST", "/api/v1/packs/verify", octet, tamper(packs.full))
	wantErr(t, "checking a tampered pack", code, m, 400, "bad_pack", "not an intact Floe pack")
	code, m, _ = f.call("POST", "/api/v1/packs", octet, packs.other)
	wantErr(t, "another network's pack", code, m, 400, "wrong_network", "it is for network")
	code, m, _ = f.call("POST", "/api/v1/packs", octet, nil)
	wantErr(t, "an empty body", code, m, 400, "bad_pack", "empty")
	code, m, _ = f.call("POST", "/api/v1/packs", "application/json", []byte(`{"pack":"kivalliq-services"}`))
	wantErr(t, "JSON in place of a pack", code, m, 400, "bad_pack")
	restore := lowerMaxPack(4096)
	code, m, _ = f.call("POST", "/api/v1/packs", octet, packs.full)
	wantErr(t, "a pack over the cap", code, m, 413, "too_large", "4096")
	code, m, _ = f.call("POST", "/api/v1/packs/verify", octet, packs.full)
	wantErr(t, "checking a pack over the cap", code, m, 413, "too_large", "4096")
	restore()
	if stateHash(f) != before || len(f.list("/api/v1/packs")) != 0 {
		t.Fatal("a refused pack changed the node")
	}

	// An install: its services show in the directory.
	code, m, raw = f.call("POST", "/api/v1/packs", octet, packs.full)
	if code != 200 || m["name"] != "kivalliq-services" || m["version"] != 1.0 || m["new"] == 0.0 || m["new"] == nil || m["refused"] != 0.0 {
		t.Fatalf("install: %d %s", code, raw)
	}
	if n := len(f.list("/api/v1/directory")); n != services+17 {
		t.Fatalf("after the install the directory lists %d services, want %d", n, services+17)
	}
	ps := f.list("/api/v1/packs")
	if len(ps) != 1 || ps[0]["name"] != "kivalliq-services" || ps[0]["version"] != 1.0 || ps[0]["services"] != 17.0 || ps[0]["signer"] == "" {
		t.Fatalf("the list after an install: %v", ps)
	}
	code, m, _ = f.call("POST", "/api/v1/packs", octet, packs.full)
	wantErr(t, "the same version again", code, m, 409, "already_installed")
	// The update, then the old version is refused (no rollback).
	if code, _, raw := f.call("POST", "/api/v1/packs", octet, packs.delta); code != 200 {
		t.Fatalf("the update: %d %s", code, raw)
	}
	if _, _, raw := f.call("GET", "/api/v1/directory?q=wellness", "", nil); !bytes.Contains(raw, []byte(changedPhone)) {
		t.Fatalf("the update did not change the phone number: %s", raw)
	}
	code, m, _ = f.call("POST", "/api/v1/packs", octet, packs.full)
	wantErr(t, "an older version over a newer one", code, m, 409, "old_pack", "older")
	if _, _, raw := f.call("GET", "/api/v1/directory?q=wellness", "", nil); !bytes.Contains(raw, []byte(changedPhone)) {
		t.Fatal("the refused old version rolled the phone number back")
	}
	if code, m, raw := f.call("POST", "/api/v1/packs/verify", octet, packs.full); code != 200 || m["installed_before"] != 2.0 {
		t.Fatalf("checking the old version says what is installed: %d %s", code, raw)
	}

	// An outreach worker's laptop reads the list and checks packs, but
	// installs and forgets none.
	outreach.unlock()
	if code, _, raw := outreach.call("GET", "/api/v1/packs", "", nil); code != 200 {
		t.Fatalf("an outreach worker's list: %d %s", code, raw)
	}
	if code, _, raw := outreach.call("POST", "/api/v1/packs/verify", octet, packs.full); code != 200 {
		t.Fatalf("an outreach worker's check: %d %s", code, raw)
	}
	code, m, _ = outreach.call("POST", "/api/v1/packs", octet, packs.full)
	wantErr(t, "an outreach worker's install", code, m, 403, "wrong_role", "outreach-worker")
	code, m, _ = outreach.call("DELETE", "/api/v1/packs/kivalliq-services", "", nil)
	wantErr(t, "an outreach worker forgetting a pack", code, m, 403, "wrong_role")

	// Forgetting: any version installs again.
	code, m, _ = f.call("DELETE", "/api/v1/packs/nothing-by-this-name", "", nil)
	wantErr(t, "forgetting an unknown pack", code, m, 404, "not_found", "nothing-by-this-name")
	if code, m, raw := f.call("DELETE", "/api/v1/packs/kivalliq-services", "", nil); code != 200 || m["removed"] != "kivalliq-services" {
		t.Fatalf("forget: %d %s", code, raw)
	}
	if ps := f.list("/api/v1/packs"); len(ps) != 0 {
		t.Fatalf("the list after forgetting: %v", ps)
	}
	if code, _, raw := f.call("POST", "/api/v1/packs", octet, packs.full); code != 200 {
		t.Fatalf("version 1 after forgetting: %d %s", code, raw)
	}
	apiSweep(t, f)

	// No upload is left behind in the node's directory.
	left, _ := filepath.Glob(filepath.Join(f.srv.cfg.Dir, "pack-upload-*"))
	if len(left) > 0 {
		t.Fatalf("uploads left behind: %v", left)
	}
}

// Devices over the API: the list, an invite, admitting its join request
// and revoking the device; the refusals; who may do what.
func TestMembersAPI(t *testing.T) {
	f := newFixture(t)
	trainer := joinLaptop(t, f, node.RoleTrainer, "directory:*")
	outreach := joinLaptop(t, f, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	coord := joinLaptop(t, f, node.RoleCoordinator, "*:*")

	code, m, _ := f.call("GET", "/api/v1/members", "", nil)
	wantErr(t, "the list while locked", code, m, 401, "locked")
	f.unlock()
	good := f.token
	f.token = ""
	code, m, _ = f.json("POST", "/api/v1/members/invite", `{"role":"trainer","areas":["directory:*"]}`)
	wantErr(t, "an invite with no token", code, m, 401, "bad_token")
	f.token = good

	ms := f.list("/api/v1/members")
	if len(ms) != 4 {
		t.Fatalf("want the admin and three laptops, got %v", ms)
	}
	allowed := map[string]bool{"id": true, "name": true, "role": true, "areas": true, "audiences": true, "since": true,
		"revoked": true, "revoked_at": true, "reason": true, "this_device": true}
	var self string
	for _, x := range ms {
		for k := range x {
			if !allowed[k] {
				t.Fatalf("a device is listed with %q: %v", k, x)
			}
		}
		if x["this_device"] == true {
			self = x["id"].(string)
			if x["role"] != node.RoleAdmin {
				t.Fatalf("this laptop: %v", x)
			}
		}
	}
	if self == "" {
		t.Fatal("no device is marked as this laptop")
	}

	// Invites refused.
	for _, c := range []struct{ what, body, code, word string }{
		{"an unknown role", `{"role":"boss","areas":["*:*"]}`, "bad_field", "unknown role"},
		{"no role", `{"areas":["*:*"]}`, "bad_field", "role"},
		{"no areas", `{"role":"trainer","areas":[]}`, "bad_field", "area"},
		{"a bad area", `{"role":"trainer","areas":["directory:Kivalliq Region"]}`, "bad_field", ""},
		{"an unknown audience", `{"role":"trainer","areas":["directory:*"],"audiences":["everyone"]}`, "bad_field", "audience"},
		{"malformed JSON", `{"role":"trainer",`, "bad_json", ""},
		{"an unknown field", `{"role":"trainer","areas":["directory:*"],"psk":"x"}`, "bad_json", "psk"},
	} {
		code, m, _ := f.json("POST", "/api/v1/members/invite", c.body)
		wantErr(t, c.what, code, m, 400, c.code, c.word)
	}
	code, m, _ = f.json("POST", "/api/v1/members/invite", `{"role":"trainer","areas":["`+strings.Repeat("x", MaxBody)+`"]}`)
	wantErr(t, "an oversized invite request", code, m, 413, "too_large")

	// An invite, and the new laptop's join request admitted.
	code, m, raw := f.json("POST", "/api/v1/members/invite", `{"role":"outreach-worker","areas":["outreach:kivalliq/arviat","directory:*"]}`)
	if code != 201 || m["role"] != node.RoleOutreach || !strings.HasPrefix(m["invite"].(string), "FLOE INVITE v1\n") {
		t.Fatalf("invite: %d %s", code, raw)
	}
	inv, err := node.DecodeInvite([]byte(m["invite"].(string)))
	if err != nil {
		t.Fatalf("the invite text does not decode: %v", err)
	}
	n, jr, _, _ := newJoiner(t, f, inv, "field laptop 7")
	n.Close()
	request := node.EncodeJoinRequest(jr)

	code, m, _ = f.call("POST", "/api/v1/members/admit", "text/plain", []byte("hello"))
	wantErr(t, "a join request that is not one", code, m, 400, "bad_join_request", "FLOE JOIN REQUEST")
	code, m, _ = f.call("POST", "/api/v1/members/admit", "text/plain", tamper(request))
	wantErr(t, "a damaged join request", code, m, 400, "bad_join_request")
	code, m, _ = f.call("POST", "/api/v1/members/admit", "text/plain", bytes.Repeat([]byte("A"), MaxBody+1))
	wantErr(t, "an oversized join request", code, m, 413, "too_large")
	code, m, raw = f.call("POST", "/api/v1/members/admit", "text/plain", request)
	if code != 201 || m["name"] != "field laptop 7" || m["role"] != node.RoleOutreach || m["id"] != jr.Device.String() ||
		strings.Join(toStrings(m["areas"]), " ") != "outreach:kivalliq/arviat directory:*" {
		t.Fatalf("admit: %d %s", code, raw)
	}
	code, m, _ = f.call("POST", "/api/v1/members/admit", "text/plain", request)
	wantErr(t, "admitting the same device again", code, m, 409, "already_member")
	if len(f.list("/api/v1/members")) != 5 {
		t.Fatal("the admitted device is not listed")
	}

	// Revocations refused.
	code, m, _ = f.json("POST", "/api/v1/members/"+self+"/revoke", `{"reason":"test"}`)
	wantErr(t, "revoking this laptop", code, m, 409, "own_device", "this laptop")
	code, m, _ = f.json("POST", "/api/v1/members/dev:aaaaaaaaaaaa/revoke", `{}`)
	wantErr(t, "revoking an unknown device", code, m, 404, "not_found")
	id := jr.Device.String()
	short := strings.TrimPrefix(id, "dev:")[:10]
	code, m, _ = f.json("POST", "/api/v1/members/"+short+"/revoke", `{"reason":"two\nlines"}`)
	wantErr(t, "a reason of two lines", code, m, 400, "bad_field", "one line")
	code, m, _ = f.json("POST", "/api/v1/members/"+short+"/revoke", `{"reason":`)
	wantErr(t, "malformed JSON", code, m, 400, "bad_json")
	code, m, _ = f.json("POST", "/api/v1/members/"+short+"/revoke", `{"reason":"lost","when":"now"}`)
	wantErr(t, "an unknown field", code, m, 400, "bad_json")

	// Who may not.
	for _, c := range []struct {
		who   string
		f     *fixture
		lists bool
	}{{"a trainer", trainer, false}, {"an outreach worker", outreach, false}, {"a coordinator", coord, true}} {
		c.f.unlock()
		code, m, _ := c.f.json("POST", "/api/v1/members/invite", `{"role":"admin","areas":["*:*"]}`)
		wantErr(t, c.who+"'s invite", code, m, 403, "wrong_role", "may not admit or revoke devices")
		code, m, _ = c.f.json("POST", "/api/v1/members/"+id+"/revoke", `{}`)
		wantErr(t, c.who+"'s revocation", code, m, 403, "wrong_role")
		code, m, _ = c.f.call("POST", "/api/v1/members/admit", "text/plain", request)
		wantErr(t, c.who+"'s admission", code, m, 403, "wrong_role")
		code, m, _ = c.f.call("GET", "/api/v1/members", "", nil)
		if c.lists && code != 200 {
			t.Fatalf("%s's list: %d %v", c.who, code, m)
		}
		if !c.lists {
			wantErr(t, c.who+"'s list", code, m, 403, "wrong_role")
		}
	}

	// A revocation, by 10 characters of the ID, that really revokes.
	code, m, raw = f.json("POST", "/api/v1/members/"+short+"/revoke", `{"reason":"lost on the land"}`)
	if code != 200 || m["device"] != id || m["name"] != "field laptop 7" || !strings.Contains(strings.Join(toStrings(m["rotated"]), " "), "network") {
		t.Fatalf("revoke: %d %s", code, raw)
	}
	found := false
	for _, x := range f.list("/api/v1/members") {
		if x["id"] != id {
			if x["revoked"] != false {
				t.Fatalf("another device was revoked: %v", x)
			}
			continue
		}
		found = true
		if x["revoked"] != true || x["revoked_at"] == nil || x["reason"] != "lost on the land" {
			t.Fatalf("the list after the revocation: %v", x)
		}
	}
	if !found {
		t.Fatal("the revoked device left the list")
	}
	code, m, _ = f.json("POST", "/api/v1/members/"+id+"/revoke", `{}`)
	wantErr(t, "revoking it again", code, m, 409, "already_revoked")
	code, m, _ = f.call("POST", "/api/v1/members/admit", "text/plain", request)
	wantErr(t, "admitting a revoked device", code, m, 409, "revoked_device", "never admitted again")
	apiSweep(t, f)
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// upload sends a pack with the page's form.
func (w *webClient) upload(name string, data []byte, action string) (int, string) {
	w.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.WriteField("action", action)
	mw.Close()
	resp, body := w.read(w.c.Post(w.f.ts.URL+"/packs", mw.FormDataContentType(), &b))
	return resp.StatusCode, body
}

var textareaRE = regexp.MustCompile(`(?s)<textarea id="invite-text"[^>]*\breadonly\b[^>]*>(.*?)</textarea>`)

// deviceRowHTML is the devices page's row of a device.
func deviceRowHTML(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `data-id="`+id+`"`)
	if i < 0 {
		t.Fatalf("the page lists no device %s:\n%s", id, page)
	}
	row := page[strings.LastIndex(page[:i], "<tr"):]
	return row[:strings.Index(row, "</tr>")]
}

// The devices page: an admin sees every device, makes an invite to copy,
// admits its join request, and revokes a device after typing REVOKE;
// others see less or nothing.
func TestDevicesPage(t *testing.T) {
	f := newFixture(t)
	outreach := joinLaptop(t, f, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	coord := joinLaptop(t, f, node.RoleCoordinator, "*:*")

	anon := &webClient{t: t, c: &http.Client{}, f: f}
	if code, body := anon.get("/devices"); code != 200 || !strings.Contains(body, `id="passphrase"`) {
		t.Fatalf("the devices page with no session should lead to the unlock page: %d", code)
	}
	w := newWebClient(t, f)
	code, body := w.get("/devices")
	if code != 200 || !strings.Contains(body, `id="invite-form"`) || !strings.Contains(body, `id="admit-form"`) {
		t.Fatalf("the admin's devices page: %d\n%s", code, body)
	}
	for _, name := range []string{"admin", "outreach-worker laptop", "coordinator laptop"} {
		if !strings.Contains(body, ">"+name+"<") {
			t.Fatalf("the page does not list %q", name)
		}
	}
	var selfID, outreachID string
	for _, m := range regexp.MustCompile(`data-id="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		row := deviceRowHTML(t, body, m[1])
		switch {
		case strings.Contains(row, "this laptop"):
			selfID = m[1]
			if strings.Contains(row, "/revoke") {
				t.Fatal("the admin's own laptop has a revoke link")
			}
		case strings.Contains(row, "outreach-worker laptop"):
			outreachID = m[1]
			if !strings.Contains(row, `href="/devices/`+m[1]+`/revoke"`) {
				t.Fatalf("no revoke link for the outreach worker's laptop: %s", row)
			}
		}
	}
	if selfID == "" || outreachID == "" {
		t.Fatalf("rows not found:\n%s", body)
	}

	// An invite: the text to copy, read-only, and it decodes.
	code, body = w.post("/devices/invite", url.Values{"role": {"trainer"}, "areas": {"directory:kivalliq, directory:kitikmeot"}})
	mt := textareaRE.FindStringSubmatch(body)
	if code != 200 || mt == nil {
		t.Fatalf("the invite: %d\n%s", code, body)
	}
	inv, err := node.DecodeInvite([]byte(html.UnescapeString(mt[1])))
	if err != nil || inv.Role != node.RoleTrainer || strings.Join(inv.Areas, " ") != "directory:kivalliq directory:kitikmeot" {
		t.Fatalf("the invite on the page: %+v %v", inv, err)
	}
	code, body = w.post("/devices/invite", url.Values{"role": {"boss"}, "areas": {"*:*"}})
	if code != 400 || !strings.Contains(body, "unknown role") || textareaRE.MatchString(body) {
		t.Fatalf("an invite for an unknown role: %d\n%s", code, body)
	}
	// Its join request, pasted.
	n, jr, _, _ := newJoiner(t, f, inv, "trainer's new laptop")
	n.Close()
	code, body = w.post("/devices/admit", url.Values{"request": {"FLOE JOIN REQUEST v1\nnot base64!"}})
	if code != 400 || !strings.Contains(body, "not a valid Floe join request") || !strings.Contains(body, "not base64!") {
		t.Fatalf("a damaged join request (kept in the form to fix): %d\n%s", code, body)
	}
	code, body = w.post("/devices/admit", url.Values{"request": {string(node.EncodeJoinRequest(jr))}})
	if code != 200 || !strings.Contains(body, `id="admitted"`) || !strings.Contains(deviceRowHTML(t, body, jr.Device.String()), "trainer&#39;s new laptop") {
		t.Fatalf("admit: %d\n%s", code, body)
	}

	// Revoking: a confirmation page; nothing happens without REVOKE.
	code, body = w.get("/devices/" + outreachID + "/revoke")
	if code != 200 || !strings.Contains(body, `id="confirm"`) || !strings.Contains(body, "outreach-worker laptop") {
		t.Fatalf("the confirmation page: %d\n%s", code, body)
	}
	code, body = w.post("/devices/"+outreachID+"/revoke", url.Values{"reason": {"lost"}, "confirm": {"yes"}})
	if code != 400 || !strings.Contains(body, `id="unconfirmed"`) {
		t.Fatalf("a revocation not confirmed: %d\n%s", code, body)
	}
	if _, body = w.get("/devices"); strings.Contains(deviceRowHTML(t, body, outreachID), "revoked") {
		t.Fatal("a revocation without REVOKE typed revoked the device")
	}
	code, body = w.post("/devices/"+outreachID+"/revoke", url.Values{"reason": {"lost on the land"}, "confirm": {"REVOKE"}})
	row := deviceRowHTML(t, body, outreachID)
	if code != 200 || !strings.Contains(body, `id="revoked"`) || !strings.Contains(row, `class="device revoked"`) ||
		!strings.Contains(row, "lost on the land") || strings.Contains(row, "/revoke") {
		t.Fatalf("after the revocation: %d\n%s", code, body)
	}
	// This laptop is never revoked from its own page.
	code, body = w.get("/devices/" + selfID + "/revoke")
	if code != 200 || !strings.Contains(body, "this laptop") || strings.Contains(body, `id="revoke-form"`) {
		t.Fatalf("the confirmation page for this laptop: %d\n%s", code, body)
	}
	if code, _ = w.post("/devices/"+selfID+"/revoke", url.Values{"confirm": {"REVOKE"}}); code != 409 {
		t.Fatalf("revoking this laptop from the page: %d", code)
	}
	if code, _ = w.get("/devices/dev:nobody/revoke"); code != 404 {
		t.Fatalf("the confirmation page of an unknown device: %d", code)
	}
	// In French.
	w.get("/lang?l=fr&next=/devices")
	if _, body = w.get("/devices"); !strings.Contains(body, "Appareils") || !strings.Contains(body, "Inviter un appareil") || strings.Contains(mainOf(body), `class="missing"`) {
		t.Fatalf("the devices page in French:\n%s", body)
	}
	if _, body = w.get("/packs"); !strings.Contains(body, "Trousses de ressources") || strings.Contains(mainOf(body), `class="missing"`) {
		t.Fatalf("the packs page in French:\n%s", body)
	}

	// A coordinator sees the list but cannot change it; an outreach
	// worker does not see it.
	cw := newWebClient(t, coord)
	code, body = cw.get("/devices")
	if code != 200 || !strings.Contains(body, "outreach-worker laptop") || strings.Contains(body, `id="invite-form"`) || strings.Contains(body, "/revoke") {
		t.Fatalf("the coordinator's devices page: %d\n%s", code, body)
	}
	if code, body = cw.post("/devices/invite", url.Values{"role": {"admin"}, "areas": {"*:*"}}); code != 403 || strings.Contains(body, "FLOE INVITE") {
		t.Fatalf("a coordinator's invite from the page: %d", code)
	}
	ow := newWebClient(t, outreach)
	code, body = ow.get("/devices")
	if code != 403 || !strings.Contains(body, "may not see the network&#39;s devices") || strings.Contains(body, "coordinator laptop") {
		t.Fatalf("an outreach worker's devices page: %d\n%s", code, body)
	}
}

// The packs page: the list, a check, an install larger than any other
// form may be, a refused pack, forgetting; an outreach worker sees the
// list only.
func TestPacksPage(t *testing.T) {
	f := newFixture(t)
	packs := buildTestPacks(t, f)
	outreach := joinLaptop(t, f, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	w := newWebClient(t, f)
	code, body := w.get("/packs")
	if code != 200 || !strings.Contains(body, `id="none"`) || !strings.Contains(body, `enctype="multipart/form-data"`) {
		t.Fatalf("the packs page: %d\n%s", code, body)
	}
	code, body = w.upload("kivalliq-v1.pack", packs.full, "verify")
	if code != 200 || !strings.Contains(body, `id="verified"`) || !strings.Contains(body, "Not installed yet") || !strings.Contains(body, `id="none"`) {
		t.Fatalf("a check: %d\n%s", code, body)
	}
	code, body = w.upload("kivalliq-v1.pack", tamper(packs.full), "install")
	if code != 400 || !strings.Contains(body, "not an intact Floe pack") || !strings.Contains(body, `id="none"`) {
		t.Fatalf("a tampered pack: %d\n%s", code, body)
	}
	code, body = w.upload("other.pack", packs.other, "install")
	if code != 400 || !strings.Contains(body, "it is for network") {
		t.Fatalf("another network's pack: %d\n%s", code, body)
	}
	code, body = w.upload("", nil, "install")
	if code != 400 || !strings.Contains(body, "choose a pack file") {
		t.Fatalf("no file chosen: %d\n%s", code, body)
	}
	code, body = w.upload("kivalliq-v1.pack", packs.full, "install")
	if code != 200 || !strings.Contains(body, `id="installed"`) || !regexp.MustCompile(`<td>kivalliq-services</td><td>1</td><td>17</td>`).MatchString(body) {
		t.Fatalf("an install: %d\n%s", code, body)
	}
	code, body = w.upload("kivalliq-v1.pack", packs.full, "install")
	if code != 409 || !strings.Contains(body, "installed already") {
		t.Fatalf("the same version again: %d\n%s", code, body)
	}
	code, body = w.upload("posters.pack", packs.posters, "install")
	if code != 200 || !strings.Contains(body, "<td>posters</td>") {
		t.Fatalf("a %d-byte pack from the page: %d\n%s", len(packs.posters), code, body)
	}
	restore := lowerMaxPack(64 << 10)
	code, body = w.upload("posters.pack", packs.posters, "verify")
	restore()
	if code != 413 || !strings.Contains(body, "over 65536 bytes") {
		t.Fatalf("a pack over the cap from the page: %d\n%s", code, body)
	}
	code, body = w.post("/packs/remove", url.Values{"name": {"posters"}})
	if code != 200 || !strings.Contains(body, `id="removed"`) || strings.Contains(body, "<td>posters</td>") || !strings.Contains(body, "<td>kivalliq-services</td>") {
		t.Fatalf("forgetting a pack: %d\n%s", code, body)
	}
	if code, body = w.post("/packs/remove", url.Values{"name": {"posters"}}); code != 404 || !strings.Contains(body, "no pack named") {
		t.Fatalf("forgetting it again: %d\n%s", code, body)
	}
	left, _ := filepath.Glob(filepath.Join(f.srv.cfg.Dir, "pack-upload-*"))
	if len(left) > 0 {
		t.Fatalf("uploads left behind: %v", left)
	}
	// An outreach worker: the list, no form; an upload is refused.
	ow := newWebClient(t, outreach)
	code, body = ow.get("/packs")
	if code != 200 || strings.Contains(body, `id="upload-form"`) || strings.Contains(body, "/packs/remove") {
		t.Fatalf("an outreach worker's packs page: %d\n%s", code, body)
	}
	if code, _ = ow.upload("kivalliq-v1.pack", packs.full, "install"); code != 403 {
		t.Fatalf("an outreach worker's upload: %d", code)
	}
}

// In a browser on a phone-sized screen (390 by 844 CSS pixels), in
// English and French: an invite to copy, a revocation confirmed by
// typing REVOKE, and a pack chosen from the phone's files and installed.
// No page scrolls sideways.
func TestAdminScreensOnAPhone(t *testing.T) {
	chromium(t)
	f := newFixture(t)
	packs := buildTestPacks(t, f)
	joinLaptop(t, f, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	joinLaptop(t, f, node.RoleCoordinator, "*:*")
	file := filepath.Join(t.TempDir(), "kivalliq-services.pack")
	if err := os.WriteFile(file, packs.full, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := browser(t)
	defer cancel()
	fits := func(where string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var scroll, width int
			if err := chromedp.Evaluate(`document.documentElement.scrollWidth`, &scroll).Do(ctx); err != nil {
				return err
			}
			if err := chromedp.Evaluate(`document.documentElement.clientWidth`, &width).Do(ctx); err != nil {
				return err
			}
			if scroll > width+1 {
				t.Errorf("%s is %d pixels wide on a %d-pixel phone screen: it scrolls sideways", where, scroll, width)
			}
			return nil
		})
	}
	var invite, state, page string
	steps := append([]chromedp.Action{chromedp.EmulateViewport(390, 844)}, unlockInBrowser(f.ts.URL)...)
	steps = append(steps,
		chromedp.Click("#nav-devices", chromedp.ByID),
		chromedp.WaitVisible("#invite-form", chromedp.ByID),
		fits("the devices page"),
		chromedp.SetValue("#role", node.RoleTrainer, chromedp.ByID),
		chromedp.SendKeys("#areas", "directory:kivalliq", chromedp.ByID),
		chromedp.Click("#make-invite", chromedp.ByID),
		chromedp.WaitVisible("#invite-text", chromedp.ByID),
		chromedp.Value("#invite-text", &invite, chromedp.ByID),
		fits("the devices page with an invite"),
		chromedp.Click(`//tr[contains(., "outreach-worker laptop")]//a[@class="revoke"]`, chromedp.BySearch),
		chromedp.WaitVisible("#confirm", chromedp.ByID),
		fits("the revocation's confirmation"),
		chromedp.SendKeys("#reason", "lost on the land", chromedp.ByID),
		chromedp.SendKeys("#confirm", "REVOKE", chromedp.ByID),
		chromedp.Click("#revoke", chromedp.ByID),
		chromedp.WaitVisible("#revoked", chromedp.ByID),
		chromedp.Text("tr.revoked", &state, chromedp.ByQuery),
		fits("the devices page after a revocation"),
		chromedp.Click("#nav-packs", chromedp.ByID),
		chromedp.WaitVisible("#upload-form", chromedp.ByID),
		chromedp.SetUploadFiles("#file", []string{file}, chromedp.ByID),
		chromedp.Click("#install", chromedp.ByID),
		chromedp.WaitVisible("#installed", chromedp.ByID),
		fits("the packs page after an install"),
		chromedp.Click("#lang-fr", chromedp.ByID),
		chromedp.WaitVisible(`html[lang="fr"] #q`, chromedp.ByQuery),
		chromedp.Click("#nav-packs", chromedp.ByID),
		chromedp.WaitVisible("#packs", chromedp.ByID),
		fits("the packs page in French"),
		chromedp.Click("#nav-devices", chromedp.ByID),
		chromedp.WaitVisible("#invite-form", chromedp.ByID),
		fits("the devices page in French"),
		chromedp.OuterHTML("html", &page, chromedp.ByQuery),
	)
	// The browser starts with the test's context; each step has a
	// shorter one, so a step that never happens says which it was.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatal(err)
	}
	for i, step := range steps {
		sctx, done := context.WithTimeout(ctx, 15*time.Second)
		err := chromedp.Run(sctx, step)
		done()
		if err != nil {
			var shown string
			chromedp.Run(ctx, chromedp.OuterHTML("main", &shown, chromedp.ByQuery))
			t.Fatalf("step %d of the walk-through: %v; the page shows:\n%s", i+1, err, shown)
		}
	}
	if !strings.HasPrefix(invite, "FLOE INVITE v1\n") {
		t.Fatalf("the invite to copy: %q", invite)
	}
	if !strings.Contains(state, "lost on the land") {
		t.Fatalf("the revoked device's row: %q", state)
	}
	noLeak(t, "the devices page", []byte(page))
}
