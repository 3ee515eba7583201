package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/floe-north/floe/node"
)

// The network's devices: the list, an invite for a new device, admitting
// its join request, and revoking a device. The same as `floe member
// list|invite|admit|revoke`. Inviting, admitting and revoking need the
// network's root key, which only the admin's laptop (the one that created
// the network) holds.

// memberRoutes: the devices and revocation screen and API (admins).
func (s *Server) memberRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/members", s.wrap(true, guard(permMembersRead, s.memberList)))
	mux.HandleFunc("POST /api/v1/members/invite", s.wrap(true, guard(permMembers, s.memberInvite)))
	mux.HandleFunc("POST /api/v1/members/admit", s.wrap(true, guard(permMembers, s.memberAdmit)))
	mux.HandleFunc("POST /api/v1/members/{device}/revoke", s.wrap(true, guard(permMembers, s.memberRevoke)))
	mux.HandleFunc("GET /devices", s.webGuard(permMembersRead, s.webDevices))
	mux.HandleFunc("POST /devices/invite", s.webGuard(permMembers, s.webInvite))
	mux.HandleFunc("POST /devices/admit", s.webGuard(permMembers, s.webAdmit))
	mux.HandleFunc("GET /devices/{device}/revoke", s.webGuard(permMembers, s.webRevokeConfirm))
	mux.HandleFunc("POST /devices/{device}/revoke", s.webGuard(permMembers, s.webRevoke))
}

