package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	sp "github.com/floe-north/floe/syncproto"
)

// The trust layer. A network has a root key, made by `floe init` and kept
// on the first device. The root signs statements: certificates (this
// device holds this role in these areas), revocations, and key epochs
// (the public half of an audience's key, or a commitment to the network
// key). Statements travel as entries of the members collection, which
// syncs first. Every node checks every entry against them: the author's
// certificate must allow that write, in that area, at that time.

// Collections of the trust layer.
const (
	Members = "members"
	Audit   = "audit"
)

// Roles.
const (
	RoleAdmin        = "admin"
	RoleCoordinator  = "coordinator"
	RoleOutreach     = "outreach-worker"
	RoleTrainer      = "trainer"
	RoleShelterStaff = "shelter-staff"
)

// Roles lists the roles in order of trust.
var Roles = []string{RoleAdmin, RoleCoordinator, RoleShelterStaff, RoleTrainer, RoleOutreach}

// ShelterAudience is the audience of shelter locations.
const ShelterAudience = "shelter"

// NetworkGroup is the key group of the network's private-network key.
const NetworkGroup = "network"

type rolePerm struct{ read, write []string }

// rolePerms: which collections each role may read and write (within its
// areas). Everyone reads the members collection and writes audit records
// of their own reveals.
var rolePerms = map[string]rolePerm{
	RoleAdmin:        {read: []string{Directory, Outreach, Audit}, write: []string{Directory, Outreach, Members}},
	RoleCoordinator:  {read: []string{Directory, Outreach, Audit}, write: []string{Directory, Outreach}},
	RoleShelterStaff: {read: []string{Directory, Outreach}, write: []string{Directory, Outreach}},
	RoleTrainer:      {read: []string{Directory}, write: []string{Directory}},
	RoleOutreach:     {read: []string{Directory, Outreach}, write: []string{Outreach}},
}

// RoleHelp says what each role may do, for --help and errors.
var RoleHelp = map[string]string{
	RoleAdmin:        "admits and revokes devices; reads and writes everything in its areas",
	RoleCoordinator:  "reads and writes the directory and outreach records, reads the audit log",
	RoleShelterStaff: "reads and writes the directory and outreach records; reads shelter locations",
	RoleTrainer:      "reads and writes the directory (resource packs)",
	RoleOutreach:     "reads the directory; reads and writes outreach records",
}

// ErrUnknownAuthor means an entry's author has no certificate here yet.
// Such entries are held back, not refused: the certificate may be on its
// way in the same session.
var ErrUnknownAuthor = errors.New("the author has no certificate on this node yet")

// ErrNotAllowed means an entry's author was not allowed to make it.
var ErrNotAllowed = errors.New("not allowed")

// ErrRevoked means a device has been revoked.
var ErrRevoked = errors.New("the device has been revoked")

// Cert is a certificate: the root's statement that a device holds a role
// in some areas.
type Cert struct {
	Device sp.DeviceID `cbor:"1,keyasint" json:"-"`
	Name   string      `cbor:"2,keyasint,omitempty" json:"name,omitempty"`
	Role   string      `cbor:"3,keyasint" json:"role"`
	// Areas are grants "collection:area": "outreach:kivalliq/arviat",
	// "directory:*", "*:*".
	Areas []string `cbor:"4,keyasint,omitempty" json:"areas"`
	// Audiences are the sealed-field audiences the device belongs to.
	Audiences []string `cbor:"5,keyasint,omitempty" json:"audiences,omitempty"`
	// Issued is when the certificate was signed (Unix milliseconds);
	// entries stamped before it are refused.
	Issued int64 `cbor:"6,keyasint" json:"-"`

	parsed []Grant // Areas parsed, set when the trust state takes it
}

// Revocation is the root's statement that a device is revoked: its entries
// stamped at or after At are refused everywhere.
type Revocation struct {
	Device sp.DeviceID `cbor:"1,keyasint"`
	At     sp.HLC      `cbor:"2,keyasint"`
	Reason string      `cbor:"3,keyasint,omitempty"`
}

