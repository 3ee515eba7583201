package node

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	sp "github.com/floe-north/floe/syncproto"
)

// Fixed keys, so that what the seeds sign is the same in every fuzz worker
// process (ed25519 signatures are deterministic): the fuzz functions can
// then tell exactly which bytes were signed.

func trustFuzzKey(label string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("floe trust fuzz key\x00" + label))
	return ed25519.NewKeyFromSeed(s[:])
}

func trustFuzzDevice(label string) sp.DeviceID {
	var d sp.DeviceID
	copy(d[:], trustFuzzKey(label).Public().(ed25519.PublicKey))
	return d
}

var (
	trustFuzzNet   = sp.NetworkID{0x6b, 0x69, 0x76, 0x61, 0x6c, 0x6c, 0x69, 0x71}
	trustFuzzOther = sp.NetworkID{0x6f, 0x74, 0x68, 0x65, 0x72}
)

// joinMessage is what a join request's signature covers, written out here
// rather than taken from (*JoinRequest).message, so a change there that
// leaves a field unsigned is caught.
func joinMessage(r JoinRequest) []byte {
	m := []byte("floe join request v1\x00")
	m = append(m, r.Network[:]...)
	m = append(m, r.Invite[:]...)
	m = append(m, r.Device[:]...)
	return append(m, r.Name...)
}

func signedJoin(key ed25519.PrivateKey, name string) JoinRequest {
	r := JoinRequest{Network: trustFuzzNet, Invite: [16]byte{1, 2, 3, 4}, Name: name}
	copy(r.Device[:], key.Public().(ed25519.PublicKey))
	r.Sig = ed25519.Sign(key, joinMessage(r))
	return r
}

// joinSeeds are join requests as the seeds sign them: good ones and ones
// that are signed but break a rule. Only their signatures exist.
func joinSeeds() []JoinRequest {
	k := trustFuzzKey("laptop")
	return []JoinRequest{
		signedJoin(k, "laptop-2"),
		signedJoin(k, ""),
		signedJoin(k, "ᐃᖃᓗᐃᑦ laptop"),
		signedJoin(k, strings.Repeat("n", MaxPeerName)),
		signedJoin(k, strings.Repeat("n", MaxPeerName+1)), // too long
		signedJoin(k, "two\nlines"),                       // a control character
		signedJoin(k, "bad \xff utf-8"),
		signedJoin(trustFuzzKey("other laptop"), "laptop-3"),
	}
}

// A join request near its limits round-trips; one too long for a file is
// refused before it is decoded.
func TestJoinRequestLimits(t *testing.T) {
	r := signedJoin(trustFuzzKey("laptop"), strings.Repeat("ᐃ", MaxPeerName/3))
	got, err := DecodeJoinRequest(EncodeJoinRequest(r))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("DecodeJoinRequest = %+v, %v", got, err)
	}
	for i, r := range joinSeeds() {
		_, err := DecodeJoinRequest(EncodeJoinRequest(r))
		if wantOK := i < 4 || i == 7; (err == nil) != wantOK {
			t.Errorf("seed %d (name %q): %v", i, r.Name, err)
		}
	}
	long := append(EncodeJoinRequest(r), bytes.Repeat([]byte("\n"), MaxInviteLen)...)
	if _, err := DecodeJoinRequest(long); !errors.Is(err, ErrBadJoinRequest) {
		t.Fatalf("a %d-byte request: %v", len(long), err)
	}
	// The signature covers every field.
	for name, edit := range map[string]func(r *JoinRequest){
		"network": func(r *JoinRequest) { r.Network = trustFuzzOther },
		"invite":  func(r *JoinRequest) { r.Invite[15] ^= 1 },
		"device":  func(r *JoinRequest) { r.Device = trustFuzzDevice("other laptop") },
		"name":    func(r *JoinRequest) { r.Name = "admin" },
		"sig":     func(r *JoinRequest) { r.Sig = bytes.Clone(r.Sig); r.Sig[0] ^= 1 },
	} {
		bad := r
		edit(&bad)
		if _, err := DecodeJoinRequest(EncodeJoinRequest(bad)); !errors.Is(err, ErrBadJoinRequest) {
			t.Errorf("%s changed after signing: %v", name, err)
		}
	}
}

