package node

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/floe-north/floe/fieldkit"
	sp "github.com/floe-north/floe/syncproto"
)

// Keys of the trust layer: the root key (on the admin's first device
// only), audience keys (one X25519 key pair per epoch, the private half
// wrapped to each member of the audience), and the network's private
// network key (rotated on every revocation, wrapped to every member).

const metaRootKey = "root-key"

// ErrNoAudienceKey means this device cannot open a sealed field.
var ErrNoAudienceKey = errors.New("this device holds no key for that sealed field")

// ErrNotAdmin means an admin-only action was asked of a device without the
// network's root key.
var ErrNotAdmin = errors.New("only the admin device that created the network can do this")

// isSealedField reports whether a field path is sealed by the schema.
func isSealedField(coll, field string) bool {
	schema, err := SchemaFor(coll)
	if err != nil {
		return false
	}
	top, _, _ := splitPath(field)
	spec, ok := schema.Spec(top)
	return ok && spec.Sensitive
}

func isSealedValue(b []byte) bool {
	_, err := fieldkit.SealedEpoch(b)
	return err == nil
}

// audienceOf names the audience of a sealed field. Every sealed field of
// this schema version belongs to the shelter audience.
func audienceOf(coll, field string) string { return ShelterAudience }

// rootKey loads the network's root key, which only the device that made
// the network holds. The caller clears it after use.
func (n *Node) rootKey() (ed25519.PrivateKey, error) {
	seed, err := n.st.GetMeta(metaRootKey)
	if errors.Is(err, sp.ErrNotFound) {
		return nil, fmt.Errorf("%w: this laptop does not hold the network's root key", ErrNotAdmin)
	}
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("the stored root key has the wrong length")
	}
	k := ed25519.NewKeyFromSeed(seed)
	clear(seed)
	if subtle.ConstantTimeCompare(k.Public().(ed25519.PublicKey), n.net.Root) != 1 {
		clear(k)
		return nil, fmt.Errorf("the stored root key does not match the network")
	}
	return k, nil
}

// IsAdmin reports whether this device holds the network's root key.
func (n *Node) IsAdmin() bool {
	k, err := n.rootKey()
	clear(k)
	return err == nil
}

// groupSecret unwraps this device's copy of a group's key for one epoch:
// an audience's X25519 private key, or a network key. It checks the
// secret against the epoch's public statement, so a forged wrap is never
// used.
func (n *Node) groupSecret(group string, epoch uint32) ([]byte, error) {
	ke, ok := n.trust.epoch(group, epoch)
	if !ok {
		return nil, fmt.Errorf("%w: epoch %d of %q has not reached this device", ErrNoAudienceKey, epoch, group)
	}
	n.kmu.Lock()
	defer n.kmu.Unlock()
	ck := group + "/" + strconv.FormatUint(uint64(epoch), 10)
	if s, ok := n.keys[ck]; ok {
		return append([]byte(nil), s...), nil
	}
	boxes, ok := n.trust.wrap(group, epoch, n.id)
	if !ok {
		return nil, fmt.Errorf("%w: epoch %d of %q is not shared with this device", ErrNoAudienceKey, epoch, group)
	}
	if n.key == nil {
		return nil, ErrLocked
	}
	for _, box := range boxes {
		s, err := fieldkit.UnwrapKey(n.key, wrapLabel(n.net.ID, group, epoch), box)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare(groupCommitment(group, s), ke.Public) != 1 {
			clear(s)
			continue
		}
		n.keys[ck] = append([]byte(nil), s...)
		return s, nil
	}
	return nil, fmt.Errorf("%w: no key shared with this device for epoch %d of %q opens and matches the root's statement", ErrNoAudienceKey, epoch, group)
}

// groupCommitment is what a key epoch states about its secret: the X25519
// public key of an audience key, a hash of a network key.
func groupCommitment(group string, secret []byte) []byte {
	if group == NetworkGroup {
		h := sha256.Sum256(append([]byte("floe network key commitment\x00"), secret...))
		return h[:]
	}
	k, err := ecdh.X25519().NewPrivateKey(secret)
	if err != nil {
		return nil
	}
	return k.PublicKey().Bytes()
}

// KeyGrace is how long after a rotation the previous network key stays in
// use. Meanwhile the new key travels to every member by the ordinary sync
// (a revoked device that still holds the old key is refused by the
// connection gater, after the handshake); after it, only the new key
// finishes a handshake, and a laptop that missed the whole week needs a
// bundle.
const KeyGrace = 7 * 24 * time.Hour