// KeyEpoch is the root's statement of one epoch of a key group: for an
// audience, the X25519 public key that seals to it; for the network group,
// a hash of the private-network key (so a forged wrap is noticed).
type KeyEpoch struct {
	Group  string `cbor:"1,keyasint"`
	Epoch  uint32 `cbor:"2,keyasint"`
	Public []byte `cbor:"3,keyasint"`
	// Since is when the epoch was made (Unix milliseconds).
	Since int64 `cbor:"4,keyasint,omitempty"`
}

// statement is a root-signed body, the value of a members entry.
type statement struct {
	Network sp.NetworkID    `cbor:"1,keyasint"`
	Kind    string          `cbor:"2,keyasint"`
	Body    cbor.RawMessage `cbor:"3,keyasint"`
	Sig     []byte          `cbor:"4,keyasint"`
}

const (
	stmtCert    = "cert"
	stmtRevoked = "revoked"
	stmtEpoch   = "epoch"
)

func statementMessage(net sp.NetworkID, kind string, body []byte) []byte {
	m := []byte("floe statement v1\x00")
	m = append(m, net[:]...)
	m = append(m, kind...)
	m = append(m, 0)
	return append(m, body...)
}

func signStatement(root ed25519.PrivateKey, net sp.NetworkID, kind string, body any) ([]byte, error) {
	b, err := sp.Marshal(body)
	if err != nil {
		return nil, err
	}
	st := statement{Network: net, Kind: kind, Body: b, Sig: ed25519.Sign(root, statementMessage(net, kind, b))}
	sb, err := sp.Marshal(st)
	if err != nil {
		return nil, err
	}
	return sp.EncodeValue(sb)
}

// openStatement checks a members entry's value: a statement of kind, for
// this network, signed by root; it decodes the body into out.
func openStatement(root ed25519.PublicKey, net sp.NetworkID, value []byte, kind string, out any) error {
	v, err := sp.DecodeValue(value)
	if err != nil {
		return err
	}
	b, ok := v.([]byte)
	if !ok {
		return fmt.Errorf("%w: a members entry's value is not a statement", ErrNotAllowed)
	}
	var st statement
	if err := sp.UnmarshalStrict(b, &st); err != nil {
		return fmt.Errorf("%w: statement: %v", ErrNotAllowed, err)
	}
	if st.Network != net {
		return fmt.Errorf("%w: the statement belongs to another network", ErrNotAllowed)
	}
	if st.Kind != kind {
		return fmt.Errorf("%w: a %q statement where a %q statement of this network belongs", ErrNotAllowed, st.Kind, kind)
	}
	if len(root) != ed25519.PublicKeySize || !ed25519.Verify(root, statementMessage(net, kind, st.Body), st.Sig) {
		return fmt.Errorf("%w: the statement is not signed by the network's root key", ErrNotAllowed)
	}
	if err := sp.UnmarshalStrict(st.Body, out); err != nil {
		return fmt.Errorf("%w: statement body: %v", ErrNotAllowed, err)
	}
	return nil
}

// memberRecord is the members record of a device: fields "cert" and
// "revoked".
func memberRecord(d sp.DeviceID) sp.RecordID {
	h := sha256.Sum256(append([]byte("floe member record\x00"), d[:]...))
	var id sp.RecordID
	copy(id[:], h[:16])
	return id
}

// groupRecord is the members record of a key group: fields "epoch/N" and
// "wrap/N/DEVICE".
func groupRecord(group string) sp.RecordID {
	h := sha256.Sum256(append([]byte("floe key group\x00"), group...))
	var id sp.RecordID
	copy(id[:], h[:16])
	return id
}

func wrapField(epoch uint32, d sp.DeviceID) string {
	return "wrap/" + strconv.FormatUint(uint64(epoch), 10) + "/" + strings.TrimPrefix(d.String(), "dev:")
}

func wrapLabel(net sp.NetworkID, group string, epoch uint32) string {
	return "floe " + net.String() + " " + group + " " + strconv.FormatUint(uint64(epoch), 10)
}

// Grant is one area grant of a certificate.
type Grant struct{ Collection, Area string }