// FuzzDecodeJoinRequest: a join request comes from outside (a USB stick,
// an e-mail) to the admin's device. Whatever the bytes, decoding never
// panics and every refusal wraps ErrBadJoinRequest. What decodes has one
// encoding (the file's), round-trips through EncodeJoinRequest, passes the
// peer rules, carries a signature by its device over every field, and is
// one of the requests the seeds signed: nothing else can carry a good
// signature.
func FuzzDecodeJoinRequest(f *testing.F) {
	seeds := joinSeeds()
	signed := map[string]bool{}
	for _, r := range seeds {
		signed[string(r.Device[:])+string(joinMessage(r))] = true
		f.Add(EncodeJoinRequest(r))
	}
	good := EncodeJoinRequest(seeds[0])
	f.Add(append([]byte("\ufeff"), bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n"))...))
	f.Add(bytes.ReplaceAll(good, []byte("\n"), []byte("\n  ")))
	f.Add(good[:len(good)/2])
	f.Add(good[:len(good)-3])
	f.Add([]byte(joinHeader + "\n"))
	f.Add([]byte(joinHeader))
	f.Add([]byte(strings.ToLower(joinHeader) + "\n"))
	f.Add([]byte(joinHeader + "\n!!!!\n"))
	f.Add([]byte(joinHeader + "\noA==\n")) // an empty CBOR map
	f.Add([]byte("FLOE INVITE v1\n"))
	moved := seeds[0]
	moved.Name = "admin" // changed after signing
	f.Add(EncodeJoinRequest(moved))
	noSig := seeds[0]
	noSig.Sig = nil
	f.Add(EncodeJoinRequest(noSig))
	zero := seeds[0]
	zero.Device = sp.DeviceID{}
	f.Add(EncodeJoinRequest(zero))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, b []byte) {
		// A request file is about 300 bytes. Inputs are clipped to 512:
		// longer ones take the same paths (the MaxInviteLen cap is
		// covered by TestJoinRequestLimits), and the fuzzer's minimizer,
		// quadratic in input length, stalls the run on them.
		if len(b) > 512 {
			b = b[:512]
		}
		r, err := DecodeJoinRequest(b)
		if err != nil {
			if !errors.Is(err, ErrBadJoinRequest) {
				t.Fatalf("error does not wrap ErrBadJoinRequest: %v", err)
			}
			if !reflect.DeepEqual(r, JoinRequest{}) {
				t.Fatalf("a refused request came back filled in: %+v", r)
			}
			return
		}
		if r.Device == (sp.DeviceID{}) || !utf8.ValidString(r.Name) || len(r.Name) > MaxPeerName || strings.ContainsFunc(r.Name, unicode.IsControl) {
			t.Fatalf("a request breaking the peer rules decoded: %+v", r)
		}
		if !ed25519.Verify(ed25519.PublicKey(r.Device[:]), joinMessage(r), r.Sig) {
			t.Fatalf("a request whose signature does not verify decoded: %+v", r)
		}
		if !signed[string(r.Device[:])+string(joinMessage(r))] {
			t.Fatalf("a request nobody signed decoded: %+v", r)
		}
		raw, err := unarmor(joinHeader, b, MaxInviteLen)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := sp.Marshal(r); err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("the request decoded from a non-canonical encoding (%v)", err)
		}
		r2, err := DecodeJoinRequest(EncodeJoinRequest(r))
		if err != nil || !reflect.DeepEqual(r2, r) {
			t.Fatalf("the request does not round-trip: %+v, %v", r2, err)
		}
	})
}

// Independent statements of what the trust layer's records are, so a
// change in node/trust.go that moves them is caught.

func fuzzMemberRecord(d sp.DeviceID) sp.RecordID {
	h := sha256.Sum256(append([]byte("floe member record\x00"), d[:]...))
	var id sp.RecordID
	copy(id[:], h[:16])
	return id
}

func fuzzGroupRecord(g string) sp.RecordID {
	h := sha256.Sum256(append([]byte("floe key group\x00"), g...))
	var id sp.RecordID
	copy(id[:], h[:16])
	return id
}

