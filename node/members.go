package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	sp "github.com/floe-north/floe/syncproto"
)

// Admission: the admin makes an invite (role and areas, recorded on the
// admin's device), the new laptop joins with it and makes a join request
// signed by its new device key, and the admin admits the request: the
// root signs a certificate with the role and areas the invite recorded,
// never what the request claims. The certificate reaches the new laptop
// by live sync or by bundle.

// InviteOptions say what an invite admits.
type InviteOptions struct {
	Role      string
	Areas     []string
	Audiences []string
	// Addrs and Name say how to reach the inviting device.
	Addrs []string
	Name  string
	// Valid is how long the invite may be admitted; zero means 14 days.
	Valid time.Duration
}

// pendingInvite is what the admin's device keeps of an invite.
type pendingInvite struct {
	Role      string   `cbor:"1,keyasint"`
	Areas     []string `cbor:"2,keyasint"`
	Audiences []string `cbor:"3,keyasint,omitempty"`
	Expires   int64    `cbor:"4,keyasint"`
}

func inviteMeta(id [16]byte) string { return "invite/" + hex.EncodeToString(id[:]) }

const metaJoinInvite = "join-invite"

// CheckGrants checks a role and its areas as typed.
func CheckGrants(role string, areas []string) ([]string, error) {
	if _, ok := rolePerms[role]; !ok {
		return nil, fmt.Errorf("unknown role %q (roles: %s)", role, strings.Join(Roles, ", "))
	}
	if len(areas) == 0 {
		return nil, errors.New("give at least one --area, e.g. --area outreach:kivalliq/arviat --area directory:* (or --area '*:*' for everything)")
	}
	var out []string
	for _, a := range areas {
		g, err := ParseGrant(a)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, g.String()) {
			out = append(out, g.String())
		}
	}
	return out, nil
}

// MakeInvite makes an invite to this node's network for one new device.
// Only the admin's device can.
func (n *Node) MakeInvite(opts InviteOptions) (Invite, error) {
	root, err := n.rootKey()
	if err != nil {
		return Invite{}, err
	}
	clear(root)
	areas, err := CheckGrants(opts.Role, opts.Areas)
	if err != nil {
		return Invite{}, err
	}
	aud := opts.Audiences
	if len(aud) == 0 {
		aud = defaultAudiences(opts.Role)
	}
	for _, a := range aud {
		if a != ShelterAudience {
			return Invite{}, fmt.Errorf("unknown audience %q (known: %s)", a, ShelterAudience)
		}
	}
	if opts.Valid <= 0 {
		opts.Valid = 14 * 24 * time.Hour
	}
	inv := n.Invite(opts.Addrs, opts.Name)
	rand.Read(inv.ID[:])
	inv.Role, inv.Areas = opts.Role, areas
	inv.Network.PSK = n.PSK()
	b, err := sp.Marshal(pendingInvite{Role: opts.Role, Areas: areas, Audiences: aud, Expires: n.now().Add(opts.Valid).UnixMilli()})
	if err != nil {
		return Invite{}, err
	}
	if err := n.st.PutMeta(inviteMeta(inv.ID), b); err != nil {
		return Invite{}, fmt.Errorf("recording the invite: %w", err)
	}
	return inv, nil
}

// JoinRequest is what a joining laptop gives the admin: its device key,
// the invite it used, and a signature that shows it holds the key.
type JoinRequest struct {
	Network sp.NetworkID `cbor:"1,keyasint"`
	Invite  [16]byte     `cbor:"2,keyasint"`
	Device  sp.DeviceID  `cbor:"3,keyasint"`
	Name    string       `cbor:"4,keyasint,omitempty"`
	Sig     []byte       `cbor:"5,keyasint"`
}

func (r *JoinRequest) message() []byte {
	m := []byte("floe join request v1\x00")
	m = append(m, r.Network[:]...)
	m = append(m, r.Invite[:]...)
	m = append(m, r.Device[:]...)
	return append(m, r.Name...)
}

// MakeJoinRequest makes this device's join request (after Init with an
// invite). name is what the admin will see.
func (n *Node) MakeJoinRequest(name string) (JoinRequest, error) {
	id, err := n.st.GetMeta(metaJoinInvite)
	if errors.Is(err, sp.ErrNotFound) || len(id) != 16 {
		return JoinRequest{}, errors.New("this laptop did not join with an invite (floe init --join FILE)")
	}
	if err != nil {
		return JoinRequest{}, err
	}
	if err := checkPeer(&Peer{Device: n.id, Name: name}); err != nil {
		return JoinRequest{}, err
	}
	r := JoinRequest{Network: n.net.ID, Device: n.id, Name: name}
	copy(r.Invite[:], id)
	r.Sig = ed25519.Sign(n.key, r.message())
	return r, nil
}

const joinHeader = "FLOE JOIN REQUEST v1"

// EncodeJoinRequest writes a join request as text.
func EncodeJoinRequest(r JoinRequest) []byte {
	b, err := sp.Marshal(r)
	if err != nil {
		panic("bug: encoding a join request: " + err.Error())
	}
	return armor(joinHeader, b)
}