// ParseGrant reads "collection:area", "area" (every collection) or "*".
func ParseGrant(s string) (Grant, error) {
	s = strings.TrimSpace(s)
	coll, area, ok := strings.Cut(s, ":")
	if !ok {
		coll, area = "*", s
	}
	if area == "" {
		return Grant{}, fmt.Errorf("area %q: give collection:area, e.g. outreach:kivalliq/arviat or directory:*", s)
	}
	if coll != "*" {
		if _, err := SchemaFor(coll); err != nil {
			return Grant{}, fmt.Errorf("area %q: %w", s, err)
		}
	}
	if area != "*" {
		if err := sp.ValidateArea(area); err != nil {
			return Grant{}, fmt.Errorf("area %q: %v", s, err)
		}
	}
	return Grant{coll, area}, nil
}

func (g Grant) String() string { return g.Collection + ":" + g.Area }

func (c *Cert) grants() []Grant {
	if c.parsed != nil {
		return c.parsed
	}
	out := []Grant{}
	for _, a := range c.Areas {
		if g, err := ParseGrant(a); err == nil {
			out = append(out, g)
		}
	}
	return out
}

// CanWrite reports whether the certificate allows writing a record of
// area in coll.
func (c *Cert) CanWrite(coll, area string) bool {
	if coll == Audit {
		return true
	}
	p := rolePerms[c.Role]
	if !slices.Contains(p.write, coll) {
		return false
	}
	if coll == Members {
		return true
	}
	for _, g := range c.grants() {
		if (g.Collection == "*" || g.Collection == coll) && sp.AreaCovers(g.Area, area) {
			return true
		}
	}
	return false
}

// CanRead reports whether the certificate allows reading a record of area
// in coll. Network-wide records ("" area) are readable by anyone who may
// read the collection somewhere.
func (c *Cert) CanRead(coll, area string) bool {
	if coll == Members {
		return true
	}
	p := rolePerms[c.Role]
	if !slices.Contains(p.read, coll) {
		return false
	}
	if coll == Audit {
		return true
	}
	for _, g := range c.grants() {
		if (g.Collection == "*" || g.Collection == coll) && (area == "" || sp.AreaCovers(g.Area, area)) {
			return true
		}
	}
	return false
}

// readsAll reports whether the certificate reads everything there is.
func (c *Cert) readsAll() bool {
	p := rolePerms[c.Role]
	if len(p.read) < 3 {
		return false
	}
	for _, g := range c.grants() {
		if g.Collection == "*" && g.Area == "*" {
			return true
		}
	}
	return false
}

// InAudience reports whether the certificate names the audience.
func (c *Cert) InAudience(a string) bool { return slices.Contains(c.Audiences, a) }

// defaultAudiences: shelter staff read shelter locations.
func defaultAudiences(role string) []string {
	if role == RoleShelterStaff {
		return []string{ShelterAudience}
	}
	return nil
}

// trust is what a node knows of the members collection.
type trust struct {
	mu      sync.RWMutex
	certs   map[sp.DeviceID]Cert
	revoked map[sp.DeviceID]Revocation
	epochs  map[string]map[uint32]KeyEpoch
	wraps   map[string]map[uint32]map[sp.DeviceID][][]byte // every wrap seen: a bad one cannot hide a good one
}

func newTrust() *trust {
	return &trust{
		certs:   map[sp.DeviceID]Cert{},
		revoked: map[sp.DeviceID]Revocation{},
		epochs:  map[string]map[uint32]KeyEpoch{},
		wraps:   map[string]map[uint32]map[sp.DeviceID][][]byte{},
	}
}

func (t *trust) cert(d sp.DeviceID) (Cert, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	c, ok := t.certs[d]
	return c, ok
}

func (t *trust) revocation(d sp.DeviceID) (Revocation, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.revoked[d]
	return r, ok
}

// current reports the certificate of a device that is not revoked.
func (t *trust) current(d sp.DeviceID) (Cert, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if _, r := t.revoked[d]; r {
		return Cert{}, false
	}
	c, ok := t.certs[d]
	return c, ok
}

func (t *trust) latestEpoch(group string) (KeyEpoch, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var best KeyEpoch
	ok := false
	for _, e := range t.epochs[group] {
		if !ok || e.Epoch > best.Epoch {
			best, ok = e, true
		}
	}
	return best, ok
}