func fuzzStatementMessage(net sp.NetworkID, kind string, body []byte) []byte {
	m := append([]byte("floe statement v1\x00"), net[:]...)
	m = append(m, kind...)
	m = append(m, 0)
	return append(m, body...)
}

// memberSeed is a members entry of the seeds.
type memberSeed struct {
	field string
	rec   sp.RecordID
	value []byte
	area  string
	kind  sp.Kind
}

// memberSeeds signs statements with the fixed root key (and some with
// another key), and returns entries that carry them, the statements the
// root signed (the inner bytes of each value), and the entries.
func memberSeeds(t testing.TB) (rootSigned map[string]bool, seeds []memberSeed) {
	root := trustFuzzKey("root")
	mallory := trustFuzzKey("mallory")
	d1, d2 := trustFuzzDevice("laptop"), trustFuzzDevice("other laptop")
	rootSigned = map[string]bool{}
	sign := func(key ed25519.PrivateKey, net sp.NetworkID, kind string, body any) []byte {
		v, err := signStatement(key, net, kind, body)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(key, root) {
			inner, err := sp.DecodeValue(v)
			if err != nil {
				t.Fatal(err)
			}
			rootSigned[string(inner.([]byte))] = true
		}
		return v
	}
	cert := Cert{Device: d1, Name: "laptop", Role: RoleOutreach, Areas: []string{"outreach:kivalliq/arviat"}, Issued: 1_795_000_000_000}
	certV := sign(root, trustFuzzNet, stmtCert, cert)
	staff := Cert{Device: d2, Role: RoleShelterStaff, Areas: []string{"*:*"}, Audiences: []string{ShelterAudience}, Issued: 1_795_000_000_001}
	staffV := sign(root, trustFuzzNet, stmtCert, staff)
	badRole := cert
	badRole.Role = "overlord"
	revV := sign(root, trustFuzzNet, stmtRevoked, Revocation{Device: d1, At: sp.MakeHLC(1_795_000_100_000, 0), Reason: "lost"})
	pub := bytes.Repeat([]byte{9}, 32)
	epochV := sign(root, trustFuzzNet, stmtEpoch, KeyEpoch{Group: ShelterAudience, Epoch: 2, Public: pub})
	netEpochV := sign(root, trustFuzzNet, stmtEpoch, KeyEpoch{Group: NetworkGroup, Epoch: 1, Public: pub})
	shortEpochV := sign(root, trustFuzzNet, stmtEpoch, KeyEpoch{Group: ShelterAudience, Epoch: 3, Public: pub[:31]})
	box, err := sp.EncodeValue(bytes.Repeat([]byte{7}, 104))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := sp.EncodeValue("not a statement")
	w := wrapField(2, d1)
	val := func(field string, rec sp.RecordID, v []byte) memberSeed {
		return memberSeed{field: field, rec: rec, value: v, kind: sp.KindValue}
	}
	seeds = []memberSeed{
		// Accepted (the first acceptedSeeds).
		val(stmtCert, fuzzMemberRecord(d1), certV),
		val(stmtCert, fuzzMemberRecord(d2), staffV),
		val(stmtRevoked, fuzzMemberRecord(d1), revV),
		val("epoch/2", fuzzGroupRecord(ShelterAudience), epochV),
		val("epoch/1", fuzzGroupRecord(NetworkGroup), netEpochV),
		val(w, fuzzGroupRecord(ShelterAudience), box),
		val(wrapField(1, d2), fuzzGroupRecord(NetworkGroup), box),
		// Refused: filed in the wrong place, the wrong kind, a bad body,
		// another signer or network, not a statement at all.
		val(stmtCert, fuzzMemberRecord(d2), certV),
		val(stmtRevoked, fuzzMemberRecord(d1), certV),
		val(stmtCert, fuzzMemberRecord(d1), revV),
		val("epoch/3", fuzzGroupRecord(ShelterAudience), epochV),
		val("epoch/2", fuzzGroupRecord(NetworkGroup), epochV),
		val("epoch/3", fuzzGroupRecord(ShelterAudience), shortEpochV),
		val(stmtCert, fuzzMemberRecord(d1), sign(root, trustFuzzNet, stmtCert, badRole)),
		val(stmtCert, fuzzMemberRecord(d1), sign(mallory, trustFuzzNet, stmtCert, cert)),
		val(stmtCert, fuzzMemberRecord(d1), sign(root, trustFuzzOther, stmtCert, cert)),
		val(stmtCert, fuzzMemberRecord(d1), text),
		val(stmtCert, fuzzMemberRecord(d1), box),
		val(stmtCert, fuzzMemberRecord(d1), []byte{0xa0}),
		val(stmtCert, fuzzMemberRecord(d1), nil),
		val(strings.Replace(w, "wrap/2/", "wrap/02/", 1), fuzzGroupRecord(ShelterAudience), box),
		val(strings.ToUpper(w), fuzzGroupRecord(ShelterAudience), box),
		val(w+"/x", fuzzGroupRecord(ShelterAudience), box),
		val(w, fuzzGroupRecord(ShelterAudience), text),
		val("name", fuzzMemberRecord(d1), certV),
	}
	inArea := val(stmtCert, fuzzMemberRecord(d1), certV)
	inArea.area = "kivalliq"
	tomb := val(stmtCert, fuzzMemberRecord(d1), certV)
	tomb.kind = sp.KindTombstone
	return rootSigned, append(seeds, inArea, tomb)
}