// PSK is the private-network key this node uses now: the newest rotated
// network key it holds that is at least KeyGrace old, or the one it
// joined with.
func (n *Node) PSK() [32]byte {
	psk := n.net.PSK
	cutoff := n.now().Add(-KeyGrace).UnixMilli()
	if ke, ok := n.trust.latestEpoch(NetworkGroup); ok {
		for e := ke.Epoch; e > 0; e-- {
			if ep, ok := n.trust.epoch(NetworkGroup, e); !ok || ep.Since > cutoff {
				continue
			}
			if s, err := n.groupSecret(NetworkGroup, e); err == nil && len(s) == 32 {
				copy(psk[:], s)
				clear(s)
				break
			}
		}
	}
	return psk
}

// sealValue seals a sensitive field's value (the CBOR string a write
// built) to the newest epoch of its audience.
func (n *Node) sealValue(coll string, id sp.RecordID, field string, value []byte) ([]byte, error) {
	v, err := sp.DecodeValue(value)
	if err != nil {
		return nil, err
	}
	if b, ok := v.([]byte); ok && isSealedValue(b) {
		return value, nil // already sealed (a re-seal or a resolve keeping a value)
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("field %s: a sealed field holds text", field)
	}
	if len(s) > fieldkit.MaxSealedValue {
		return nil, &FieldError{coll, field, fmt.Sprintf("at most %d bytes (this is %d)", fieldkit.MaxSealedValue, len(s))}
	}
	aud := audienceOf(coll, field)
	ke, ok := n.trust.latestEpoch(aud)
	if !ok {
		return nil, fmt.Errorf("nobody may read %s yet: an admin must admit a device of the %q audience (role %s) before a %s can be written",
			field, aud, RoleShelterStaff, field)
	}
	sealed, err := fieldkit.SealField(ke.Public, fieldkit.FieldAD{Collection: coll, Record: id, Field: field, Audience: aud, Epoch: ke.Epoch}, []byte(s))
	if err != nil {
		return nil, err
	}
	return sp.EncodeValue(sealed)
}

// openValue opens a sealed field value with this device's audience key.
func (n *Node) openValue(coll string, id sp.RecordID, field string, value []byte) (string, error) {
	v, err := sp.DecodeValue(value)
	if err != nil {
		return "", err
	}
	b, ok := v.([]byte)
	if !ok {
		return "", fmt.Errorf("field %s holds a value that is not sealed", field)
	}
	epoch, err := fieldkit.SealedEpoch(b)
	if err != nil {
		return "", err
	}
	aud := audienceOf(coll, field)
	if c, ok := n.trust.current(n.id); !ok || !c.InAudience(aud) {
		return "", fmt.Errorf("%w: only the %q audience may read %s, and this device is not in it", ErrNotAllowed, aud, field)
	}
	secret, err := n.groupSecret(aud, epoch)
	if err != nil {
		return "", err
	}
	priv, err := ecdh.X25519().NewPrivateKey(secret)
	clear(secret)
	if err != nil {
		return "", err
	}
	plain, err := fieldkit.OpenField(priv, fieldkit.FieldAD{Collection: coll, Record: id, Field: field, Audience: aud, Epoch: epoch}, b)
	if err != nil {
		return "", fmt.Errorf("field %s: %w", field, err)
	}
	if !utf8.Valid(plain) {
		return "", fmt.Errorf("field %s: the opened value is not text", field)
	}
	return string(plain), nil
}

