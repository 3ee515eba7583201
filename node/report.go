package node

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// Reports: contacts and referrals by community, month and service kind,
// from the outreach records this node holds, for coordinators to send to
// funders. A report holds counts and community names only: never a
// subject code, a date finer than the month, a referral's text or a
// service's name.
//
// Small counts are suppressed. A count from 1 to 4 shows as "<5" (0 shows
// as 0). Within a row the cells are tied together: the kind columns add
// up to the referrals, and the contacts are the referrals plus the
// contacts with no referral (a count the report does not show, but which
// contacts minus referrals would give). Complementary suppression hides
// more cells, shown as "x", until no "<5" cell and no small count of
// contacts without a referral can be worked out exactly from the rest of
// its row, even by a reader who knows that "<5" means 1 to 4 and "x"
// means 5 or more. Rows are protected one at a time: there is no total
// across communities or months for a reader to subtract from, but figures
// from elsewhere (an exact total, or the same month reported again after
// more records arrive) can still be differenced against a row.

// ReportUnknownKind is the column of referrals whose service is not in
// the directory this node holds.
const ReportUnknownKind = "unknown"

// How suppressed cells show.
const (
	// ReportSmall is a count from 1 to 4.
	ReportSmall = "<5"
	// ReportHidden is a count of 5 or more, hidden so that a small one
	// cannot be worked out from the rest of its row.
	ReportHidden = "x"
)

// ReportOptions narrow a report. Months are YYYY-MM and inclusive; empty
// means no bound. Community matches a community name regardless of case
// and surrounding spaces; empty means every community.
type ReportOptions struct {
	From, To  string
	Community string
}

// Report is an aggregate, de-identified report. Every cell is a string:
// a count, ReportSmall or ReportHidden.
type Report struct {
	// From and To are the months covered: the ones asked for, or else the
	// first and last months with a row. Empty when unbounded and no row.
	From string `json:"from"`
	To   string `json:"to"`
	// Community is the community asked for, spelled as in the rows.
	Community string `json:"community,omitempty"`
	// Kinds are the kind columns, in order: the service kinds, then
	// ReportUnknownKind.
	Kinds []string `json:"kinds"`
	// Communities are the communities with a row in the months covered,
	// whichever community was asked for (for a form's choices).
	Communities []string `json:"communities"`
	// Rows are one per community and month with at least one contact,
	// by community, then month.
	Rows []ReportRow `json:"rows"`
}

// ReportRow is one community's month.
type ReportRow struct {
	Community string `json:"community"`
	Month     string `json:"month"`
	Contacts  string `json:"contacts"`
	Referrals string `json:"referrals"`
	// Kinds holds the referrals by kind of service, one per Report.Kinds.
	Kinds map[string]string `json:"kinds"`
}

// Cells are the row's counts in column order: contacts, referrals, then
// one per kind.
func (r ReportRow) Cells(kinds []string) []string {
	out := []string{r.Contacts, r.Referrals}
	for _, k := range kinds {
		out = append(out, r.Kinds[k])
	}
	return out
}

// ReportQueryError is a report asked for with bad options.
type ReportQueryError struct{ Msg string }

func (e *ReportQueryError) Error() string { return e.Msg }

var monthRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)

func checkMonth(name, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if _, err := time.Parse("2006-01", v); err != nil || !monthRe.MatchString(v) {
		return "", &ReportQueryError{fmt.Sprintf("%s %q is not a month: give it as YYYY-MM, e.g. 2026-03", name, v)}
	}
	return v, nil
}

// reportKinds are the kind columns.
func reportKinds() []string {
	return append(slices.Clone(ServiceKinds), ReportUnknownKind)
}

// foldKey is how names are compared: surrounding and repeated spaces,
// letter case and Unicode composition do not count.
func foldKey(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(norm.NFC.String(s)), " "))
}

