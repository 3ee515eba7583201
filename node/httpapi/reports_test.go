package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
)

// reportFixture is the fixture's node with fictional services and
// outreach records (the node is locked again after), and the fictional
// shelter's ID. By row (C, R, then hotline shelter health legal
// transport funds other unknown):
//
//	Testville 2026-03: 12 contacts, 7 referred: health 5, legal 2
//	Testville 2026-04: 2 contacts: shelter 1, unknown 1
//	Example Cove 2026-05: 6 contacts, 5 referred to the shelter
//	=Fictional Flats 2026-05: 1 contact
func reportFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	ctx := context.Background()
	n, err := node.Open(ctx, f.srv.cfg.Dir, []byte(pass), f.srv.cfg.Options)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	add := func(coll string, fields ...string) string {
		t.Helper()
		var ch []node.Change
		for _, a := range fields {
			c, err := node.ParseChange(a)
			if err != nil {
				t.Fatal(err)
			}
			ch = append(ch, c)
		}
		id, err := n.Add(ctx, coll, ch)
		if err != nil {
			t.Fatalf("%v: %v", fields, err)
		}
		return id.String()
	}
	add(node.Directory, "name=Testville Health Hut (fictional)", "kind=health")
	add(node.Directory, "name=Placeholder Legal Aid (fictional)", "kind=legal")
	shelter := add(node.Directory, "name=Nowhere Safe House (fictional)", "kind=shelter", "location="+fieldkit.CanaryMarker+" 1 Imaginary Lane")
	contact := func(date, community, ref string, times int) {
		for range times {
			fs := []string{"date=" + date, "community=" + community, "contact=in-person", "subject=S-7K3Q"}
			if ref != "" {
				fs = append(fs, "referred_to="+ref)
			}
			add(node.Outreach, fs...)
		}
	}
	contact("2026-03-03", "Testville", "Testville Health Hut (fictional)", 5)
	contact("2026-03-04", "Testville", "placeholder legal aid (fictional)", 2)
	contact("2026-03-05", "Testville", "", 5)
	contact("2026-04-01", "Testville", shelter[:8], 1)
	contact("2026-04-02", "Testville", "ask at the co-op for S-4R4R", 1)
	contact("2026-05-06", "Example Cove", shelter[:8], 5)
	contact("2026-05-07", "Example Cove", "", 1)
	contact("2026-05-08", "=Fictional Flats", "", 1)
	return f, shelter
}

// noReportLeak fails when a response shows the planted location (noLeak)
// or anything else of a record but counts and community names.
func noReportLeak(t *testing.T, what string, raw []byte, shelter string) {
	t.Helper()
	noLeak(t, what, raw)
	low := strings.ToLower(string(raw))
	for _, leak := range []string{"imaginary lane", "S-7K3Q", "S-4R4R", "co-op", "health hut", "legal aid", "safe house", shelter[:8]} {
		if strings.Contains(low, strings.ToLower(leak)) {
			t.Errorf("%s shows %q", what, leak)
		}
	}
}