// newEpochEntries makes the entries of a new epoch of a group: the root's
// statement and a wrap of the new secret for each given member. The
// secret is not kept: for an audience, the admin's device cannot read
// what is sealed to it (unless the admin is in the audience).
func (n *Node) newEpochEntries(root ed25519.PrivateKey, group string, to []sp.DeviceID) ([]sp.Entry, error) {
	var epoch uint32 = 1
	if ke, ok := n.trust.latestEpoch(group); ok {
		epoch = ke.Epoch + 1
	}
	secret := make([]byte, 32)
	if group == NetworkGroup {
		rand.Read(secret)
	} else {
		k, err := fieldkit.NewAudienceKey()
		if err != nil {
			return nil, err
		}
		copy(secret, k.Bytes())
	}
	defer clear(secret)
	val, err := signStatement(root, n.net.ID, stmtEpoch, KeyEpoch{Group: group, Epoch: epoch, Public: groupCommitment(group, secret), Since: n.now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	es := []sp.Entry{{Field: "epoch/" + strconv.FormatUint(uint64(epoch), 10), Kind: sp.KindValue, Value: val}}
	for _, d := range to {
		w, err := n.wrapEntry(group, epoch, d, secret)
		if err != nil {
			return nil, err
		}
		es = append(es, w)
	}
	return es, nil
}

func (n *Node) wrapEntry(group string, epoch uint32, d sp.DeviceID, secret []byte) (sp.Entry, error) {
	box, err := fieldkit.WrapKey(d, wrapLabel(n.net.ID, group, epoch), secret)
	if err != nil {
		return sp.Entry{}, fmt.Errorf("sharing the %q key with %s: %w", group, d.Short(), err)
	}
	v, err := sp.EncodeValue(box)
	if err != nil {
		return sp.Entry{}, err
	}
	return sp.Entry{Field: wrapField(epoch, d), Kind: sp.KindValue, Value: v}, nil
}

// writeMembers writes members entries to one record.
func (n *Node) writeMembers(ctx context.Context, rec sp.RecordID, es []sp.Entry) error {
	if len(es) == 0 {
		return nil
	}
	return n.write(ctx, Members, rec, "", func([]sp.Entry) ([]sp.Entry, error) { return es, nil })
}

// MaintainReport says what Maintain did.
type MaintainReport struct {
	Shared   int // keys shared with members who lacked them
	Resealed int // sealed values moved to their audience's newest epoch
}

// Maintain does the key work that falls to this device: it shares the
// newest key of each group it belongs to with members who lack it, and,
// for an audience it belongs to, re-seals values sealed under an older
// epoch (after a revocation) so that the old ciphertexts are pruned.
func (n *Node) Maintain(ctx context.Context) (MaintainReport, error) {
	var rep MaintainReport
	me, ok := n.trust.current(n.id)
	if !ok {
		return rep, nil
	}
	groups := me.Audiences
	if me.Role == RoleAdmin {
		groups = append([]string{NetworkGroup}, groups...)
	}
	for _, g := range groups {
		ke, ok := n.trust.latestEpoch(g)
		if !ok {
			continue
		}
		secret, err := n.groupSecret(g, ke.Epoch)
		if err != nil {
			continue
		}
		var es []sp.Entry
		for _, d := range n.trust.members(g) {
			if _, has := n.trust.wrap(g, ke.Epoch, d); has {
				continue
			}
			w, err := n.wrapEntry(g, ke.Epoch, d, secret)
			if err != nil {
				n.log.Warn("could not share a key with a member", "group", g, "device", d.Short(), "err", err)
				continue
			}
			es = append(es, w)
		}
		clear(secret)
		if err := n.writeMembers(ctx, groupRecord(g), es); err != nil {
			return rep, err
		}
		rep.Shared += len(es)
		if g != NetworkGroup {
			r, err := n.reseal(ctx, g, ke.Epoch)
			rep.Resealed += r
			if err != nil {
				return rep, err
			}
		}
	}
	if rep.Shared > 0 || rep.Resealed > 0 {
		n.log.Info("key maintenance", "shared", rep.Shared, "resealed", rep.Resealed)
	}
	return rep, nil
}

// reseal moves every sealed directory value of audience g sealed under an
// epoch older than newest to newest. A field in conflict is left for
// resolve: re-sealing one side would drop the other.
func (n *Node) reseal(ctx context.Context, g string, newest uint32) (int, error) {
	type job struct {
		id    sp.RecordID
		field string
		hash  sp.EntryHash
	}
	var jobs []job
	err := n.st.Records(ctx, Directory, sp.RecordID{}, func(id sp.RecordID, deleted bool) error {
		if deleted {
			return nil
		}
		es, err := n.st.Record(ctx, Directory, id)
		if err != nil {
			return err
		}
		rv := sp.Fold(Directory, id, es)
		for i := range rv.Fields {
			f := &rv.Fields[i]
			if !isSealedField(Directory, f.Field) || audienceOf(Directory, f.Field) != g || len(f.Siblings) > 0 || f.Current.Kind != sp.KindValue {
				continue
			}
			v, err := sp.DecodeValue(f.Current.Value)
			b, ok := v.([]byte)
			if err != nil || !ok {
				continue
			}
			if ep, err := fieldkit.SealedEpoch(b); err == nil && ep < newest {
				jobs = append(jobs, job{id, f.Field, f.Current.Hash()})
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	done := 0
	for _, j := range jobs {
		err := n.write(ctx, Directory, j.id, "", func(cur []sp.Entry) ([]sp.Entry, error) {
			for i := range cur {
				if cur[i].Field != j.field || cur[i].Hash() != j.hash {
					continue
				}
				plain, err := n.openValue(Directory, j.id, j.field, cur[i].Value)
				if err != nil {
					return nil, err
				}
				v, err := sp.EncodeValue(plain)
				if err != nil {
					return nil, err
				}
				return []sp.Entry{{Field: j.field, Kind: sp.KindValue, Value: v}}, nil
			}
			return nil, nil // changed meanwhile
		})
		if errors.Is(err, ErrNoAudienceKey) {
			continue // sealed under an epoch this device never held
		}
		if err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}
