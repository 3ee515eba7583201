package node_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
)

// Rows as a funder sees them: small counts as <5, and the cells hidden
// besides so that none can be worked out from its row.
func TestSuppressRowExamples(t *testing.T) {
	for _, c := range []struct {
		name               string
		contacts, referred int
		kinds              []int
		want               string
	}{
		{"nothing small", 20, 12, []int{7, 5, 0}, "20 12 7 5 0"},
		{"a small count of contacts", 3, 0, []int{0, 0, 0}, "<5 0 0 0 0"},
		{"one small kind: the next smallest kind hides it", 20, 12, []int{2, 10, 0}, "20 12 <5 x 0"},
		{"two small kinds whose sum the others give", 20, 12, []int{1, 1, 10}, "20 12 <5 <5 x"},
		{"two small kinds that stay open (3 or 4 each)", 20, 12, []int{3, 4, 5}, "20 12 <5 <5 5"},
		{"the one other kind is 5: hiding the referrals protects", 30, 6, []int{1, 5, 0}, "30 x <5 5 0"},
		{"every contact referred: both totals hide", 6, 6, []int{1, 5, 0}, "x x <5 5 0"},
		{"contacts minus referrals would give 1", 6, 5, []int{5, 0, 0}, "x 5 5 0 0"},
		{"small everything", 4, 4, []int{1, 3, 0}, "<5 <5 <5 <5 0"},
	} {
		got := strings.Join(node.SuppressRow(c.contacts, c.referred, c.kinds), " ")
		if got != c.want {
			t.Errorf("%s: %d contacts, %d referrals, kinds %v show as %q, want %q", c.name, c.contacts, c.referred, c.kinds, got, c.want)
		}
	}
}

// On many random rows, no <5 cell, and no small count of contacts
// without a referral, can be worked out exactly by a reader who knows
// that <5 is 1 to 4 and x is 5 or more: checked by trying every count the
// shown row allows, apart from the suppression's own arithmetic.
func TestSuppressRowNeverDisclosed(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	count := func() int {
		switch rnd.IntN(3) {
		case 0:
			return 0
		case 1:
			return 1 + rnd.IntN(4)
		}
		return 5 + rnd.IntN(10)
	}
	hidden := 0
	for range 1500 {
		kinds := make([]int, 8)
		for range 1 + rnd.IntN(3) {
			kinds[rnd.IntN(len(kinds))] = count()
		}
		without := count()
		referred := 0
		for _, k := range kinds {
			referred += k
		}
		contacts := referred + without
		if contacts == 0 {
			continue
		}
		shown := node.SuppressRow(contacts, referred, kinds)
		truth := append([]int{contacts, referred}, kinds...)
		for i, s := range shown {
			switch {
			case truth[i] >= 1 && truth[i] <= 4:
				if s != "<5" {
					t.Fatalf("row %v: %d shows as %q", truth, truth[i], s)
				}
			case s == "x":
				hidden++
				if truth[i] < 5 {
					t.Fatalf("row %v: x hides %d", truth, truth[i])
				}
			case s != strconv.Itoa(truth[i]):
				t.Fatalf("row %v: %d shows as %q", truth, truth[i], s)
			}
		}
		if v, ok := workedOut(shown, truth, without); ok {
			t.Fatalf("row %v (%d without a referral) shows as %v: %s can be worked out", truth, without, shown, v)
		}
	}
	if hidden == 0 {
		t.Fatal("no row needed a cell hidden: the test rows are too easy")
	}
}

// workedOut tries every row of counts the shown cells allow (up to a
// bound beyond the true ones) and names a protected count that has one
// possible value.
func workedOut(shown []string, truth []int, without int) (string, bool) {
	limit := slices.Max(truth) + 12
	rangeOf := func(s string) (int, int) {
		switch s {
		case "<5":
			return 1, 4
		case "x":
			return 5, limit
		}
		v, _ := strconv.Atoi(s)
		return v, v
	}
	kinds := shown[2:]
	lo := make([]int, len(truth)+1)
	hi := make([]int, len(truth)+1)
	for i := range lo {
		lo[i], hi[i] = 1<<30, -1
	}
	see := func(i, v int) { lo[i], hi[i] = min(lo[i], v), max(hi[i], v) }
	vals := make([]int, len(kinds))
	var try func(j int)
	try = func(j int) {
		if j < len(kinds) {
			a, b := rangeOf(kinds[j])
			for v := a; v <= b; v++ {
				vals[j] = v
				try(j + 1)
			}
			return
		}
		r := 0
		for _, v := range vals {
			r += v
		}
		if a, b := rangeOf(shown[1]); r < a || r > b {
			return
		}
		ca, cb := rangeOf(shown[0])
		ca = max(ca, r) // no fewer contacts than referrals
		if ca > cb {
			return
		}
		see(0, ca)
		see(0, cb)
		see(1, r)
		for k, v := range vals {
			see(2+k, v)
		}
		see(len(truth), ca-r)
		see(len(truth), cb-r)
	}
	try(0)
	names := []string{"the contacts", "the referrals"}
	for i := range kinds {
		names = append(names, "kind column "+strconv.Itoa(i))
	}
	for i, s := range shown {
		if s == "<5" && lo[i] == hi[i] {
			return names[i], true
		}
	}
	if without >= 1 && without <= 4 && lo[len(truth)] == hi[len(truth)] {
		return "the contacts without a referral", true
	}
	return "", false
}