// The report as JSON and CSV: counts by community and month, small ones
// as <5, the ones that would give a small one away as x, and nothing of
// the records but community names.
func TestReportsAPI(t *testing.T) {
	f, shelter := reportFixture(t)
	for _, p := range []string{"/api/v1/reports", "/api/v1/reports.csv"} {
		if code, m, _ := f.do("GET", p, ""); code != 401 || m["code"] != "locked" {
			t.Errorf("%s while locked: %d %v", p, code, m)
		}
	}
	f.unlock()
	good := f.token
	f.token = "0000"
	for _, p := range []string{"/api/v1/reports", "/api/v1/reports.csv"} {
		if code, m, _ := f.do("GET", p, ""); code != 401 || m["code"] != "bad_token" {
			t.Errorf("%s with a wrong token: %d %v", p, code, m)
		}
	}
	f.token = good

	code, _, raw := f.do("GET", "/api/v1/reports", "")
	if code != 200 {
		t.Fatalf("the report: %d %s", code, raw)
	}
	noReportLeak(t, "the JSON report", raw, shelter)
	var rep struct {
		From, To    string
		Kinds       []string
		Communities []string
		Rows        []struct {
			Community, Month, Contacts, Referrals string
			Kinds                                 map[string]string
		}
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.From != "2026-03" || rep.To != "2026-05" || !slices.Equal(rep.Kinds, []string{"hotline", "shelter", "health", "legal", "transport", "funds", "other", "unknown"}) {
		t.Errorf("the report's months and kinds: %s", raw)
	}
	got := map[string]string{}
	for _, r := range rep.Rows {
		cells := []string{r.Contacts, r.Referrals}
		for _, k := range rep.Kinds {
			cells = append(cells, r.Kinds[k])
		}
		got[r.Community+" "+r.Month] = strings.Join(cells, " ")
	}
	//                                            C  R  hotline shelter health legal transport funds other unknown
	want := map[string]string{
		"Testville 2026-03":        "12 7 0 0 x <5 0 0 0 0",
		"Testville 2026-04":        "<5 <5 0 <5 0 0 0 0 0 <5",
		"Example Cove 2026-05":     "x 5 0 5 0 0 0 0 0 0",
		"=Fictional Flats 2026-05": "<5 0 0 0 0 0 0 0 0 0",
	}
	if len(got) != len(want) {
		t.Errorf("rows: %v", got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}

	// Filters.
	code, _, raw = f.do("GET", "/api/v1/reports?from=2026-04&to=2026-05&community=example+cove", "")
	json.Unmarshal(raw, &rep)
	if code != 200 || len(rep.Rows) != 1 || rep.Rows[0].Community != "Example Cove" || rep.Rows[0].Kinds["shelter"] != "5" {
		t.Errorf("Example Cove, April to May: %d %s", code, raw)
	}
	for q, says := range map[string]string{
		"from=2026-13":              `"2026-13" is not a month`,
		"to=26-01":                  `"26-01" is not a month`,
		"from=2026-05&to=2026-03":   "from (2026-05) is after to (2026-03)",
		"from=2026-03&to=2026-02-1": "YYYY-MM",
	} {
		for _, p := range []string{"/api/v1/reports?", "/api/v1/reports.csv?"} {
			code, m, _ := f.do("GET", p+q, "")
			if msg, _ := m["error"].(string); code != 400 || m["code"] != "bad_query" || !strings.Contains(msg, says) {
				t.Errorf("%s%s: %d %v", p, q, code, m)
			}
		}
	}

	// The CSV: the same cells, with the columns named.
	resp, _, raw := f.send("GET", "/api/v1/reports.csv?from=2026-03&to=2026-05", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("the CSV: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="floe-report-2026-03-2026-05.csv"` {
		t.Errorf("the CSV's Content-Disposition: %q", cd)
	}
	noReportLeak(t, "the CSV", raw, shelter)
	lines, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, raw)
	}
	if head := strings.Join(lines[0], ","); head != "community,month,contacts,referrals,hotline,shelter,health,legal,transport,funds,other,unknown" {
		t.Errorf("the CSV's columns: %s", head)
	}
	rows := map[string]string{}
	for _, l := range lines[1:] {
		rows[l[0]+" "+l[1]] = strings.Join(l[2:], " ")
	}
	for k, w := range want {
		if strings.HasPrefix(k, "=") {
			k = "'" + k // not a formula for a spreadsheet
		}
		if rows[k] != w {
			t.Errorf("CSV %s: %q, want %q (all: %v)", k, rows[k], w, rows)
		}
	}
	if resp, _, _ := f.send("GET", "/api/v1/reports.csv?community=Nowhere", "", nil); resp.Header.Get("Content-Disposition") != `attachment; filename="floe-report.csv"` {
		t.Errorf("an empty report's file name: %q", resp.Header.Get("Content-Disposition"))
	}
}

// A coordinator's laptop gets the same report; an outreach worker's gets
// none, by API or by browser, and no menu link to it.
func TestReportsByRole(t *testing.T) {
	f, shelter := reportFixture(t)
	coord := joinLaptop(t, f, node.RoleCoordinator, "*:*")
	coord.unlock()
	if code, _, raw := coord.do("GET", "/api/v1/reports?community=Testville", ""); code != 200 || !strings.Contains(string(raw), `"health": "x"`) {
		t.Errorf("a coordinator's report: %d %s", code, raw)
	}
	worker := joinLaptop(t, f, node.RoleOutreach, "*:*")
	worker.unlock()
	for _, p := range []string{"/api/v1/reports", "/api/v1/reports.csv"} {
		code, m, raw := worker.do("GET", p, "")
		if msg, _ := m["error"].(string); code != 403 || m["code"] != "wrong_role" || !strings.Contains(msg, "outreach-worker") {
			t.Errorf("%s for an outreach worker: %d %s", p, code, raw)
		}
		noReportLeak(t, p+" for an outreach worker", raw, shelter)
	}
	w := newWebClient(t, worker)
	for _, p := range []string{"/reports", "/reports.csv"} {
		resp, body := w.fetch(p)
		if resp.StatusCode != 403 || !strings.Contains(body, "may not see reports") || strings.Contains(body, "Testville") {
			t.Errorf("%s for an outreach worker: %d\n%s", p, resp.StatusCode, body)
		}
	}
	if _, body := w.fetch("/directory"); strings.Contains(body, `id="nav-reports"`) {
		t.Error("an outreach worker's menu links to reports")
	}
}

// The reports screen: the table (scrollable on a phone), the filter, the
// CSV link for the same months, a bad month explained, and French.
func TestReportsPage(t *testing.T) {
	f, shelter := reportFixture(t)
	w := newWebClient(t, f)
	resp, body := w.fetch("/reports")
	if resp.StatusCode != 200 {
		t.Fatalf("the reports screen: %d\n%s", resp.StatusCode, body)
	}
	noReportLeak(t, "the reports screen", []byte(body), shelter)
	for _, want := range []string{
		`id="nav-reports"`, `<div class="table-scroll">`, `<table id="report">`,
		`<th>Service not in the directory</th>`, `<th>Shelter</th>`,
		`<td>Testville</td><td>2026-03</td><td class="num">12</td><td class="num">7</td><td class="num">0</td><td class="num">0</td><td class="num">x</td><td class="num">&lt;5</td>`,
		`<option>Example Cove</option>`, `href="/reports.csv"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the reports screen lacks %s\n%s", want, body)
		}
	}

	resp, body = w.fetch("/reports?from=2026-04&to=2026-05&community=testville")
	if resp.StatusCode != 200 || !strings.Contains(body, `<option selected>Testville</option>`) || strings.Contains(body, "2026-03") ||
		!strings.Contains(body, `href="/reports.csv?community=testville&amp;from=2026-04&amp;to=2026-05"`) {
		t.Errorf("Testville from April: %d\n%s", resp.StatusCode, body)
	}
	resp, csvBody := w.fetch("/reports.csv?community=testville&from=2026-04&to=2026-05")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") != `attachment; filename="floe-report-2026-04-2026-05.csv"` ||
		!strings.Contains(csvBody, "\nTestville,2026-04,<5,<5,0,<5,0,0,0,0,0,<5\n") || strings.Count(csvBody, "\n") != 2 {
		t.Errorf("the screen's CSV: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Disposition"), csvBody)
	}

	for _, p := range []string{"/reports?from=2026-13", "/reports.csv?from=2026-13"} {
		resp, body = w.fetch(p)
		if resp.StatusCode != 400 || !strings.Contains(body, `id="error">from &#34;2026-13&#34; is not a month`) || !strings.Contains(body, "<option>Testville</option>") {
			t.Errorf("%s: %d\n%s", p, resp.StatusCode, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: the refusal has no content security policy (%q)", p, csp)
		}
	}
	resp, body = w.fetch("/reports?community=Nowhere")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="none"`) || strings.Contains(body, `id="csv"`) {
		t.Errorf("a community with no records: %d\n%s", resp.StatusCode, body)
	}

	w.fetch("/lang?l=fr&next=/")
	_, body = w.fetch("/reports")
	for _, want := range []string{"<h1>Rapports</h1>", "<th>Orientations</th>", "<th>Refuge</th>", "<th>Service absent du répertoire</th>", "Télécharger le CSV"} {
		if !strings.Contains(body, want) {
			t.Errorf("the French reports screen lacks %s", want)
		}
	}
	if strings.Contains(body, `class="missing"`) {
		t.Errorf("the French reports screen has untranslated strings:\n%s", body)
	}
}