// memberView is a device as listed: its certificate and whether it is
// revoked. No key of any kind.
type memberView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Areas      []string   `json:"areas"`
	Audiences  []string   `json:"audiences"`
	Since      time.Time  `json:"since"`
	Revoked    bool       `json:"revoked"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	ThisDevice bool       `json:"this_device"`
}

func memberViewOf(n *node.Node, m node.MemberInfo) memberView {
	v := memberView{ID: m.ID, Name: m.Name, Role: m.Role, Areas: orEmpty(m.Areas), Audiences: orEmpty(m.Audiences),
		Since: m.Since, Revoked: m.Revoked, Reason: m.Reason, ThisDevice: m.ID == n.ID().String()}
	if m.Revoked {
		at := m.RevokedAt.UTC()
		v.RevokedAt = &at
	}
	return v
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func members(n *node.Node) []memberView {
	out := []memberView{}
	for _, m := range n.Members() {
		out = append(out, memberViewOf(n, m))
	}
	return out
}

func (s *Server) memberList(_ context.Context, n *node.Node, _ *http.Request) (int, any, error) {
	return http.StatusOK, members(n), nil
}

// rootError answers for a laptop with the admin's role but not the
// network's root key.
func rootError(err error) error {
	if errors.Is(err, node.ErrNotAdmin) {
		return fail(http.StatusForbidden, "no_root_key", "%v", err)
	}
	return err
}

type inviteReq struct {
	Role  string   `json:"role"`
	Areas []string `json:"areas"`
	// Audiences lets a device of another role read sealed fields
	// (shelter); shelter-staff devices are in it already.
	Audiences []string `json:"audiences,omitempty"`
	// Name is what the new laptop will call this one; Addrs where this
	// node listens for sync.
	Name  string   `json:"name,omitempty"`
	Addrs []string `json:"addrs,omitempty"`
}

type inviteView struct {
	Invite    string   `json:"invite"`
	Network   string   `json:"network"`
	Role      string   `json:"role"`
	Areas     []string `json:"areas"`
	Audiences []string `json:"audiences"`
}

// invite checks what an invite is for and makes it.
func invite(n *node.Node, req inviteReq) (inviteView, error) {
	req.Role = strings.TrimSpace(req.Role)
	if req.Role == "" {
		return inviteView{}, fail(http.StatusBadRequest, "bad_field", "give the new device's role (%s)", strings.Join(node.Roles, ", "))
	}
	var areas []string
	for _, a := range req.Areas {
		if a = strings.TrimSpace(a); a != "" {
			areas = append(areas, a)
		}
	}
	if len(areas) == 0 {
		return inviteView{}, fail(http.StatusBadRequest, "bad_field", "give at least one area, e.g. outreach:kivalliq/arviat and directory:* (or *:* for everything)")
	}
	if _, err := node.CheckGrants(req.Role, areas); err != nil {
		return inviteView{}, fail(http.StatusBadRequest, "bad_field", "%v", err)
	}
	for _, a := range req.Audiences {
		if a != node.ShelterAudience {
			return inviteView{}, fail(http.StatusBadRequest, "bad_field", "unknown audience %q (known: %s)", a, node.ShelterAudience)
		}
	}
	if !utf8.ValidString(req.Name) || len(req.Name) > node.MaxPeerName || strings.ContainsFunc(req.Name, unicode.IsControl) {
		return inviteView{}, fail(http.StatusBadRequest, "bad_field", "a name is one line of at most %d bytes", node.MaxPeerName)
	}
	if len(req.Addrs) > node.MaxPeerAddrs {
		return inviteView{}, fail(http.StatusBadRequest, "bad_field", "give at most %d addresses", node.MaxPeerAddrs)
	}
	var addrs []string
	for _, a := range req.Addrs {
		t, _, err := node.ParseAddr(a)
		if err != nil {
			if !strings.HasPrefix(a, "/") || len(a) > node.MaxAddrLen {
				return inviteView{}, fail(http.StatusBadRequest, "bad_field", "%v", err)
			}
			t = a
		}
		addrs = append(addrs, t)
	}
	inv, err := n.MakeInvite(node.InviteOptions{Role: req.Role, Areas: areas, Audiences: req.Audiences, Addrs: addrs, Name: req.Name})
	if err != nil {
		return inviteView{}, rootError(err)
	}
	aud := req.Audiences
	if len(aud) == 0 && req.Role == node.RoleShelterStaff {
		aud = []string{node.ShelterAudience}
	}
	return inviteView{Invite: string(node.EncodeInvite(inv)), Network: inv.Network.Name, Role: inv.Role,
		Areas: orEmpty(inv.Areas), Audiences: orEmpty(aud)}, nil
}

func (s *Server) memberInvite(_ context.Context, n *node.Node, r *http.Request) (int, any, error) {
	var req inviteReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	v, err := invite(n, req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, v, nil
}

// admit admits a device by its join request, as text.
func admit(ctx context.Context, n *node.Node, text []byte) (memberView, error) {
	req, err := node.DecodeJoinRequest(text)
	if err != nil {
		return memberView{}, fail(http.StatusBadRequest, "bad_join_request", "%v", err)
	}
	for _, m := range n.Members() {
		if m.ID != req.Device.String() {
			continue
		}
		if m.Revoked {
			return memberView{}, fail(http.StatusConflict, "revoked_device", "%s was revoked; a revoked device is never admitted again: run `floe init` on it afresh", req.Device.Short())
		}
		return memberView{}, fail(http.StatusConflict, "already_member", "%s is already a member (%s); a device holds one certificate: to change its role, revoke it and join it afresh", req.Device.Short(), m.Role)
	}
	c, err := n.Admit(ctx, req)
	switch {
	case errors.Is(err, node.ErrBadJoinRequest):
		return memberView{}, fail(http.StatusBadRequest, "bad_join_request", "%v", err)
	case errors.Is(err, node.ErrRevoked):
		return memberView{}, fail(http.StatusConflict, "revoked_device", "%v", err)
	case err != nil:
		return memberView{}, rootError(err)
	}
	for _, m := range n.Members() {
		if m.ID == c.Device.String() {
			return memberViewOf(n, m), nil
		}
	}
	return memberViewOf(n, node.MemberInfo{Cert: c, ID: c.Device.String()}), nil
}

func (s *Server) memberAdmit(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return 0, nil, fail(http.StatusRequestEntityTooLarge, "too_large", "the request body is over %d bytes; a join request is a few hundred", mb.Limit)
		}
		return 0, nil, fail(http.StatusBadRequest, "bad_join_request", "reading the join request: %v", err)
	}
	v, err := admit(ctx, n, b)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, v, nil
}

// findMember is a device of the network by its ID or at least 8
// characters of it.
func findMember(n *node.Node, arg string) (node.MemberInfo, error) {
	q := strings.ToLower(strings.TrimSpace(arg))
	full := q
	if !strings.HasPrefix(full, "dev:") {
		full = "dev:" + full
	}
	var found []node.MemberInfo
	for _, m := range n.Members() {
		if m.ID == full {
			return m, nil
		}
		if len(full) >= len("dev:")+8 && strings.HasPrefix(m.ID, full) {
			found = append(found, m)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return node.MemberInfo{}, fail(http.StatusBadRequest, "ambiguous_device", "more than one device starts with %q; give more of the ID", arg)
	}
	return node.MemberInfo{}, fail(http.StatusNotFound, "not_found", "no device of this network is %q (give its ID, or at least 8 characters of it)", arg)
}

type revokeReq struct {
	Reason string `json:"reason"`
}

type revokeView struct {
	Device  string    `json:"device"`
	Name    string    `json:"name"`
	At      time.Time `json:"at"`
	Rotated []string  `json:"rotated"`
}

// checkRevoke says why a device may not be revoked, if it may not.
func checkRevoke(n *node.Node, m node.MemberInfo) error {
	if m.ID == n.ID().String() {
		return fail(http.StatusConflict, "own_device", "%s is this laptop: a laptop never revokes itself (the admin's laptop holds the network's root key)", m.Device.Short())
	}
	if m.Revoked {
		return fail(http.StatusConflict, "already_revoked", "%s was revoked already, on %s", m.Device.Short(), m.RevokedAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	return nil
}

// revoke revokes a device of the network.
func revoke(ctx context.Context, n *node.Node, arg, reason string) (revokeView, error) {
	m, err := findMember(n, arg)
	if err != nil {
		return revokeView{}, err
	}
	if err := checkRevoke(n, m); err != nil {
		return revokeView{}, err
	}
	if len(reason) > 200 || !utf8.ValidString(reason) || strings.ContainsFunc(reason, unicode.IsControl) {
		return revokeView{}, fail(http.StatusBadRequest, "bad_field", "a reason is one line of at most 200 bytes (and no personal details)")
	}
	rep, err := n.Revoke(ctx, m.Device, reason)
	if err != nil {
		return revokeView{}, rootError(err)
	}
	return revokeView{Device: rep.Device.String(), Name: m.Name, At: rep.At.UTC(), Rotated: append(orEmpty(rep.Audiences), node.NetworkGroup)}, nil
}

func (s *Server) memberRevoke(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
	var req revokeReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	v, err := revoke(ctx, n, r.PathValue("device"), req.Reason)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

// The page.

type devicesData struct {
	Devices   []deviceRow
	CanManage bool // invite, admit, revoke
	Roles     []string
	// The invite form as typed, and the invite made.
	Form     inviteForm
	Invite   *inviteView
	Admitted *deviceRow
	Revoked  *deviceRow
	// Request is the join request as pasted, kept when it is refused.
	Request string
}

type inviteForm struct {
	Role, Areas, Name string
	Shelter           bool
}

type deviceRow struct {
	ID, Short, Name, Role, Areas, Since, RevokedAt, Reason string
	Revoked, Self                                          bool
}

func deviceRowOf(v memberView) deviceRow {
	d := deviceRow{ID: v.ID, Short: shortID(v.ID), Name: v.Name, Role: v.Role, Areas: strings.Join(v.Areas, " "),
		Since: v.Since.Local().Format("2006-01-02"), Revoked: v.Revoked, Reason: v.Reason, Self: v.ThisDevice}
	if v.RevokedAt != nil {
		d.RevokedAt = v.RevokedAt.Local().Format("2006-01-02 15:04")
	}
	return d
}

func (s *Server) devicesPage(r *http.Request, n *node.Node) (page, *devicesData) {
	d := &devicesData{CanManage: callerOf(r.Context()).allows(permMembers), Roles: node.Roles}
	for _, m := range members(n) {
		d.Devices = append(d.Devices, deviceRowOf(m))
	}
	return page{Data: d}, d
}

func (d *devicesData) device(id string) *deviceRow {
	for i := range d.Devices {
		if d.Devices[i].ID == id {
			return &d.Devices[i]
		}
	}
	return nil
}

func (s *Server) webDevices(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, d := s.devicesPage(r, n)
	d.Revoked = d.device(r.URL.Query().Get("revoked"))
	d.Admitted = d.device(r.URL.Query().Get("admitted"))
	s.render(w, r, "devices.html", p)
}

// webFail renders a page with an error and its status.
func (s *Server) webFail(w http.ResponseWriter, r *http.Request, name string, p page, err error) {
	ae := asAPIError(err)
	p.Error = ae.Message
	s.renderStatus(w, r, ae.Status, name, p)
}

func (s *Server) webInvite(w http.ResponseWriter, r *http.Request, n *node.Node) {
	f := inviteForm{Role: r.PostFormValue("role"), Areas: r.PostFormValue("areas"), Name: strings.TrimSpace(r.PostFormValue("name")),
		Shelter: r.PostFormValue("shelter") != ""}
	req := inviteReq{Role: f.Role, Areas: strings.FieldsFunc(f.Areas, func(c rune) bool { return c == ',' || unicode.IsSpace(c) }), Name: f.Name}
	if f.Shelter {
		req.Audiences = []string{node.ShelterAudience}
	}
	v, err := invite(n, req)
	p, d := s.devicesPage(r, n)
	d.Form = f
	if err != nil {
		s.webFail(w, r, "devices.html", p, err)
		return
	}
	d.Invite = &v
	s.render(w, r, "devices.html", p)
}

func (s *Server) webAdmit(w http.ResponseWriter, r *http.Request, n *node.Node) {
	text := r.PostFormValue("request")
	v, err := admit(r.Context(), n, []byte(text))
	if err != nil {
		p, d := s.devicesPage(r, n)
		d.Request = text
		s.webFail(w, r, "devices.html", p, err)
		return
	}
	http.Redirect(w, r, "/devices?admitted="+url.QueryEscape(v.ID), http.StatusSeeOther)
}

// revokeData is the confirmation page's.
type revokeData struct {
	Device deviceRow
	// CanRevoke is false for this laptop and a device revoked already.
	CanRevoke bool
	Reason    string
	// Unconfirmed: the form came back without REVOKE typed.
	Unconfirmed bool
}

func (s *Server) revokePage(r *http.Request, n *node.Node) (page, *revokeData, error) {
	m, err := findMember(n, r.PathValue("device"))
	if err != nil {
		return page{}, nil, err
	}
	d := &revokeData{Device: deviceRowOf(memberViewOf(n, m))}
	p := page{Data: d}
	if err := checkRevoke(n, m); err != nil {
		p.Error = err.Error()
	} else {
		d.CanRevoke = true
	}
	return p, d, nil
}

func (s *Server) webRevokeConfirm(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, _, err := s.revokePage(r, n)
	if err != nil {
		s.webFail(w, r, "error.html", page{}, err)
		return
	}
	s.render(w, r, "devices_revoke.html", p)
}

// revokeWord is what a person types to confirm a revocation.
const revokeWord = "REVOKE"

func (s *Server) webRevoke(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, d, err := s.revokePage(r, n)
	if err != nil {
		s.webFail(w, r, "error.html", page{}, err)
		return
	}
	d.Reason = r.PostFormValue("reason")
	if !d.CanRevoke {
		s.renderStatus(w, r, http.StatusConflict, "devices_revoke.html", p)
		return
	}
	if strings.TrimSpace(r.PostFormValue("confirm")) != revokeWord {
		d.Unconfirmed = true
		s.renderStatus(w, r, http.StatusBadRequest, "devices_revoke.html", p)
		return
	}
	v, err := revoke(r.Context(), n, d.Device.ID, strings.TrimSpace(d.Reason))
	if err != nil {
		s.webFail(w, r, "devices_revoke.html", p, err)
		return
	}
	http.Redirect(w, r, "/devices?revoked="+url.QueryEscape(v.Device), http.StatusSeeOther)
}