func (t *trust) epoch(group string, n uint32) (KeyEpoch, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.epochs[group][n]
	return e, ok
}

func (t *trust) wrap(group string, n uint32, d sp.DeviceID) ([][]byte, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	w, ok := t.wraps[group][n][d]
	return w, ok
}

// members lists the current (not revoked) members of a group: everyone
// for the network group, the audience's members otherwise.
func (t *trust) members(group string) []sp.DeviceID {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []sp.DeviceID
	for d, c := range t.certs {
		if _, r := t.revoked[d]; r {
			continue
		}
		if group == NetworkGroup || c.InAudience(group) {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}

// Certs lists every certificate, with whether it is revoked.
func (t *trust) list() []MemberInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []MemberInfo
	for d, c := range t.certs {
		m := MemberInfo{Cert: c, ID: d.String(), Since: time.UnixMilli(c.Issued).UTC()}
		if r, ok := t.revoked[d]; ok {
			m.Revoked = true
			m.RevokedAt = r.At.Time()
			m.Reason = r.Reason
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// MemberInfo is a certificate as listed.
type MemberInfo struct {
	Cert
	ID        string    `json:"id"`
	Since     time.Time `json:"since"`
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Reason    string    `json:"reason,omitempty"`
}

// trustChange says what observing an entry changed.
type trustChange struct {
	revoked []Revocation
	epochs  bool
	certs   bool
}

// checkMembersEntry checks a members entry against the root key and
// decodes what it states. It does not look at the author (authorize does).
func (n *Node) checkMembersEntry(e *sp.Entry) (any, error) {
	root := ed25519.PublicKey(n.net.Root)
	if e.Kind != sp.KindValue {
		return nil, fmt.Errorf("%w: members records are never deleted", ErrNotAllowed)
	}
	if e.Area != "" {
		return nil, fmt.Errorf("%w: members records have no area", ErrNotAllowed)
	}
	switch {
	case e.Field == stmtCert:
		var c Cert
		if err := openStatement(root, n.net.ID, e.Value, stmtCert, &c); err != nil {
			return nil, err
		}
		if memberRecord(c.Device) != e.Record {
			return nil, fmt.Errorf("%w: a certificate filed under another device's record", ErrNotAllowed)
		}
		if _, ok := rolePerms[c.Role]; !ok {
			return nil, fmt.Errorf("%w: unknown role %q", ErrNotAllowed, c.Role)
		}
		return c, nil
	case e.Field == stmtRevoked:
		var r Revocation
		if err := openStatement(root, n.net.ID, e.Value, stmtRevoked, &r); err != nil {
			return nil, err
		}
		if memberRecord(r.Device) != e.Record {
			return nil, fmt.Errorf("%w: a revocation filed under another device's record", ErrNotAllowed)
		}
		return r, nil
	case strings.HasPrefix(e.Field, "epoch/"):
		var k KeyEpoch
		if err := openStatement(root, n.net.ID, e.Value, stmtEpoch, &k); err != nil {
			return nil, err
		}
		if groupRecord(k.Group) != e.Record || e.Field != "epoch/"+strconv.FormatUint(uint64(k.Epoch), 10) || len(k.Public) != 32 {
			return nil, fmt.Errorf("%w: a key epoch filed in the wrong place", ErrNotAllowed)
		}
		return k, nil
	case strings.HasPrefix(e.Field, "wrap/"):
		parts := strings.Split(e.Field, "/")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: bad wrap field", ErrNotAllowed)
		}
		ep, err := strconv.ParseUint(parts[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: bad wrap field", ErrNotAllowed)
		}
		d, err := sp.ParseDeviceID("dev:" + parts[2])
		if err != nil || wrapField(uint32(ep), d) != e.Field {
			return nil, fmt.Errorf("%w: bad wrap field", ErrNotAllowed)
		}
		v, err := sp.DecodeValue(e.Value)
		b, ok := v.([]byte)
		if err != nil || !ok {
			return nil, fmt.Errorf("%w: a wrap is not bytes", ErrNotAllowed)
		}
		return wrapStmt{epoch: uint32(ep), device: d, box: b}, nil
	}
	return nil, fmt.Errorf("%w: unknown members field %q", ErrNotAllowed, e.Field)
}

type wrapStmt struct {
	epoch  uint32
	device sp.DeviceID
	box    []byte
}

// groupOf finds the group of a key-group record among the known groups.
func (n *Node) groupOf(id sp.RecordID) (string, bool) {
	for _, g := range []string{NetworkGroup, ShelterAudience} {
		if groupRecord(g) == id {
			return g, true
		}
	}
	n.trust.mu.RLock()
	defer n.trust.mu.RUnlock()
	for g := range n.trust.epochs {
		if groupRecord(g) == id {
			return g, true
		}
	}
	return "", false
}

// authorize checks that e's author was allowed to make it, at its time,
// given what this node knows. It returns ErrUnknownAuthor when the author's
// certificate has not arrived.
func (n *Node) authorize(e *sp.Entry) error {
	if e.Collection == Members {
		st, err := n.checkMembersEntry(e)
		if err != nil {
			return err
		}
		// The root's signature is the authority; the author only carries
		// the statement, and must be a member (or the device the
		// certificate is for).
		if c, ok := st.(Cert); ok && c.Device == e.Author {
			return nil
		}
		ac, err := n.authorCert(e)
		if err != nil {
			return err
		}
		if w, ok := st.(wrapStmt); ok {
			g, known := n.groupOf(e.Record)
			if !known {
				return fmt.Errorf("%w: a key wrap for a group this node does not know yet", ErrUnknownAuthor)
			}
			// The network key is shared by the admin only; an audience's
			// key by the admin (a new epoch) or the audience's members.
			if ac.Role != RoleAdmin && (g == NetworkGroup || !ac.InAudience(g)) {
				return fmt.Errorf("%w: %s may not share the %q key", ErrNotAllowed, e.Author.Short(), g)
			}
			_ = w
		}
		return nil
	}
	ac, err := n.authorCert(e)
	if err != nil {
		return err
	}
	if !ac.CanWrite(e.Collection, e.Area) {
		where := e.Area
		if where == "" {
			where = "the whole network"
		}
		return fmt.Errorf("%w: a %s may not write %s records in %s", ErrNotAllowed, ac.Role, e.Collection, where)
	}
	if e.Kind == sp.KindValue && isSealedField(e.Collection, e.Field) {
		v, err := sp.DecodeValue(e.Value)
		b, ok := v.([]byte)
		if err != nil || !ok || !isSealedValue(b) {
			return fmt.Errorf("%w: field %s must be sealed, and this value is not", ErrNotAllowed, e.Field)
		}
	}
	return nil
}

// authorCert finds the certificate of e's author valid at e's time.
func (n *Node) authorCert(e *sp.Entry) (Cert, error) {
	c, ok := n.trust.cert(e.Author)
	if !ok {
		return Cert{}, fmt.Errorf("%w: %s", ErrUnknownAuthor, e.Author.Short())
	}
	if r, ok := n.trust.revocation(e.Author); ok && e.Time >= r.At {
		return Cert{}, fmt.Errorf("%w: %s was revoked at %s and this entry is stamped after", ErrRevoked, e.Author.Short(), r.At.Time().Format(time.RFC3339))
	}
	if int64(e.Time.WallMillis()) < c.Issued {
		return Cert{}, fmt.Errorf("%w: the entry is stamped before %s was admitted", ErrNotAllowed, e.Author.Short())
	}
	return c, nil
}

// observe updates the trust state from a members entry that passed
// authorize.
func (n *Node) observe(e *sp.Entry) trustChange {
	var ch trustChange
	st, err := n.checkMembersEntry(e)
	if err != nil {
		return ch
	}
	t := n.trust
	t.mu.Lock()
	defer t.mu.Unlock()
	switch x := st.(type) {
	case Cert:
		// A device has one certificate (Admit refuses a second); if two
		// ever meet, the earlier wins everywhere, whatever order they
		// arrive in, so every node judges the device's entries alike.
		if old, ok := t.certs[x.Device]; !ok || x.Issued < old.Issued {
			x.parsed = x.grants()
			t.certs[x.Device] = x
			ch.certs = true
		}
	case Revocation:
		if old, ok := t.revoked[x.Device]; !ok || x.At < old.At {
			t.revoked[x.Device] = x
			ch.revoked = append(ch.revoked, x)
		}
	case KeyEpoch:
		if t.epochs[x.Group] == nil {
			t.epochs[x.Group] = map[uint32]KeyEpoch{}
		}
		if _, ok := t.epochs[x.Group][x.Epoch]; !ok {
			t.epochs[x.Group][x.Epoch] = x
			ch.epochs = true
		}
	case wrapStmt:
		g, ok := "", false
		for _, name := range []string{NetworkGroup, ShelterAudience} {
			if groupRecord(name) == e.Record {
				g, ok = name, true
			}
		}
		for name := range t.epochs {
			if groupRecord(name) == e.Record {
				g, ok = name, true
			}
		}
		if !ok {
			return ch
		}
		if t.wraps[g] == nil {
			t.wraps[g] = map[uint32]map[sp.DeviceID][][]byte{}
		}
		if t.wraps[g][x.epoch] == nil {
			t.wraps[g][x.epoch] = map[sp.DeviceID][][]byte{}
		}
		for _, b := range t.wraps[g][x.epoch][x.device] {
			if bytes.Equal(b, x.box) {
				return ch
			}
		}
		t.wraps[g][x.epoch][x.device] = append(t.wraps[g][x.epoch][x.device], x.box)
		ch.epochs = true
	}
	return ch
}

// loadTrust reads the members collection into memory. Entries are taken
// in two passes (statements, then wraps) so order does not matter.
func (n *Node) loadTrust(ctx context.Context) error {
	n.trust = newTrust()
	var all []sp.Entry
	err := n.st.Records(ctx, Members, sp.RecordID{}, func(id sp.RecordID, _ bool) error {
		es, err := n.st.Record(ctx, Members, id)
		if err != nil && !errors.Is(err, sp.ErrNotFound) {
			return err
		}
		all = append(all, es...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the members records: %w", err)
	}
	sortMembersFirst(all)
	for i := range all {
		n.observe(&all[i])
	}
	return nil
}

// sortMembersFirst puts members entries first, statements before wraps,
// keeping the rest in order.
func sortMembersFirst(es []sp.Entry) {
	rank := func(e *sp.Entry) int {
		if e.Collection != Members {
			return 3
		}
		switch {
		case e.Field == stmtCert:
			return 0
		case strings.HasPrefix(e.Field, "wrap/"):
			return 2
		}
		return 1
	}
	sort.SliceStable(es, func(i, j int) bool { return rank(&es[i]) < rank(&es[j]) })
}

// Members lists the network's certificates as this node knows them.
func (n *Node) Members() []MemberInfo { return n.trust.list() }

// Cert returns this device's own certificate, if it has one yet.
func (n *Node) Cert() (Cert, bool) { return n.trust.cert(n.id) }

// Revoked reports whether a device is revoked.
func (n *Node) Revoked(d sp.DeviceID) bool {
	_, ok := n.trust.revocation(d)
	return ok
}

// certified reports whether d holds a current certificate.
func (n *Node) certified(d sp.DeviceID) bool {
	_, ok := n.trust.current(d)
	return ok
}

// checkLocalWrite explains why this device may not make a write.
func (n *Node) checkLocalWrite(e *sp.Entry) error {
	c, ok := n.trust.cert(n.id)
	if !ok {
		return fmt.Errorf("%w: this laptop has no certificate yet: give the join request (floe init --join wrote it) to an admin, and sync once they have run `floe member admit`", ErrNotAllowed)
	}
	if n.Revoked(n.id) {
		return fmt.Errorf("%w: this laptop was revoked by an admin; nothing it writes will be accepted", ErrRevoked)
	}
	if !c.CanWrite(e.Collection, e.Area) {
		where := e.Area
		if where == "" {
			where = "the whole network"
		}
		return fmt.Errorf("%w: this laptop's role (%s, areas %s) may not write %s records in %s; give the record's area with --area", ErrNotAllowed, c.Role, strings.Join(c.Areas, " "), e.Collection, where)
	}
	return nil
}
