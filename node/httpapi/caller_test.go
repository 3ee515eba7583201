package httpapi

import (
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