// Report counts the contacts and referrals of the outreach records this
// node holds, by community and month, and suppresses small counts.
// Deleted records are not counted. A referral's service kind is that of
// the directory record its referred_to names, by record ID (or a unique
// prefix of it) or by the service's name in any language (letter case
// aside); a referral to a service not found, or to a name shared by
// services of different kinds, counts as ReportUnknownKind.
func (n *Node) Report(ctx context.Context, opts ReportOptions) (Report, error) {
	from, err := checkMonth("from", opts.From)
	if err != nil {
		return Report{}, err
	}
	to, err := checkMonth("to", opts.To)
	if err != nil {
		return Report{}, err
	}
	if from != "" && to != "" && from > to {
		return Report{}, &ReportQueryError{fmt.Sprintf("from (%s) is after to (%s): the first month comes first", from, to)}
	}
	want := foldKey(opts.Community)

	kindByID := map[string]string{}
	kindByName := map[string]string{}
	err = n.List(ctx, Directory, func(r Record) error {
		kind := r.Get("kind")
		if !slices.Contains(ServiceKinds, kind) {
			kind = ReportUnknownKind
		}
		kindByID[r.ID] = kind
		for _, f := range r.Fields {
			if top, _, _ := splitPath(f.Path); top != "name" {
				continue
			}
			k := foldKey(fmt.Sprint(f.Value))
			if old, ok := kindByName[k]; ok && old != kind {
				kindByName[k] = ReportUnknownKind // one name, two kinds of service
			} else {
				kindByName[k] = kind
			}
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	resolved := map[string]string{}
	kindOf := func(ref string) string {
		if k, ok := resolved[ref]; ok {
			return k
		}
		k := ReportUnknownKind
		if id, err := n.FindID(ctx, Directory, ref); err == nil && kindByID[id.String()] != "" {
			k = kindByID[id.String()]
		} else if byName, ok := kindByName[foldKey(ref)]; ok {
			k = byName
		}
		resolved[ref] = k
		return k
	}

	kinds := reportKinds()
	type key struct{ community, month string }
	counts := map[key][]int{} // contacts, referrals, then one per kind
	spellings := map[string]map[string]int{}
	inRange := map[string]bool{}
	err = n.List(ctx, Outreach, func(r Record) error {
		d, err := time.Parse(time.DateOnly, r.Get("date"))
		if err != nil {
			return nil // not a date: the schema refuses such records
		}
		month := d.Format("2006-01")
		name := strings.Join(strings.Fields(norm.NFC.String(r.Get("community"))), " ")
		ck := foldKey(name)
		if ck == "" {
			return nil
		}
		if spellings[ck] == nil {
			spellings[ck] = map[string]int{}
		}
		spellings[ck][name]++
		if (from != "" && month < from) || (to != "" && month > to) {
			return nil
		}
		inRange[ck] = true
		if want != "" && ck != want {
			return nil
		}
		c := counts[key{ck, month}]
		if c == nil {
			c = make([]int, 2+len(kinds))
			counts[key{ck, month}] = c
		}
		c[0]++
		if ref := strings.TrimSpace(r.Get("referred_to")); ref != "" {
			c[1]++
			c[2+slices.Index(kinds, kindOf(ref))]++
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}

	// A community shows as its most used spelling (the first in order on
	// a tie), whatever months are asked for.
	display := func(ck string) string {
		best, bestN := "", 0
		for s, c := range spellings[ck] {
			if c > bestN || (c == bestN && s < best) {
				best, bestN = s, c
			}
		}
		return best
	}
	rep := Report{From: from, To: to, Kinds: kinds, Communities: []string{}, Rows: []ReportRow{}}
	if want != "" {
		rep.Community = strings.TrimSpace(opts.Community)
		if _, ok := spellings[want]; ok {
			rep.Community = display(want)
		}
	}
	for ck := range inRange {
		rep.Communities = append(rep.Communities, display(ck))
	}
	slices.SortFunc(rep.Communities, func(a, b string) int { return cmp.Or(cmp.Compare(foldKey(a), foldKey(b)), cmp.Compare(a, b)) })
	for k, c := range counts {
		cells := SuppressRow(c[0], c[1], c[2:])
		row := ReportRow{Community: display(k.community), Month: k.month, Contacts: cells[0], Referrals: cells[1], Kinds: map[string]string{}}
		for i, kind := range kinds {
			row.Kinds[kind] = cells[2+i]
		}
		rep.Rows = append(rep.Rows, row)
	}
	slices.SortFunc(rep.Rows, func(a, b ReportRow) int {
		return cmp.Or(cmp.Compare(foldKey(a.Community), foldKey(b.Community)), cmp.Compare(a.Community, b.Community), cmp.Compare(a.Month, b.Month))
	})
	for _, r := range rep.Rows {
		if from == "" && (rep.From == "" || r.Month < rep.From) {
			rep.From = r.Month
		}
		if to == "" && r.Month > rep.To {
			rep.To = r.Month
		}
	}
	return rep, nil
}

// Suppression of one row.
//
// The row's counts are contacts C, referrals R and the referrals by kind
// k1..km, with R = k1+...+km and C = N + R, where N (contacts without a
// referral) is not shown. Each cell is shown exactly, as "<5" (known to
// be 1 to 4) or as "x" (known to be 5 or more: a complementary cell is
// never one of the small ones). The protected counts are the "<5" cells
// and N when it is from 1 to 4. A protected count is disclosed when the
// shown cells leave it one possible value.
//
// The two sums share only R, so interval propagation gives each count's
// exact range of possible values (sums of integer intervals are whole
// intervals, and on a tree of constraints local consistency is global).
// When some protected count has a single possible value, more exact
// nonzero cells are hidden: the fewest that leave none disclosed, and of
// those the ones with the smallest sum (then kinds rather than totals).
// A row has at most ten cells, so every choice is tried.

// reportInf is "no upper bound": more than any count, and ten of it
// still fit in an int of 32 bits (the ARM boards some hubs are).
const reportInf = 1 << 27

// cell states
const (
	cellExact = iota
	cellSmall
	cellHidden
)

// SuppressRow returns the row's cells as shown: contacts, referrals, then
// one per kind. kinds must add up to referrals, and referrals must not
// exceed contacts.
func SuppressRow(contacts, referrals int, kinds []int) []string {
	vals := append([]int{contacts, referrals}, kinds...)
	sum := 0
	for _, k := range kinds {
		sum += k
	}
	if sum != referrals || referrals > contacts || slices.Min(vals) < 0 || len(vals) > 16 {
		panic(fmt.Sprintf("bug: a report row that does not add up: %d contacts, %d referrals, kinds %v", contacts, referrals, kinds))
	}
	state := make([]int, len(vals))
	for i, v := range vals {
		if v >= 1 && v <= 4 {
			state[i] = cellSmall
		}
	}
	nSmall := contacts-referrals >= 1 && contacts-referrals <= 4
	if disclosed(vals, state, nSmall) > 0 {
		// The cells that may be hidden besides: exact and nonzero; kinds,
		// then referrals, then contacts.
		var can []int
		for _, i := range append(seq(2, len(vals)), 1, 0) {
			if state[i] == cellExact && vals[i] > 0 {
				can = append(can, i)
			}
		}
		type cost struct{ cells, sum, totals int }
		best, bestCost := 1<<len(can)-1, cost{len(can) + 1, 0, 0}
		for mask := 1; mask < 1<<len(can); mask++ {
			c := cost{}
			for j, i := range can {
				if mask&(1<<j) != 0 {
					c.cells++
					c.sum += vals[i]
					if i < 2 {
						c.totals++
					}
				}
			}
			if cmp.Or(cmp.Compare(c.cells, bestCost.cells), cmp.Compare(c.sum, bestCost.sum), cmp.Compare(c.totals, bestCost.totals)) >= 0 {
				continue
			}
			for j, i := range can {
				if mask&(1<<j) != 0 {
					state[i] = cellHidden
				}
			}
			if disclosed(vals, state, nSmall) == 0 {
				best, bestCost = mask, c
			}
			for _, i := range can {
				state[i] = cellExact
			}
		}
		for j, i := range can {
			if best&(1<<j) != 0 {
				state[i] = cellHidden
			}
		}
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		switch state[i] {
		case cellSmall:
			out[i] = ReportSmall
		case cellHidden:
			out[i] = ReportHidden
		default:
			out[i] = strconv.Itoa(v)
		}
	}
	return out
}

// disclosed counts the protected counts that the shown cells pin to one
// value.
func disclosed(vals, state []int, nSmall bool) int {
	lo, hi := rowRanges(vals, state)
	count := 0
	for i := range vals {
		if state[i] == cellSmall && lo[i] == hi[i] {
			count++
		}
	}
	if nSmall && lo[len(vals)] == hi[len(vals)] {
		count++
	}
	return count
}

// rowRanges is every count's range of possible values given the shown
// cells: lo and hi for contacts, referrals, the kinds, and last N.
func rowRanges(vals, state []int) (lo, hi []int) {
	nv := len(vals) + 1
	lo, hi = make([]int, nv), make([]int, nv)
	for i, v := range vals {
		switch state[i] {
		case cellExact:
			lo[i], hi[i] = v, v
		case cellSmall:
			lo[i], hi[i] = 1, 4
		case cellHidden:
			lo[i], hi[i] = 5, reportInf
		}
	}
	lo[nv-1], hi[nv-1] = 0, reportInf
	const c, r = 0, 1
	kinds := seq(2, len(vals))
	// total = sum of parts, narrowed both ways until nothing changes.
	narrow := func(total int, parts []int) bool {
		changed := false
		set := func(i, l, h int) {
			if l > lo[i] {
				lo[i], changed = l, true
			}
			if h < hi[i] {
				hi[i], changed = h, true
			}
		}
		sumLo, sumHi := 0, 0
		for _, p := range parts {
			sumLo += lo[p]
			sumHi += hi[p]
		}
		set(total, sumLo, sumHi)
		for _, p := range parts {
			set(p, lo[total]-(sumHi-hi[p]), hi[total]-(sumLo-lo[p]))
		}
		return changed
	}
	for range 4 * nv {
		a := narrow(r, kinds)
		b := narrow(c, []int{nv - 1, r})
		if !a && !b {
			break
		}
	}
	return lo, hi
}

// seq is from, from+1, ..., to-1.
func seq(from, to int) []int {
	out := make([]int, 0, max(0, to-from))
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
