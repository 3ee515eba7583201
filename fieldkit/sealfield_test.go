package fieldkit

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// Fixed keys and values, so that a sealed value made once (the goldens
// below) opens in every run and in every fuzz worker process: SealField and
// WrapKey draw fresh randomness, so a value made at run time would differ
// between the fuzz coordinator and its workers.

// sfAudienceKey is a fixed audience epoch key.
func sfAudienceKey(t testing.TB) *ecdh.PrivateKey {
	t.Helper()
	s := sha256.Sum256([]byte("floe sealfield test audience key"))
	k, err := ecdh.X25519().NewPrivateKey(s[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sfDeviceKey is a fixed device key.
func sfDeviceKey() ed25519.PrivateKey {
	s := sha256.Sum256([]byte("floe sealfield test device key"))
	return ed25519.NewKeyFromSeed(s[:])
}

// sfSecret is the fixed secret wrapped in goldenWrap.
func sfSecret() []byte {
	s := sha256.Sum256([]byte("floe sealfield test secret"))
	return s[:]
}

func sfAD() FieldAD {
	id, err := sp.ParseRecordID("4b616d617473696171747574e2809331")
	if err != nil {
		panic(err)
	}
	return FieldAD{Collection: "directory", Record: id, Field: "location", Audience: "shelter", Epoch: 3}
}

const (
	goldenPlain = "12 Hidden Road, Arviat"
	goldenLabel = "floe test shelter 3"
)

// goldenSealed is SealField(sfAudienceKey's public key, sfAD(),
// goldenPlain), made once. It pins the sealed-field format: if it stops
// opening, sealed values already stored on laptops stop opening too.
var goldenSealed = mustHex(
	"465346310000000303465fd5cada9eea89a84517b1bb409202ad78234a0c945ecb6464310ba23a4fae3d9ede8b31279e" +
		"ba2134349904080de3915fe73bf3cc985c90a154c7466b7422c7c2d349e91299bfdaaf0dd130c4a1f49f6121b60906de" +
		"39b6f79db1cdd2a5dcab801bba77493640869335f0dca23d5dd973d770bc2190c3cd524af0193742c833037d5b967f84" +
		"9336c9a5933923c143bcf0b3516f7bf864797dd751af10facff867f1017c8bdb6036a5c21875c87830c79305859828c9" +
		"62e7fdfdfdfdcb8acef7708036224808b04346ebfc55107f0a03049bd0f3362874b8454a011e3b72a1a71dbcfc929f01" +
		"4ade365c808d98676ba46003f2dff7170bd8cf8e5a571e137a80905f312efcbaf8942183472292b641eeabb3d73ad41c" +
		"4aae51edb54b55016d85eb9c3fe7f1ceea233768904b60c57273b1f2307e145190247e85ae552dbac7a317925f31e869" +
		"a01230dae04a77c0e92a90d15dfe552919b28f76b1b75ea5f0573055d957ec3fed085fca8b47fcd5cda4b5325adc74c1" +
		"e4453210e54c0f3ffc73d039e345572167c71b7a19a975e8b292159ced6ca38515182e969cea92d8e06be42d6aedfa72" +
		"29825469f38d817df64fe09e86c5b33db6ce13bb02b31cd588f3bffe8b649cd739765323cce266994fe23b28c29802f1" +
		"c1011c9ab04190cdfebb3779a36f79e55653c0f1aa646824978b423171933ca7aa250db34f4d2bdcb2223d5fbc924225" +
		"6b4fafb489ec112a783591002380885ff4df8d36837d26b0a4d42d1d604507468d65b5461284af7e7ce491b3f8a906f3" +
		"fdc59d07ce6e1070d391012da61bf270e97fd3421c00fcfd6106cfa884e54b868be21bfd0bcce3e9cd32d11d991b9d62" +
		"04ea332f5381faab0147a581343bcbc974eb8689819d7c2c7f383307290ed1a98744d7169aad8a999f199db44abc8a04" +
		"80c02a405e234387382ee36fb4d2a99c6782193ba996164b5c0d830a80230792cbd617cb44cf693e96ed44b060521154" +
		"151a64dbfae7f364cb106294ed9e422a2d592fc3aa7e8f11d6ebf7741825f3e8185fe5b4053446a6da1e9788e0ee0756" +
		"9b56312b4689f79c1eb5f86ba91835f79a4a5e6f94c1868e42f8006e9092d47c7cf4db1d197b9da257a118be579797a8" +
		"0454b1e6f48a22ef9d1bde118e95ef549d5288aa150e1108781d7c2e613484391558673abfc224b2d4a0f06b299099cc" +
		"baee00974499cac55bf07eaaae4188f795c009c3017e1c49f4dcfac36a318bb557416626a62f0757b06ed177d288f05d" +
		"cb5bad0e9d1a8e79da09aaf26f062102dc31f407ab81508742643ba1173f9d25c1841a15dd97b967759d855e0ac28d07" +
		"5cf935c66b6057554e6cf19df9244e1daf47ef4823338688e9bde989c9c1faaf3a3a925a9eee49272698687dbd6c340d" +
		"ba82c786e740f7d12e4f71e04f7d220e78029298277c719a0041534835ac472c0d65113925dfe745a04ad6b5463adda6" +
		"8ce9a092c90dc8121815476b8fd4e08e9adb5d88a67dac17439413905142cc0386cf4605e9d6872a1927fa7eba7024ee")

// goldenWrap is WrapKey(sfDeviceKey's device, goldenLabel, sfSecret()),
// made once.
var goldenWrap = mustHex("fdcb3a87c37a5bd17afc279f6b75aff2bce9da98570308f274f3c65c298c384b97550c0af2f50d9a756a2748f522dea1d82ed7fa6ad2c42533f015b883b594fa979e9d4779a23d42888f0f1d4a16cc1986b396442992aa5823f5c58e8d82ef389ced000a53328e59")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func xorAt(b []byte, i int, mask byte) []byte {
	b = bytes.Clone(b)
	b[i] ^= mask
	return b
}

func TestSealedFieldGoldenOpens(t *testing.T) {
	if len(goldenSealed) != SealedLen {
		t.Fatalf("golden is %d bytes, SealedLen is %d", len(goldenSealed), SealedLen)
	}
	got, err := OpenField(sfAudienceKey(t), sfAD(), goldenSealed)
	if err != nil || string(got) != goldenPlain {
		t.Fatalf("OpenField(golden) = %q, %v; want %q", got, err, goldenPlain)
	}
	if ep, err := SealedEpoch(goldenSealed); err != nil || ep != sfAD().Epoch {
		t.Fatalf("SealedEpoch(golden) = %d, %v", ep, err)
	}
	if len(goldenWrap) != WrappedLen {
		t.Fatalf("golden wrap is %d bytes, WrappedLen is %d", len(goldenWrap), WrappedLen)
	}
	s, err := UnwrapKey(sfDeviceKey(), goldenLabel, goldenWrap)
	if err != nil || !bytes.Equal(s, sfSecret()) {
		t.Fatalf("UnwrapKey(golden) = %x, %v", s, err)
	}
}

// Every sealed value is SealedLen bytes, whatever the length of what it
// holds, and opens back to exactly that.
func TestSealFieldRoundTripOneSize(t *testing.T) {
	priv, err := NewAudienceKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.PublicKey().Bytes()
	ad := FieldAD{Collection: "directory", Record: sp.NewRecordID(), Field: "location", Audience: "shelter", Epoch: 1}
	for _, n := range []int{0, 1, 2, 22, 255, 256, 1000, MaxSealedValue - 1, MaxSealedValue} {
		plain := make([]byte, n)
		for i := range plain {
			plain[i] = 'a' + byte(i%26)
		}
		sealed, err := SealField(pub, ad, plain)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if len(sealed) != SealedLen {
			t.Fatalf("%d bytes sealed to %d bytes; every sealed value must be %d", n, len(sealed), SealedLen)
		}
		if ep, err := SealedEpoch(sealed); err != nil || ep != ad.Epoch {
			t.Fatalf("%d bytes: SealedEpoch = %d, %v", n, ep, err)
		}
		got, err := OpenField(priv, ad, sealed)
		if err != nil {
			t.Fatalf("%d bytes: OpenField: %v", n, err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: opened %d bytes that differ", n, len(got))
		}
		// Sealing again gives another ciphertext (fresh ephemeral key and
		// nonce): equal locations are not seen to be equal.
		again, err := SealField(pub, ad, plain)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(again, sealed) {
			t.Fatalf("%d bytes: two seals of one value are identical", n)
		}
	}
}

func TestSealFieldRefuses(t *testing.T) {
	priv, err := NewAudienceKey()
	if err != nil {
		t.Fatal(err)
	}
	ad := sfAD()
	if b, err := SealField(priv.PublicKey().Bytes(), ad, make([]byte, MaxSealedValue+1)); err == nil {
		t.Fatalf("a value of MaxSealedValue+1 bytes was sealed (%d bytes)", len(b))
	}
	for _, pub := range [][]byte{nil, make([]byte, 31), make([]byte, 33)} {
		if _, err := SealField(pub, ad, []byte("x")); err == nil {
			t.Errorf("sealed to a %d-byte audience key", len(pub))
		}
	}
	// A low-order audience key would make the shared secret known to
	// everyone; it must be refused, not used.
	if _, err := SealField(make([]byte, 32), ad, []byte("x")); err == nil {
		t.Error("sealed to the all-zero (low-order) X25519 key")
	}
}

// A sealed value opens only for the record, field, audience and epoch it
// was sealed for, and only with its epoch's key.
func TestOpenFieldBinding(t *testing.T) {
	priv := sfAudienceKey(t)
	ad := sfAD()
	sealed := goldenSealed
	other, err := NewAudienceKey()
	if err != nil {
		t.Fatal(err)
	}
	wrongAD := map[string]func(a *FieldAD){
		"another record":     func(a *FieldAD) { a.Record = sp.NewRecordID() },
		"another field":      func(a *FieldAD) { a.Field = "name/en" },
		"another audience":   func(a *FieldAD) { a.Audience = "outreach" },
		"another collection": func(a *FieldAD) { a.Collection = "outreach" },
		"another epoch":      func(a *FieldAD) { a.Epoch = 4 },
		"epoch zero":         func(a *FieldAD) { a.Epoch = 0 },
		// Lengths are part of the binding: moving bytes between the
		// strings changes it.
		"bytes moved between strings": func(a *FieldAD) { a.Collection, a.Field = "directoryl", "ocation" },
	}
	for name, edit := range wrongAD {
		a := ad
		edit(&a)
		if got, err := OpenField(priv, a, sealed); !errors.Is(err, ErrSealOpen) {
			t.Errorf("%s: OpenField = %q, %v; want ErrSealOpen", name, got, err)
		}
	}
	if got, err := OpenField(other, ad, sealed); !errors.Is(err, ErrSealOpen) {
		t.Errorf("another audience key: OpenField = %q, %v; want ErrSealOpen", got, err)
	}
	// Relabelling the epoch in the bytes, and asking for that epoch, does
	// not open: the epoch is bound by the additional data too.
	for _, ep := range []uint32{0, 2, 4, 1 << 31} {
		b := bytes.Clone(sealed)
		binary.BigEndian.PutUint32(b[4:8], ep)
		a := ad
		a.Epoch = ep
		if got, err := OpenField(priv, a, b); !errors.Is(err, ErrSealOpen) {
			t.Errorf("relabelled as epoch %d: OpenField = %q, %v; want ErrSealOpen", ep, got, err)
		}
	}
}

// Any one damaged byte makes a sealed value refuse to open.
func TestOpenFieldDamage(t *testing.T) {
	priv := sfAudienceKey(t)
	ad := sfAD()
	for i := range goldenSealed {
		for _, mask := range []byte{0x01, 0x80} {
			b := xorAt(goldenSealed, i, mask)
			got, err := OpenField(priv, ad, b)
			want := ErrSealOpen
			if i < 4 {
				want = ErrNotSealed // the magic
			}
			if !errors.Is(err, want) {
				t.Fatalf("byte %d ^ %#x: OpenField = %q, %v; want %v", i, mask, got, err, want)
			}
		}
	}
	for _, b := range [][]byte{nil, {}, goldenSealed[:4], goldenSealed[:SealedLen-1], append(bytes.Clone(goldenSealed), 0)} {
		if got, err := OpenField(priv, ad, b); !errors.Is(err, ErrNotSealed) {
			t.Errorf("%d bytes: OpenField = %q, %v; want ErrNotSealed", len(b), got, err)
		}
	}
}

// The sealed bytes show nothing of the value: no run of 8 bytes of it.
func TestSealedFieldHidesPlaintext(t *testing.T) {
	priv, err := NewAudienceKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(strings.Repeat("CANARY 12 Hidden Road, Arviat NU X0C 0E0; ", 20))
	sealed, err := SealField(priv.PublicKey().Bytes(), sfAD(), plain)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+8 <= len(plain); i++ {
		if bytes.Contains(sealed, plain[i:i+8]) {
			t.Fatalf("the sealed value contains %q of its plaintext", plain[i:i+8])
		}
	}
}

func TestSealedEpoch(t *testing.T) {
	shaped := make([]byte, SealedLen)
	copy(shaped, "FSF1")
	binary.BigEndian.PutUint32(shaped[4:], 77)
	if ep, err := SealedEpoch(shaped); err != nil || ep != 77 {
		t.Fatalf("SealedEpoch(well-shaped) = %d, %v; want 77", ep, err)
	}
	// Well-shaped is all SealedEpoch checks; it does not open.
	if _, err := OpenField(sfAudienceKey(t), FieldAD{Epoch: 77}, shaped); !errors.Is(err, ErrSealOpen) {
		t.Fatalf("OpenField(zeros) = %v; want ErrSealOpen", err)
	}
	bad := map[string][]byte{
		"nil":          nil,
		"empty":        {},
		"magic only":   []byte("FSF1"),
		"one short":    shaped[:SealedLen-1],
		"one long":     append(bytes.Clone(shaped), 0),
		"double":       append(bytes.Clone(shaped), shaped...),
		"magic FSF2":   append([]byte("FSF2"), shaped[4:]...),
		"magic fsf1":   append([]byte("fsf1"), shaped[4:]...),
		"magic zeroed": append(make([]byte, 4), shaped[4:]...),
		"text":         []byte(strings.Repeat("12 Hidden Road ", SealedLen/15+1))[:SealedLen],
	}
	for name, b := range bad {
		if ep, err := SealedEpoch(b); !errors.Is(err, ErrNotSealed) || ep != 0 {
			t.Errorf("%s: SealedEpoch = %d, %v; want ErrNotSealed", name, ep, err)
		}
	}
}

func TestWrapKeyRoundTrip(t *testing.T) {
	_, mine, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	rand.Read(secret)
	const label = "floe net:x shelter 2"
	w, err := WrapKey(deviceOf(mine), label, secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != WrappedLen {
		t.Fatalf("a wrap is %d bytes, want WrappedLen %d", len(w), WrappedLen)
	}
	if bytes.Contains(w, secret[:8]) || bytes.Contains(w, secret[24:]) {
		t.Fatal("the wrap shows the secret")
	}
	got, err := UnwrapKey(mine, label, w)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("UnwrapKey = %x, %v; want %x", got, err, secret)
	}
	if w2, err := WrapKey(deviceOf(mine), label, secret); err != nil || bytes.Equal(w2, w) {
		t.Fatalf("wrapping twice gave the same bytes (%v)", err)
	}
	for _, l := range []string{"", "floe net:x shelter 3", "floe net:x network 2", label + " ", strings.ToUpper(label)} {
		if got, err := UnwrapKey(mine, l, w); !errors.Is(err, ErrSealOpen) {
			t.Errorf("label %q: UnwrapKey = %x, %v; want ErrSealOpen", l, got, err)
		}
	}
	if got, err := UnwrapKey(other, label, w); !errors.Is(err, ErrSealOpen) {
		t.Errorf("another device: UnwrapKey = %x, %v; want ErrSealOpen", got, err)
	}
	for i := range w {
		for _, mask := range []byte{0x01, 0x80} {
			if got, err := UnwrapKey(mine, label, xorAt(w, i, mask)); !errors.Is(err, ErrSealOpen) {
				t.Fatalf("byte %d ^ %#x: UnwrapKey = %x, %v; want ErrSealOpen", i, mask, got, err)
			}
		}
	}
	for _, b := range [][]byte{nil, w[:WrappedLen-1], append(bytes.Clone(w), 0)} {
		if got, err := UnwrapKey(mine, label, b); !errors.Is(err, ErrSealOpen) {
			t.Errorf("%d bytes: UnwrapKey = %x, %v; want ErrSealOpen", len(b), got, err)
		}
	}
}

func TestWrapKeyRefuses(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := WrapKey(deviceOf(k), "l", make([]byte, n)); err == nil {
			t.Errorf("wrapped a %d-byte secret", n)
		}
	}
	// Device IDs that are not keys: y >= p (all ones), and y = 1 (no
	// X25519 equivalent). The zero ID maps to u = 1, a low-order point:
	// a wrap to it would be open to anyone, so it must fail too.
	var ones, yOne, zero sp.DeviceID
	for i := range ones {
		ones[i] = 0xff
	}
	ones[31] = 0x7f
	yOne[0] = 1
	for name, d := range map[string]sp.DeviceID{"y >= p": ones, "y = 1": yOne, "zero (low order)": zero} {
		if w, err := WrapKey(d, "l", make([]byte, 32)); err == nil {
			t.Errorf("%s: wrapped to a device ID that is not a usable key (%x)", name, w)
		}
	}
}

// FuzzOpenField opens arbitrary bytes, under a fixed audience key, as the
// sealed value of a field and epoch the fuzzer picks. Each input is tried
// twice: as it is, and spliced into the golden value (golden[p:e]
// replaced by the bytes), which reaches well-shaped values with damage
// anywhere while keeping the fuzzer's inputs short (its minimizer is
// quadratic in input length, and a 1104-byte input stalls it for the
// whole run). Nothing panics, every refusal is ErrNotSealed or
// ErrSealOpen, SealedEpoch accepts exactly the well-shaped values, and a
// value opens only if it is the golden value made by SealField with that
// key, opened under the record, field, audience and epoch it was made
// for: no other bytes ever yield a plaintext.
func FuzzOpenField(f *testing.F) {
	ad := sfAD()
	end := uint16(SealedLen)
	f.Add([]byte{}, uint16(0), uint16(0), ad.Field, ad.Epoch) // the golden value itself
	f.Add([]byte{}, uint16(0), uint16(0), "name/en", ad.Epoch)
	f.Add([]byte{}, uint16(0), uint16(0), ad.Field, ad.Epoch+1)
	for _, i := range []uint16{0, 4, 7, 8, 39, 40, 63, 64, 65, 600, end - 17, end - 1} {
		f.Add([]byte{goldenSealed[i] ^ 1}, i, i+1, ad.Field, ad.Epoch) // one flipped bit
	}
	var epb [4]byte
	binary.BigEndian.PutUint32(epb[:], ad.Epoch+1)
	f.Add(epb[:], uint16(4), uint16(8), ad.Field, ad.Epoch+1) // relabelled epoch
	f.Add([]byte{}, end-1, end, ad.Field, ad.Epoch)           // one short
	f.Add([]byte{0}, end, end, ad.Field, ad.Epoch)            // one long
	f.Add(make([]byte, 64), uint16(40), uint16(104), ad.Field, ad.Epoch)
	f.Add([]byte("FSF1"), uint16(0), end, ad.Field, ad.Epoch)
	f.Add([]byte("FSF1\x00\x00\x00\x03"), end, end, ad.Field, ad.Epoch)

	priv := sfAudienceKey(f)
	check := func(t *testing.T, b []byte, a FieldAD) {
		ep, err := SealedEpoch(b)
		shapedOK := len(b) == SealedLen && string(b[:4]) == "FSF1"
		if (err == nil) != shapedOK {
			t.Fatalf("SealedEpoch(%d bytes) = %v; well-shaped: %v", len(b), err, shapedOK)
		}
		if err == nil && ep != binary.BigEndian.Uint32(b[4:8]) {
			t.Fatalf("SealedEpoch = %d, the bytes say %d", ep, binary.BigEndian.Uint32(b[4:8]))
		}
		plain, err := OpenField(priv, a, b)
		if err != nil {
			if !errors.Is(err, ErrNotSealed) && !errors.Is(err, ErrSealOpen) {
				t.Fatalf("OpenField refused with %v, neither ErrNotSealed nor ErrSealOpen", err)
			}
			if plain != nil {
				t.Fatalf("OpenField returned %q with an error", plain)
			}
			return
		}
		if !bytes.Equal(b, goldenSealed) || a != ad {
			t.Fatalf("OpenField opened bytes SealField never made for %+v: %q", a, plain)
		}
		if string(plain) != goldenPlain {
			t.Fatalf("the golden value opened to %q", plain)
		}
	}
	f.Fuzz(func(t *testing.T, patch []byte, p, e uint16, field string, epoch uint32) {
		// Short inputs keep the fuzzer's minimizer (quadratic in input
		// length) from stalling; the splice reaches full-size values.
		patch, field = clip(patch, 128), string(clip([]byte(field), 2*sp.MaxFieldLen))
		a := ad
		a.Field, a.Epoch = field, epoch
		check(t, patch, a)
		start := int(p) % (SealedLen + 1)
		stop := max(start, int(e)%(SealedLen+1))
		spliced := append(append(bytes.Clone(goldenSealed[:start]), patch...), goldenSealed[stop:]...)
		check(t, spliced, a)
	})
}

// FuzzUnwrapKey unwraps arbitrary bytes under an arbitrary label with a
// fixed device key. Nothing panics, every refusal is ErrSealOpen, and only
// the golden wrap, under its own label, yields a secret: the one wrapped.
func FuzzUnwrapKey(f *testing.F) {
	f.Add(goldenWrap, goldenLabel)
	f.Add(goldenWrap, "floe test shelter 4")
	f.Add(goldenWrap, "")
	for _, i := range []int{0, 31, 32, 55, 56, 87, 88, WrappedLen - 1} {
		f.Add(xorAt(goldenWrap, i, 0x01), goldenLabel)
	}
	f.Add(goldenWrap[:WrappedLen-1], goldenLabel)
	f.Add(append(bytes.Clone(goldenWrap), 0), goldenLabel)
	f.Add(make([]byte, WrappedLen), goldenLabel)
	f.Add([]byte{}, "")

	key := sfDeviceKey()
	secret := sfSecret()
	f.Fuzz(func(t *testing.T, b []byte, label string) {
		// Every wrong length is refused alike; clipping keeps the
		// minimizer from stalling on a long input.
		b, label = clip(b, WrappedLen+8), string(clip([]byte(label), 128))
		got, err := UnwrapKey(key, label, b)
		if err != nil {
			if !errors.Is(err, ErrSealOpen) {
				t.Fatalf("UnwrapKey refused with %v, not ErrSealOpen", err)
			}
			if got != nil {
				t.Fatalf("UnwrapKey returned %x with an error", got)
			}
			return
		}
		if !bytes.Equal(b, goldenWrap) || label != goldenLabel {
			t.Fatalf("UnwrapKey opened bytes WrapKey never made (label %q): %x", label, got)
		}
		if !bytes.Equal(got, secret) {
			t.Fatalf("the golden wrap opened to %x", got)
		}
	})
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
