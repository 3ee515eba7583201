package httpapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/floe-north/floe/node"
)

// Who is asking, and what they may do. The laptop's own session (the
// passphrase holder at the keyboard) acts with the node's role; a paired
// phone acts with its device token's role and areas, which never exceed
// the node's. The node still checks every write against its certificate;
// these checks decide which endpoints and screens a caller reaches at all.

// caller is the identity behind a request.
type caller struct {
	// Device is a paired device's name; empty for the laptop's session.
	Device string
	// TokenID names the device token, for its revocation.
	TokenID string
	Role    string
	// Areas limits a paired device to records of these areas; nil means
	// everything this node holds.
	Areas []string
}

// Laptop reports whether the caller is the laptop's own session.
func (c caller) Laptop() bool { return c.Device == "" }

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerOf is the request's caller; the zero caller may do nothing.
func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// laptopCaller is the laptop's session: the node's own role.
func laptopCaller(n *node.Node) caller {
	c := caller{}
	if cert, ok := n.Cert(); ok {
		c.Role = cert.Role
	}
	return c
}

// perm is what an endpoint needs.
type perm int

const (
	permRead          perm = iota // the directory, status, sync state, conflicts, packs list
	permReadOutreach              // outreach records
	permWriteOutreach             // add and edit outreach records
	permResolve                   // resolve a conflict
	permReveal                    // an audited reveal: the laptop only, the audience decides
	permPacks                     // install and remove packs
	permMembersRead               // the devices list
	permMembers                   // invite and revoke devices
	permReports                   // aggregate reports
	permLaptop                    // lock, budget, pairing: the laptop's session only
)

var permNames = map[perm]string{
	permRead: "read the directory", permReadOutreach: "read outreach records", permWriteOutreach: "write outreach records",
	permResolve: "resolve conflicts", permReveal: "reveal a sealed field", permPacks: "install or remove resource packs",
	permMembersRead: "see the network's devices", permMembers: "admit or revoke devices", permReports: "see reports",
	permLaptop: "do this",
}

// rolePerms: what each role reaches. Every role reads the directory.
var rolePerms = map[string][]perm{
	node.RoleAdmin:        {permRead, permReadOutreach, permWriteOutreach, permResolve, permReveal, permPacks, permMembersRead, permMembers, permReports},
	node.RoleCoordinator:  {permRead, permReadOutreach, permWriteOutreach, permResolve, permReveal, permPacks, permMembersRead, permReports},
	node.RoleShelterStaff: {permRead, permReadOutreach, permWriteOutreach, permResolve, permReveal},
	node.RoleTrainer:      {permRead, permResolve, permReveal, permPacks},
	node.RoleOutreach:     {permRead, permReadOutreach, permWriteOutreach, permResolve, permReveal},
}

// allows reports whether c may do what p names.
func (c caller) allows(p perm) bool {
	switch p {
	case permLaptop:
		return c.Laptop()
	case permReveal, permMembers:
		// Phones never reveal: a reveal needs the passphrase typed on
		// the laptop, and the audit names the laptop's device. Nor do
		// they admit, invite or revoke: that uses the network's root
		// key, and an admitted device of a thief's choosing could join
		// the shelter audience.
		if !c.Laptop() {
			return false
		}
	case permReports, permMembersRead, permPacks:
		// These cover the whole node, not an area: a phone limited to
		// areas does not reach them.
		if !c.Laptop() && c.Areas != nil {
			return false
		}
	}
	return slices.Contains(rolePerms[c.Role], p)
}

// check is the 403 for a caller who may not do p.
func (c caller) check(p perm) error {
	if c.allows(p) {
		return nil
	}
	who := "this laptop's role (" + c.Role + ")"
	if !c.Laptop() {
		who = "the paired device " + c.Device + " (role " + c.Role + ")"
		if p == permLaptop || p == permReveal || p == permMembers {
			return fail(http.StatusForbidden, "wrong_role", "%s may not %s: only the laptop's own session may", who, permNames[p])
		}
	}
	if c.Role == "" {
		who = "this laptop (not yet admitted to the network)"
	}
	return fail(http.StatusForbidden, "wrong_role", "%s may not %s", who, permNames[p])
}

// guard runs h only for callers allowed p.
func guard(p perm, h handler) handler {
	return func(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
		if err := callerOf(ctx).check(p); err != nil {
			return 0, nil, err
		}
		return h(ctx, n, r)
	}
}

// webGuard is guard for pages: a caller without p sees why, not the page.
func (s *Server) webGuard(p perm, h func(http.ResponseWriter, *http.Request, *node.Node)) http.HandlerFunc {
	return s.webAuth(func(w http.ResponseWriter, r *http.Request, n *node.Node) {
		if err := callerOf(r.Context()).check(p); err != nil {
			s.renderStatus(w, r, http.StatusForbidden, "error.html", page{Error: err.Error()})
			return
		}
		h(w, r, n)
	})
}
