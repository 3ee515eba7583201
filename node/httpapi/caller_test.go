package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/floe-north/floe/node"
)

// What each kind of caller reaches: phones never reveal or act as the
// laptop, and a phone limited to areas reaches nothing that covers the
// whole node.
func TestCallerPermissions(t *testing.T) {
	laptop := caller{Role: node.RoleCoordinator}
	phone := caller{Device: "phone", Role: node.RoleCoordinator}
	areaPhone := caller{Device: "phone", Role: node.RoleCoordinator, Areas: []string{"outreach:kivalliq"}}
	worker := caller{Role: node.RoleOutreach}
	for _, c := range []struct {
		who  string
		c    caller
		p    perm
		want bool
	}{
		{"the laptop", laptop, permReveal, true},
		{"the laptop", laptop, permLaptop, true},
		{"the laptop", laptop, permReports, true},
		{"a phone", phone, permReveal, false},
		{"a phone", phone, permLaptop, false},
		{"a phone", phone, permReports, true},
		{"an admin's phone", caller{Device: "phone", Role: node.RoleAdmin}, permMembers, false},
		{"an admin's phone", caller{Device: "phone", Role: node.RoleAdmin}, permMembersRead, true},
		{"a phone", phone, permWriteOutreach, true},
		{"a phone with areas", areaPhone, permReports, false},
		{"a phone with areas", areaPhone, permMembersRead, false},
		{"a phone with areas", areaPhone, permPacks, false},
		{"a phone with areas", areaPhone, permWriteOutreach, true},
		{"an outreach worker's laptop", worker, permReports, false},
		{"an outreach worker's laptop", worker, permMembersRead, false},
		{"an outreach worker's laptop", worker, permWriteOutreach, true},
		{"a laptop not yet admitted", caller{}, permRead, false},
	} {
		if got := c.c.allows(c.p); got != c.want {
			t.Errorf("%s, %s: allowed %v, want %v", c.who, permNames[c.p], got, c.want)
		}
		if err := c.c.check(c.p); (err == nil) != c.want {
			t.Errorf("%s, %s: check says %v", c.who, permNames[c.p], err)
		}
	}
}

// Every answer carries the security headers: a redirect to the unlock
// page, a static file and a 404 as much as a page.
func TestEveryAnswerHasSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/directory", "/static/floe.css", "/nothing-here", "/api/v1/status", "/metrics"} {
		resp, err := noRedirects.Get(f.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if h.Get("Cache-Control") != "no-store" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s (%d) lacks a security header: %v", p, resp.StatusCode, h)
		}
	}
}