func armor(header string, b []byte) []byte {
	var out bytes.Buffer
	out.WriteString(header + "\n")
	enc := base64.StdEncoding.EncodeToString(b)
	for len(enc) > 64 {
		out.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	out.WriteString(enc + "\n")
	return out.Bytes()
}

func unarmor(header string, b []byte, max int) ([]byte, error) {
	if len(b) > max {
		return nil, fmt.Errorf("the file is %d bytes; it should be a few hundred", len(b))
	}
	text := strings.TrimPrefix(string(b), "\ufeff")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	head, body, ok := strings.Cut(text, "\n")
	if !ok || strings.TrimSpace(head) != header {
		return nil, fmt.Errorf("it does not start with %q", header)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("the text is damaged (%v)", err)
	}
	return raw, nil
}

// ErrBadJoinRequest means a join request did not decode or verify.
var ErrBadJoinRequest = errors.New("not a valid Floe join request")

// DecodeJoinRequest reads and verifies what EncodeJoinRequest wrote.
func DecodeJoinRequest(b []byte) (JoinRequest, error) {
	var r JoinRequest
	raw, err := unarmor(joinHeader, b, MaxInviteLen)
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadJoinRequest, err)
	}
	if err := sp.UnmarshalStrict(raw, &r); err != nil {
		return JoinRequest{}, fmt.Errorf("%w: %v", ErrBadJoinRequest, err)
	}
	if err := checkPeer(&Peer{Device: r.Device, Name: r.Name}); err != nil {
		return JoinRequest{}, fmt.Errorf("%w: %v", ErrBadJoinRequest, err)
	}
	if !ed25519.Verify(ed25519.PublicKey(r.Device[:]), r.message(), r.Sig) {
		return JoinRequest{}, fmt.Errorf("%w: its signature does not verify (damaged or altered)", ErrBadJoinRequest)
	}
	return r, nil
}

// Admit turns a join request into a certificate, signed by the root, with
// the role and areas its invite recorded. The invite is used up.
func (n *Node) Admit(ctx context.Context, r JoinRequest) (Cert, error) {
	root, err := n.rootKey()
	if err != nil {
		return Cert{}, err
	}
	defer clear(root)
	if r.Network != n.net.ID {
		return Cert{}, fmt.Errorf("%w: the request is for another network", ErrBadJoinRequest)
	}
	if !ed25519.Verify(ed25519.PublicKey(r.Device[:]), r.message(), r.Sig) {
		return Cert{}, fmt.Errorf("%w: its signature does not verify", ErrBadJoinRequest)
	}
	if n.Revoked(r.Device) {
		return Cert{}, fmt.Errorf("%w: %s; a revoked device is never admitted again, so run `floe init` on it afresh", ErrRevoked, r.Device.Short())
	}
	if c, ok := n.trust.cert(r.Device); ok {
		return Cert{}, fmt.Errorf("%s is already a member (%s); a device holds one certificate: to change its role, revoke it and join it afresh", r.Device.Short(), c.Role)
	}
	b, err := n.st.GetMeta(inviteMeta(r.Invite))
	if errors.Is(err, sp.ErrNotFound) {
		return Cert{}, fmt.Errorf("%w: its invite was not made on this device or was used already; make a new invite", ErrBadJoinRequest)
	}
	if err != nil {
		return Cert{}, err
	}
	var pi pendingInvite
	if err := sp.UnmarshalStrict(b, &pi); err != nil {
		return Cert{}, fmt.Errorf("reading the invite record: %w", err)
	}
	if n.now().UnixMilli() > pi.Expires {
		return Cert{}, fmt.Errorf("%w: its invite expired on %s; make a new invite", ErrBadJoinRequest, time.UnixMilli(pi.Expires).Format("2006-01-02"))
	}
	c := Cert{Device: r.Device, Name: r.Name, Role: pi.Role, Areas: pi.Areas, Audiences: pi.Audiences}
	if err := n.issue(ctx, root, c); err != nil {
		return Cert{}, err
	}
	if err := n.st.DeleteMeta(inviteMeta(r.Invite)); err != nil {
		n.log.Warn("could not remove a used invite", "err", err)
	}
	if _, err := n.FindPeer(r.Device.String()); err != nil {
		if err := n.AddPeer(Peer{Device: r.Device, Name: r.Name}); err != nil {
			n.log.Warn("could not add the admitted device as a peer", "err", err)
		}
	}
	c, _ = n.trust.cert(r.Device)
	// If this device holds an audience's key, share it now.
	if _, err := n.Maintain(ctx); err != nil {
		n.log.Warn("key maintenance after admitting failed", "err", err)
	}
	return c, nil
}