// acceptedSeeds is how many of memberSeeds come first and are accepted.
const acceptedSeeds = 7

// The seeds reach both sides of checkMembersEntry, so the fuzz target's
// properties are not checked on refusals alone.
func TestMembersSeeds(t *testing.T) {
	_, seeds := memberSeeds(t)
	n := &Node{net: Network{ID: trustFuzzNet, Root: trustFuzzKey("root").Public().(ed25519.PublicKey)}}
	for i, s := range seeds {
		e := sp.Entry{Collection: Members, Record: s.rec, Field: s.field, Value: s.value, Area: s.area, Kind: s.kind}
		_, err := n.checkMembersEntry(&e)
		if (err == nil) != (i < acceptedSeeds) {
			t.Errorf("seed %d (%s): checkMembersEntry = %v", i, s.field, err)
		}
	}
}

// FuzzMembersStatement feeds checkMembersEntry, which reads every members
// entry from a peer, arbitrary fields, records, values, areas and kinds on
// a node whose network has a fixed root key. Nothing panics; refusals wrap
// ErrNotAllowed (or ErrMalformed for a value that is not CBOR at all,
// which Entry.Validate refuses first in a real merge). A certificate,
// revocation or key epoch is accepted only if it is one the root key
// signed, for this network and of this kind, filed in its own record and
// field; a key wrap only at its one canonical field. What is accepted,
// observed, is what the trust state then holds.
func FuzzMembersStatement(f *testing.F) {
	rootSigned, seeds := memberSeeds(f)
	for _, s := range seeds {
		f.Add(s.field, s.rec[:], s.value, s.area, uint8(s.kind))
	}
	rootPub := trustFuzzKey("root").Public().(ed25519.PublicKey)
	n := &Node{net: Network{ID: trustFuzzNet, Name: "kivalliq", Root: rootPub}}

	f.Fuzz(func(t *testing.T, field string, rec, value []byte, area string, kind uint8) {
		// Clip to a little past the limits: longer inputs are refused
		// alike, and stall the fuzzer's quadratic minimizer.
		field, area = clipText(field, 2*sp.MaxFieldLen), clipText(area, 2*sp.MaxAreaLen)
		if len(value) > 512 { // a statement is about 250 bytes
			value = value[:512]
		}
		e := sp.Entry{Collection: Members, Field: field, Value: value, Area: area, Kind: sp.Kind(kind), Time: sp.MakeHLC(1_795_000_000_500, 0)}
		copy(e.Record[:], rec)
		n.trust = newTrust()

		st, err := n.checkMembersEntry(&e)
		if err != nil {
			if st != nil {
				t.Fatalf("a refused entry came with a statement: %#v", st)
			}
			if !errors.Is(err, ErrNotAllowed) {
				if _, derr := sp.DecodeValue(value); derr == nil || !errors.Is(err, sp.ErrMalformed) {
					t.Fatalf("refusal wraps neither ErrNotAllowed nor, for a value that is not CBOR, ErrMalformed: %v", err)
				}
			}
			return
		}
		if e.Kind != sp.KindValue || e.Area != "" {
			t.Fatalf("accepted a members entry of kind %v in area %q", e.Kind, e.Area)
		}
		// A statement must be one the root signed, for this network.
		rootStatement := func(kind string) {
			t.Helper()
			v, err := sp.DecodeValue(value)
			if err != nil {
				t.Fatalf("accepted a value that does not decode: %v", err)
			}
			inner, _ := v.([]byte)
			if !rootSigned[string(inner)] {
				t.Fatalf("accepted a %s statement the root never signed: %x", kind, inner)
			}
			var s statement
			if err := sp.UnmarshalStrict(inner, &s); err != nil {
				t.Fatal(err)
			}
			if s.Network != trustFuzzNet || s.Kind != kind || !ed25519.Verify(rootPub, fuzzStatementMessage(trustFuzzNet, kind, s.Body), s.Sig) {
				t.Fatalf("accepted a %s statement of kind %q for network %v", kind, s.Kind, s.Network)
			}
		}
		ch := n.observe(&e)
		switch x := st.(type) {
		case Cert:
			rootStatement(stmtCert)
			if field != stmtCert || e.Record != fuzzMemberRecord(x.Device) {
				t.Fatalf("a certificate for %s accepted at %s/%q", x.Device.Short(), e.Record.Short(), field)
			}
			if _, ok := rolePerms[x.Role]; !ok {
				t.Fatalf("a certificate with role %q accepted", x.Role)
			}
			if got, ok := n.trust.cert(x.Device); !ok || !sameCert(got, x) || !ch.certs {
				t.Fatalf("observing a certificate: trust holds %+v (%v), change %+v", got, ok, ch)
			}
		case Revocation:
			rootStatement(stmtRevoked)
			if field != stmtRevoked || e.Record != fuzzMemberRecord(x.Device) {
				t.Fatalf("a revocation of %s accepted at %s/%q", x.Device.Short(), e.Record.Short(), field)
			}
			if got, ok := n.trust.revocation(x.Device); !ok || got != x || len(ch.revoked) != 1 {
				t.Fatalf("observing a revocation: trust holds %+v (%v), change %+v", got, ok, ch)
			}
		case KeyEpoch:
			rootStatement(stmtEpoch)
			if field != "epoch/"+strconv.FormatUint(uint64(x.Epoch), 10) || e.Record != fuzzGroupRecord(x.Group) || len(x.Public) != 32 {
				t.Fatalf("key epoch %s/%d accepted at %s/%q", x.Group, x.Epoch, e.Record.Short(), field)
			}
			if got, ok := n.trust.epoch(x.Group, x.Epoch); !ok || !reflect.DeepEqual(got, x) || !ch.epochs {
				t.Fatalf("observing a key epoch: trust holds %+v (%v)", got, ok)
			}
		case wrapStmt:
			if field != "wrap/"+strconv.FormatUint(uint64(x.epoch), 10)+"/"+strings.TrimPrefix(x.device.String(), "dev:") {
				t.Fatalf("a wrap for %s epoch %d accepted at field %q", x.device.Short(), x.epoch, field)
			}
			v, err := sp.DecodeValue(value)
			if b, ok := v.([]byte); err != nil || !ok || !bytes.Equal(b, x.box) {
				t.Fatalf("a wrap's box is not its value's bytes")
			}
			// Wraps of the groups every node knows are kept; others wait
			// for their group's epoch.
			for _, g := range []string{NetworkGroup, ShelterAudience} {
				if e.Record == fuzzGroupRecord(g) {
					if got, ok := n.trust.wrap(g, x.epoch, x.device); !ok || !slices.ContainsFunc(got, func(b []byte) bool { return bytes.Equal(b, x.box) }) {
						t.Fatalf("observing a %s wrap: trust holds %x (%v)", g, got, ok)
					}
				}
			}
		default:
			t.Fatalf("checkMembersEntry accepted %q as a %T", field, st)
		}
	})
}

// sameCert compares what a certificate states (not what the trust state
// caches alongside it).
func sameCert(a, b Cert) bool {
	return a.Device == b.Device && a.Name == b.Name && a.Role == b.Role && a.Issued == b.Issued &&
		slices.Equal(a.Areas, b.Areas) && slices.Equal(a.Audiences, b.Audiences)
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