// A report counts the records this node holds by community and month,
// finds each referral's kind of service by ID, ID prefix or name in any
// language, leaves deleted records out, and never shows free text.
func TestReport(t *testing.T) {
	n := newHarness(t).init()
	health := mustAdd(t, n, node.Directory, "name=Testville Health Hut (fictional)", "name/fr=Cabane de santé de Testville (fictive)", "kind=health")
	mustAdd(t, n, node.Directory, "name=Placeholder Legal Aid (fictional)", "kind=legal")
	shelter := mustAdd(t, n, node.Directory, "name=Nowhere Safe House (fictional)", "kind=shelter", "location="+fieldkit.CanaryMarker+" 1 Imaginary Lane")
	mustAdd(t, n, node.Directory, "name=Twin Name Service (fictional)", "kind=health")
	mustAdd(t, n, node.Directory, "name=Twin Name Service (fictional)", "kind=transport")

	contact := func(date, community, ref string) {
		t.Helper()
		args := []string{"date=" + date, "community=" + community, "contact=phone", "subject=S-7K3Q"}
		if ref != "" {
			args = append(args, "referred_to="+ref)
		}
		mustAdd(t, n, node.Outreach, args...)
	}
	// Testville, March: 12 contacts, 7 referred: 5 to health, 2 to legal.
	contact("2026-03-02", "Testville", "Testville Health Hut (fictional)")
	contact("2026-03-03", "testville ", "testville health hut (FICTIONAL)")
	contact("2026-03-04", "Testville", "cabane de santé de testville (fictive)")
	contact("2026-03-05", "Testville", health.String())
	contact("2026-03-06", "Testville", health.String()[:8])
	contact("2026-03-07", "Testville", "PLACEHOLDER LEGAL AID (FICTIONAL)")
	contact("2026-03-08", "Testville", " Placeholder Legal Aid (fictional) ")
	for d := range 5 {
		contact("2026-03-1"+strconv.Itoa(d), "Testville", "")
	}
	// A deleted record counts nowhere.
	gone := mustAdd(t, n, node.Outreach, "date=2026-03-20", "community=Testville", "contact=phone", "subject=S-9Z9Z", "referred_to="+shelter.String())
	if err := n.Delete(ctx, node.Outreach, gone); err != nil {
		t.Fatal(err)
	}
	// Testville, April: two referrals to no one service of one kind.
	contact("2026-04-01", "Testville", "Twin Name Service (fictional)")
	contact("2026-04-02", "Testville", "ask at the co-op for S-4R4R")
	// Example Cove: February, no referral; May, five to the shelter.
	for range 6 {
		contact("2026-02-10", "Example Cove", "")
	}
	for range 5 {
		contact("2026-05-10", "Example Cove", shelter.String()[:6])
	}

	rep, err := n.Report(ctx, node.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.From != "2026-02" || rep.To != "2026-05" {
		t.Errorf("the months covered: %s to %s", rep.From, rep.To)
	}
	if want := append(slices.Clone(node.ServiceKinds), "unknown"); !slices.Equal(rep.Kinds, want) {
		t.Errorf("kind columns %v, want %v", rep.Kinds, want)
	}
	got := map[string]string{}
	for _, r := range rep.Rows {
		got[r.Community+" "+r.Month] = strings.Join(r.Cells(rep.Kinds), " ")
	}
	//                                        C  R  hotline shelter health legal transport funds other unknown
	want := map[string]string{
		"Example Cove 2026-02": "6 0 0 0 0 0 0 0 0 0",
		"Example Cove 2026-05": "5 5 0 5 0 0 0 0 0 0",
		"Testville 2026-03":    "12 7 0 0 x <5 0 0 0 0",
		"Testville 2026-04":    "<5 <5 0 0 0 0 0 0 0 <5",
	}
	if len(got) != len(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	if order := []string{rep.Rows[0].Month, rep.Rows[len(rep.Rows)-1].Community}; order[0] != "2026-02" || order[1] != "Testville" {
		t.Errorf("rows out of order: %v", rep.Rows)
	}
	b, _ := json.Marshal(rep)
	for _, leak := range []string{"S-7K3Q", "S-9Z9Z", "S-4R4R", "co-op", "fictional", "Hut", strings.ToLower(fieldkit.CanaryMarker), shelter.String()[:6]} {
		if strings.Contains(strings.ToLower(string(b)), strings.ToLower(leak)) {
			t.Errorf("the report shows %q: %s", leak, b)
		}
	}

	rep, err = n.Report(ctx, node.ReportOptions{From: "2026-03", To: "2026-04", Community: "  TESTVILLE"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 || rep.Rows[0].Month != "2026-03" || rep.Rows[1].Month != "2026-04" || rep.Community != "Testville" {
		t.Errorf("Testville, March to April: %+v", rep)
	}
	if !slices.Equal(rep.Communities, []string{"Testville"}) {
		t.Errorf("communities with records in March and April: %v", rep.Communities)
	}
	rep, err = n.Report(ctx, node.ReportOptions{From: "2026-05"})
	if err != nil || len(rep.Rows) != 1 || rep.Rows[0].Community != "Example Cove" || rep.From != "2026-05" || rep.To != "2026-05" {
		t.Errorf("from May: %+v %v", rep, err)
	}
	rep, err = n.Report(ctx, node.ReportOptions{Community: "Nowhere"})
	if err != nil || len(rep.Rows) != 0 || rep.From != "" || len(rep.Communities) != 2 {
		t.Errorf("a community with no records: %+v %v", rep, err)
	}

	for _, bad := range []node.ReportOptions{{From: "2026-13"}, {To: "2026-3"}, {From: "March"}, {From: "2026-05", To: "2026-03"}} {
		_, err := n.Report(ctx, bad)
		var qe *node.ReportQueryError
		if !errors.As(err, &qe) {
			t.Errorf("%+v: %v, want a query error", bad, err)
		}
	}
}