// issue signs and writes a certificate, and starts any audience that has
// no member able to share its key.
func (n *Node) issue(ctx context.Context, root ed25519.PrivateKey, c Cert) error {
	c.Issued = n.now().UnixMilli()
	val, err := signStatement(root, n.net.ID, stmtCert, c)
	if err != nil {
		return err
	}
	if err := n.writeMembers(ctx, memberRecord(c.Device), []sp.Entry{{Field: stmtCert, Kind: sp.KindValue, Value: val}}); err != nil {
		return fmt.Errorf("writing the certificate: %w", err)
	}
	for _, a := range c.Audiences {
		if n.audienceHasHolder(a, c.Device) {
			continue // a member's device shares the key at its next sync
		}
		es, err := n.newEpochEntries(root, a, n.trust.members(a))
		if err != nil {
			return err
		}
		if err := n.writeMembers(ctx, groupRecord(a), es); err != nil {
			return fmt.Errorf("starting the %q audience key: %w", a, err)
		}
	}
	return nil
}

// audienceHasHolder reports whether a current member of the audience
// (other than except) holds its newest key.
func (n *Node) audienceHasHolder(aud string, except sp.DeviceID) bool {
	ke, ok := n.trust.latestEpoch(aud)
	if !ok {
		return false
	}
	for _, d := range n.trust.members(aud) {
		if _, has := n.trust.wrap(aud, ke.Epoch, d); has && d != except {
			return true
		}
	}
	return false
}

// RevokeReport says what a revocation did.
type RevokeReport struct {
	Device    sp.DeviceID
	At        time.Time
	Audiences []string // audiences moved to a new epoch
}

// Revoke revokes a device: its entries stamped from now on are refused
// everywhere, peers refuse it at the connection gater, every audience it
// belonged to moves to a new key epoch (shared with the remaining
// members), and the network key rotates. Only the admin's device can.
func (n *Node) Revoke(ctx context.Context, d sp.DeviceID, reason string) (RevokeReport, error) {
	rep := RevokeReport{Device: d}
	root, err := n.rootKey()
	if err != nil {
		return rep, err
	}
	defer clear(root)
	if d == n.id {
		return rep, errors.New("this device holds the root key and cannot revoke itself")
	}
	c, known := n.trust.cert(d)
	if n.Revoked(d) {
		return rep, fmt.Errorf("%s is already revoked", d.Short())
	}
	if len(reason) > 200 || !utf8ValidLine(reason) {
		return rep, errors.New("a reason is one line of at most 200 bytes")
	}
	n.mu.Lock()
	now := n.now()
	at := n.clock.Now(now)
	n.mu.Unlock()
	val, err := signStatement(root, n.net.ID, stmtRevoked, Revocation{Device: d, At: at, Reason: reason})
	if err != nil {
		return rep, err
	}
	if err := n.writeMembers(ctx, memberRecord(d), []sp.Entry{{Field: stmtRevoked, Kind: sp.KindValue, Value: val}}); err != nil {
		return rep, fmt.Errorf("writing the revocation: %w", err)
	}
	rep.At = at.Time()
	groups := []string{}
	if known {
		groups = append(groups, c.Audiences...)
	}
	for _, g := range append(groups, NetworkGroup) {
		es, err := n.newEpochEntries(root, g, n.trust.members(g))
		if err != nil {
			return rep, err
		}
		if err := n.writeMembers(ctx, groupRecord(g), es); err != nil {
			return rep, fmt.Errorf("rotating the %q key: %w", g, err)
		}
		if g != NetworkGroup {
			rep.Audiences = append(rep.Audiences, g)
		}
	}
	if _, err := n.FindPeer(d.String()); err == nil {
		if err := n.RemovePeer(d); err != nil {
			n.log.Warn("could not remove the revoked device from the peer list", "err", err)
		}
	}
	return rep, nil
}

func utf8ValidLine(s string) bool {
	return !strings.ContainsAny(s, "\r\n") && strings.ToValidUTF8(s, "\ufffd") == s
}

// forget removes this node's entries by a revoked device stamped at or
// after its revocation, so that every node keeps the same set whatever
// order it learned things in.
func (n *Node) forget(ctx context.Context, r Revocation) (int, error) {
	start := sp.MakeSyncKey(r.At, sp.EntryHash{})
	var hs []sp.EntryHash
	err := n.st.ScanSyncOrder(ctx, &start, func(k sp.SyncKey, e sp.Entry) error {
		if e.Author == r.Device && e.Time >= r.At {
			hs = append(hs, k.Hash())
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(hs) == 0 {
		return 0, nil
	}
	removed, err := n.st.Remove(ctx, hs)
	if removed > 0 {
		n.log.Info("forgot entries of a revoked device written after its revocation", "device", r.Device.Short(), "entries", removed)
	}
	return removed, err
}

// initRoot makes a new network's root key and the first device's admin
// certificate.
func (n *Node) initRoot(ctx context.Context, audiences []string) error {
	for _, a := range audiences {
		if a != ShelterAudience {
			return fmt.Errorf("unknown audience %q (known: %s)", a, ShelterAudience)
		}
	}
	pub, root, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	defer clear(root)
	if err := n.st.PutMeta(metaRootKey, root.Seed()); err != nil {
		return fmt.Errorf("saving the root key: %w", err)
	}
	net := n.net
	net.Root = pub
	if err := n.saveNetwork(net); err != nil {
		return err
	}
	return n.issue(ctx, root, Cert{Device: n.id, Name: "admin", Role: RoleAdmin, Areas: []string{"*:*"}, Audiences: audiences})
}
