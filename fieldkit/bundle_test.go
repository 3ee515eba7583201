package fieldkit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/floe-north/floe/node/linkemu"
	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

// bundleFixture is a sender's device, the entries it exports and its
// acknowledgement summary.
type bundleFixture struct {
	dev     *storetest.Device
	header  sp.BundleHeader
	encoded [][]byte
	ack     sp.SetSummary
}

var (
	fixtureOnce sync.Once
	fixture     *bundleFixture
)

// newFixture writes n real, signed entries on one device: mostly short
// values, some tallies, and every 97th value close to the value limit so
// that frames fill unevenly.
func newFixture(n int) *bundleFixture {
	d := storetest.NewDevice(1)
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]sp.RecordID, 150)
	for i := range ids {
		ids[i][0], ids[i][1], ids[i][15] = 0xb0, byte(i), 1
	}
	fields := []string{"name/en", "name/fr", "name/iu", "phone", "community", "notes"}
	f := &bundleFixture{dev: d}
	for i := range n {
		d.Tick(time.Duration(1+rng.IntN(900)) * time.Millisecond)
		id := ids[rng.IntN(len(ids))]
		var e sp.Entry
		switch {
		case i%31 == 0:
			e = d.Count("outreach", id, "tally/contacts", uint64(i))
		case i%97 == 0:
			e = d.Set("directory", id, "notes", strings.Repeat("Sample Hamlet Youth Line (fictional) ", 400))
		default:
			e = d.Set("directory", id, fields[rng.IntN(len(fields))], fmt.Sprintf("Sample service %d (fictional), 555-01%02d", i, i%100))
		}
		f.encoded = append(f.encoded, e.Encode())
	}
	var keys []sp.SyncKey
	err := d.View.ScanSyncOrder(context.Background(), nil, func(k sp.SyncKey, _ sp.Entry) error {
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		panic(err)
	}
	sum, err := d.View.Summary(context.Background())
	if err != nil {
		panic(err)
	}
	f.ack = sp.Summarize(keys, sum.Digest, d.Clock.Now(d.Now), sp.Salt{1, 2, 3})
	f.header = sp.BundleHeader{
		Network: sp.NetworkID{0xf1, 0x0e},
		From:    d.ID,
		To:      storetest.NewDevice(2).ID,
		Created: d.Clock.Now(d.Now),
		ID:      [16]byte{7, 7, 7},
	}
	return f
}

func getFixture() *bundleFixture {
	fixtureOnce.Do(func() { fixture = newFixture(2000) })
	return fixture
}

// write writes the fixture's bundle to w: the first half of the entries,
// the acknowledgement, the rest of the entries in small calls, the trailer.
func (f *bundleFixture) write(w io.Writer) error {
	bw, err := NewBundleWriter(w, f.header, f.dev.Key)
	if err != nil {
		return err
	}
	half := len(f.encoded) / 2
	if err := bw.Entries(f.encoded[:half]); err != nil {
		return err
	}
	if err := bw.Ack(&f.ack); err != nil {
		return err
	}
	for i := half; i < len(f.encoded); i += 7 {
		if err := bw.Entries(f.encoded[i:min(i+7, len(f.encoded))]); err != nil {
			return err
		}
	}
	return bw.Close()
}

func (f *bundleFixture) bundle(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// frameInfo is one frame of a bundle as an independent parser sees it.
type frameInfo struct {
	off, end int
	kind     sp.MsgKind
	entries  [][]byte
}

func layout(t testing.TB, b []byte) []frameInfo {
	t.Helper()
	var fs []frameInfo
	for off := 0; off < len(b); {
		p, n, err := sp.NextFrame(b[off:])
		if err != nil {
			t.Fatalf("frame at %d: %v", off, err)
		}
		kind, body, err := sp.DecodeMsg(p)
		if err != nil {
			t.Fatal(err)
		}
		fi := frameInfo{off: off, end: off + n, kind: kind}
		if kind == sp.MsgEntries {
			var m sp.Entries
			if err := sp.DecodeBody(kind, body, &m); err != nil {
				t.Fatal(err)
			}
			fi.entries = m.List
		}
		fs = append(fs, fi)
		off += n
	}
	return fs
}

// readResult is what ReadBundle gave, with every applied entry re-encoded:
// tests compare them byte for byte with the entries written, which proves
// that no damaged entry was handed to apply.
type readResult struct {
	rep     BundleReport
	applied [][]byte
	err     error
}

func readBundle(t testing.TB, r io.Reader) readResult {
	t.Helper()
	var res readResult
	res.rep, res.err = ReadBundle(r, nil, func(es []sp.Entry) error {
		for i := range es {
			res.applied = append(res.applied, es[i].Encode())
		}
		return nil
	})
	if res.rep.Entries != len(res.applied) {
		t.Errorf("report counts %d entries, apply was handed %d", res.rep.Entries, len(res.applied))
	}
	return res
}

func sameEncodings(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

func ackBytes(s *sp.SetSummary) []byte {
	if s == nil {
		return nil
	}
	return sp.EncodeSummary(s)
}

func TestBundleRoundTrip(t *testing.T) {
	f := getFixture()
	b := f.bundle(t)
	fs := layout(t, b)

	if fs[0].kind != sp.MsgBundleHeader || fs[len(fs)-1].kind != sp.MsgBundleTrailer {
		t.Fatalf("bundle starts with %s and ends with %s", fs[0].kind, fs[len(fs)-1].kind)
	}
	var inFrames [][]byte
	for i, fi := range fs {
		if fi.end-fi.off > sp.MaxFrameLen+sp.FrameOverhead {
			t.Errorf("frame %d is %d bytes", i, fi.end-fi.off)
		}
		inFrames = append(inFrames, fi.entries...)
	}
	if !sameEncodings(inFrames, f.encoded) {
		t.Fatal("the bundle's entries frames do not hold the entries written, in order")
	}

	res := readBundle(t, bytes.NewReader(b))
	if res.err != nil {
		t.Fatal(res.err)
	}
	r := res.rep
	if !r.HeaderOK || r.Header != f.header {
		t.Errorf("header = %+v (ok %v), want %+v", r.Header, r.HeaderOK, f.header)
	}
	if !sameEncodings(res.applied, f.encoded) {
		t.Errorf("applied %d entries, want the %d written, in order", len(res.applied), len(f.encoded))
	}
	for _, b := range res.applied {
		e, err := sp.DecodeEntry(b)
		if err == nil {
			err = e.Verify()
		}
		if err != nil {
			t.Fatalf("an applied entry does not verify: %v", err)
		}
	}
	if !r.Signed || r.Truncated || r.Damaged != 0 || r.BadEntries != 0 || r.Unknown != 0 || r.Trailing {
		t.Errorf("report %+v, want signed and whole", r)
	}
	if r.Frames != len(fs) {
		t.Errorf("report counts %d frames, the bundle has %d", r.Frames, len(fs))
	}
	if !bytes.Equal(ackBytes(r.Ack), ackBytes(&f.ack)) {
		t.Error("the acknowledgement read differs from the one written")
	}
	if p := r.Problems(); p != "" {
		t.Errorf("Problems() = %q for a whole bundle", p)
	}
}

// The trailer is checked here against the format's definition, not the
// writer's code: a signature over the domain and the SHA-256 of every byte
// before the trailer frame, and the count of those frames.
func TestBundleTrailerFollowsTheFormat(t *testing.T) {
	f := getFixture()
	b := f.bundle(t)
	fs := layout(t, b)
	last := fs[len(fs)-1]
	p, _, _ := sp.NextFrame(b[last.off:])
	_, body, _ := sp.DecodeMsg(p)
	var tr sp.BundleTrailer
	if err := sp.DecodeBody(sp.MsgBundleTrailer, body, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Frames != uint64(len(fs)-1) {
		t.Errorf("trailer counts %d frames, %d come before it", tr.Frames, len(fs)-1)
	}
	sum := sha256.Sum256(b[:last.off])
	msg := append([]byte("floe/bundle/v1\x00"), sum[:]...)
	if !ed25519.Verify(f.dev.ID.PublicKey(), msg, tr.Sig) {
		t.Error("the trailer signature does not verify over the domain and the SHA-256 of the bytes before it")
	}

	var buf bytes.Buffer
	bw, err := NewBundleWriter(&buf, f.header, f.dev.Key)
	if err != nil {
		t.Fatal(err)
	}
	_ = bw.Entries(f.encoded[:10])
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	frames, entries, n := bw.Stats()
	if frames != 3 || entries != 10 || n != int64(buf.Len()) {
		t.Errorf("Stats() = %d frames, %d entries, %d bytes; want 3, 10, %d", frames, entries, n, buf.Len())
	}
	if err := bw.Entries(f.encoded[:1]); !errors.Is(err, ErrBundleWriter) {
		t.Errorf("Entries after Close: %v", err)
	}
}

// Entries frames are as full as the limits allow.
func TestBundleEntriesPacking(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name    string
		entries [][]byte
	}{
		{"tiny entries hit MaxItems", fakeEntries(rng, 3000, 5, 20)},
		{"mixed sizes", fakeEntries(rng, 800, 10, 3000)},
		{"entries at the limit", fakeEntries(rng, 12, sp.MaxEntryLen, sp.MaxEntryLen)},
		{"head sizes change at 24 and 256 bytes", fakeEntries(rng, 2000, 20, 300)},
	}
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	var h sp.BundleHeader
	copy(h.From[:], key.Public().(ed25519.PublicKey))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			bw, err := NewBundleWriter(&buf, h, key)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(tt.entries); i += 37 {
				if err := bw.Entries(tt.entries[i:min(i+37, len(tt.entries))]); err != nil {
					t.Fatal(err)
				}
			}
			if err := bw.Close(); err != nil {
				t.Fatal(err)
			}
			fs := layout(t, buf.Bytes())
			var all [][]byte
			for i, fi := range fs {
				if fi.kind != sp.MsgEntries {
					continue
				}
				all = append(all, fi.entries...)
				payload := fi.end - fi.off - sp.FrameOverhead
				// The prediction leaves room for a 9-byte sequence number.
				if pred := entriesPayloadLen(len(fi.entries), bodyLen(fi.entries)); payload > pred || payload < pred-8 {
					t.Fatalf("frame %d: payload %d bytes, predicted at most %d", i, payload, pred)
				}
				if len(fi.entries) > sp.MaxItems || payload > sp.MaxFrameLen {
					t.Fatalf("frame %d: %d entries in %d bytes, over the limits", i, len(fi.entries), payload)
				}
				if next := fs[i+1]; next.kind == sp.MsgEntries {
					more := append(slices.Clip(fi.entries), next.entries[0])
					if len(more) <= sp.MaxItems && entriesPayloadLen(len(more), bodyLen(more)) <= sp.MaxFrameLen {
						t.Fatalf("frame %d has room for the next entry", i)
					}
				}
			}
			if !sameEncodings(all, tt.entries) {
				t.Fatal("entries did not come out as they went in")
			}
			// Fake entries do not decode: each is counted and none applied.
			res := readBundle(t, bytes.NewReader(buf.Bytes()))
			if res.err != nil || res.rep.BadEntries != len(tt.entries) || len(res.applied) != 0 || !res.rep.Signed {
				t.Fatalf("read: err %v, report %+v", res.err, res.rep)
			}
			if !strings.Contains(res.rep.Problems(), "may be forged") {
				t.Errorf("Problems() = %q", res.rep.Problems())
			}
		})
	}

	var buf bytes.Buffer
	bw, _ := NewBundleWriter(&buf, h, key)
	if err := bw.Entries([][]byte{make([]byte, sp.MaxEntryLen+1)}); !errors.Is(err, ErrBundleWriter) {
		t.Errorf("an entry over MaxEntryLen: %v", err)
	}
}

func bodyLen(es [][]byte) int {
	n := 0
	for _, e := range es {
		n += cborHead(len(e)) + len(e)
	}
	return n
}

func fakeEntries(rng *rand.Rand, n, lo, hi int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, lo+rng.IntN(hi-lo+1))
		for j := range out[i] {
			out[i][j] = byte(rng.IntN(256))
		}
	}
	return out
}

// A bundle cut short anywhere applies exactly the entries frames that
// arrived whole, and never trusts its acknowledgement.
func TestBundleTruncated(t *testing.T) {
	f := getFixture()
	full := f.bundle(t)
	fs := layout(t, full)
	trailer := fs[len(fs)-1]

	var cuts []int
	for c := fs[0].end; c < trailer.off; c += 7919 {
		cuts = append(cuts, c)
	}
	for _, fi := range fs[1:] {
		cuts = append(cuts, fi.off, fi.off+1, fi.off+9, fi.end-1)
	}
	// Mid-trailer: each byte of its frame header, then through its payload
	// and signature.
	for c := trailer.off + 2; c < trailer.end; c++ {
		if c < trailer.off+12 || c%7 == 0 || c > trailer.end-3 {
			cuts = append(cuts, c)
		}
	}
	for _, c := range cuts {
		var buf bytes.Buffer
		if err := f.write(linkemu.CutWriter(&buf, int64(c))); !errors.Is(err, linkemu.ErrCut) {
			t.Fatalf("cut at %d: writer returned %v", c, err)
		}
		if buf.Len() != c {
			t.Fatalf("cut at %d: %d bytes written", c, buf.Len())
		}
		var want [][]byte
		frames := 0
		for _, fi := range fs {
			if fi.end <= c {
				want = append(want, fi.entries...)
				frames++
			}
		}
		res := readBundle(t, bytes.NewReader(buf.Bytes()))
		r := res.rep
		if res.err != nil {
			t.Fatalf("cut at %d: %v", c, res.err)
		}
		if !sameEncodings(res.applied, want) {
			t.Fatalf("cut at %d: applied %d entries, want the %d in whole frames", c, len(res.applied), len(want))
		}
		if !r.Truncated || r.Signed || r.Ack != nil || r.Damaged != 0 || r.Frames != frames {
			t.Fatalf("cut at %d: report %+v, want truncated after %d frames, not signed, no ack", c, r, frames)
		}
		if p := r.Problems(); !strings.Contains(p, fmt.Sprintf("cut short after %d frames", frames)) {
			t.Fatalf("cut at %d: Problems() = %q", c, p)
		}
	}
	t.Logf("%d cut points over %d bytes", len(cuts), len(full))

	// Cut inside the header: nothing can be checked, so nothing is applied.
	for _, c := range []int{1, 5, fs[0].end - 1} {
		res := readBundle(t, bytes.NewReader(full[:c]))
		if !errors.Is(res.err, ErrNotBundle) || !strings.Contains(res.err.Error(), "cut short") || len(res.applied) != 0 {
			t.Errorf("cut at %d inside the header: %v", c, res.err)
		}
	}
}

// Flipped bytes lose the frames they hit and nothing else.
func TestBundleDamaged(t *testing.T) {
	f := getFixture()
	full := f.bundle(t)
	fs := layout(t, full)
	trailer := len(fs) - 1
	for seed := int64(1); seed <= 40; seed++ {
		flips := 1 + int(seed%5)
		bad := linkemu.Damage(full, seed, flips)
		hit := make([]bool, len(fs))
		onlyTrailerLength := true
		for i := range bad {
			if bad[i] == full[i] {
				continue
			}
			for j, fi := range fs {
				if i >= fi.off && i < fi.end {
					hit[j] = true
					if j != trailer || i-fi.off < 4 || i-fi.off >= 8 {
						onlyTrailerLength = false
					}
				}
			}
		}
		res := readBundle(t, bytes.NewReader(bad))
		r := res.rep
		if hit[0] {
			if !errors.Is(res.err, ErrNotBundle) && !errors.As(res.err, new(*sp.VersionError)) || len(res.applied) != 0 {
				t.Errorf("seed %d: damaged header gave %v and applied %d", seed, res.err, len(res.applied))
			}
			continue
		}
		if res.err != nil {
			t.Fatalf("seed %d: %v", seed, res.err)
		}
		var want [][]byte
		intact := 0
		for j, fi := range fs {
			if !hit[j] {
				want = append(want, fi.entries...)
				intact++
			}
		}
		if !sameEncodings(res.applied, want) {
			t.Errorf("seed %d: applied %d entries, want the %d in frames not hit", seed, len(res.applied), len(want))
		}
		if r.Frames != intact {
			t.Errorf("seed %d: %d intact frames read, want %d", seed, r.Frames, intact)
		}
		if r.Signed || r.Ack != nil {
			t.Errorf("seed %d: damaged bundle reported signed (%v) or trusted its ack", seed, r.Signed)
		}
		if onlyTrailerLength {
			// A damaged length in the last frame looks just like a cut.
			if r.Damaged+btoi(r.Truncated) < 1 {
				t.Errorf("seed %d: report %+v", seed, r)
			}
		} else if r.Damaged < 1 {
			t.Errorf("seed %d: report %+v, want damage", seed, r)
		}
		if r.Problems() == "" {
			t.Errorf("seed %d: no problems reported", seed)
		}
	}
}

// Damage aimed at particular places.
func TestBundleDamagedAt(t *testing.T) {
	f := getFixture()
	full := f.bundle(t)
	fs := layout(t, full)
	ackAt := slices.IndexFunc(fs, func(fi frameInfo) bool { return fi.kind == sp.MsgAck })
	tr := fs[len(fs)-1]
	entriesExcept := func(skip ...int) int {
		n := 0
		for i, fi := range fs {
			if !slices.Contains(skip, i) {
				n += len(fi.entries)
			}
		}
		return n
	}
	for _, tt := range []struct {
		name      string
		at        []int
		damaged   int
		truncated bool
		entries   int
	}{
		{"the ack frame", []int{fs[ackAt].off + 40}, 1, false, len(f.encoded)},
		{"two frames in a row are one stretch", []int{fs[2].off + 100, fs[3].end - 2}, 1, false, entriesExcept(2, 3)},
		{"two frames apart are two stretches", []int{fs[2].off, fs[4].off + 5}, 2, false, entriesExcept(2, 4)},
		{"a frame's length", []int{fs[5].off + 5}, 1, false, entriesExcept(5)},
		{"a frame's magic", []int{fs[6].off}, 1, false, entriesExcept(6)},
		{"the trailer's magic", []int{tr.off + 1}, 1, false, len(f.encoded)},
		{"the trailer's length looks like a cut", []int{tr.off + 6}, 0, true, len(f.encoded)},
	} {
		bad := bytes.Clone(full)
		for _, i := range tt.at {
			bad[i] ^= 0x21
		}
		res := readBundle(t, bytes.NewReader(bad))
		r := res.rep
		if res.err != nil || r.Damaged != tt.damaged || r.Truncated != tt.truncated || len(res.applied) != tt.entries || r.Signed || r.Ack != nil {
			t.Errorf("%s: err %v, applied %d, report %+v; want %d damaged, truncated %v, %d applied",
				tt.name, res.err, len(res.applied), r, tt.damaged, tt.truncated, tt.entries)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Damage to the trailer alone loses no entries but the acknowledgement.
func TestBundleBadSignature(t *testing.T) {
	f := getFixture()
	full := f.bundle(t)
	fs := layout(t, full)
	tr := fs[len(fs)-1]

	// A byte of the signature flipped: the trailer's CRC fails.
	flipped := bytes.Clone(full)
	flipped[tr.end-4-10] ^= 0x40
	res := readBundle(t, bytes.NewReader(flipped))
	if res.err != nil || len(res.applied) != len(f.encoded) || res.rep.Signed || res.rep.Ack != nil || res.rep.Damaged != 1 || res.rep.Truncated {
		t.Errorf("flipped signature byte: err %v, applied %d, report %+v", res.err, len(res.applied), res.rep)
	}
	if p := res.rep.Problems(); !strings.Contains(p, "acknowledgement was ignored") {
		t.Errorf("Problems() = %q", p)
	}

	// Trailers whose CRC is fine but whose content is wrong.
	p, _, _ := sp.NextFrame(full[tr.off:])
	_, body, _ := sp.DecodeMsg(p)
	var good sp.BundleTrailer
	if err := sp.DecodeBody(sp.MsgBundleTrailer, body, &good); err != nil {
		t.Fatal(err)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	sum := sha256.Sum256(full[:tr.off])
	for _, tt := range []struct {
		name string
		t    sp.BundleTrailer
	}{
		{"signature bit flipped", sp.BundleTrailer{Frames: good.Frames, Sig: flipBit(good.Sig)}},
		{"signed by another key", sp.BundleTrailer{Frames: good.Frames, Sig: ed25519.Sign(other, bundleSigned(sum[:]))}},
		{"wrong frame count", sp.BundleTrailer{Frames: good.Frames + 1, Sig: good.Sig}},
		{"short signature", sp.BundleTrailer{Frames: good.Frames, Sig: good.Sig[:10]}},
	} {
		forged := sp.AppendFrame(bytes.Clone(full[:tr.off]), sp.EncodeMsg(sp.MsgBundleTrailer, tt.t))
		res := readBundle(t, bytes.NewReader(forged))
		r := res.rep
		if res.err != nil || len(res.applied) != len(f.encoded) || r.Signed || r.Ack != nil || r.Damaged != 0 || r.Truncated {
			t.Errorf("%s: err %v, applied %d, report %+v", tt.name, res.err, len(res.applied), r)
		}
		if p := r.Problems(); p != "the signature does not verify: its acknowledgement was ignored" {
			t.Errorf("%s: Problems() = %q", tt.name, p)
		}
	}
}

func flipBit(b []byte) []byte {
	b = bytes.Clone(b)
	b[17] ^= 1
	return b
}

func TestBundleWriterRefuses(t *testing.T) {
	f := getFixture()
	other := storetest.NewDevice(3)
	h := f.header
	h.From = other.ID
	if _, err := NewBundleWriter(io.Discard, h, f.dev.Key); err == nil || !strings.Contains(err.Error(), "sign with the sender's own device key") {
		t.Errorf("From is not the key's: %v", err)
	}
	h = f.header
	h.Sealing = 1
	if _, err := NewBundleWriter(io.Discard, h, f.dev.Key); !errors.Is(err, ErrBundleWriter) {
		t.Errorf("sealing 1: %v", err)
	}
	if _, err := NewBundleWriter(io.Discard, f.header, f.dev.Key[:5]); !errors.Is(err, ErrBundleWriter) {
		t.Errorf("short key: %v", err)
	}
	var buf bytes.Buffer
	bw, _ := NewBundleWriter(&buf, f.header, f.dev.Key)
	if err := bw.Ack(&f.ack); err != nil {
		t.Fatal(err)
	}
	if err := bw.Ack(&f.ack); !errors.Is(err, ErrBundleWriter) {
		t.Errorf("second ack: %v", err)
	}
}

var errWrongNetwork = errors.New("this bundle is for another network")

func TestBundleRefused(t *testing.T) {
	f := getFixture()
	full := f.bundle(t)
	fs := layout(t, full)

	t.Run("check refuses the header", func(t *testing.T) {
		calls, applied := 0, 0
		var got sp.BundleHeader
		rep, err := ReadBundle(bytes.NewReader(full), func(h sp.BundleHeader) error {
			calls++
			got = h
			return errWrongNetwork
		}, func(es []sp.Entry) error { applied += len(es); return nil })
		if !errors.Is(err, errWrongNetwork) || calls != 1 || applied != 0 || rep.Entries != 0 || got != f.header {
			t.Errorf("err %v, %d check calls, %d applied", err, calls, applied)
		}
	})

	t.Run("apply error stops reading", func(t *testing.T) {
		boom := errors.New("disk full")
		calls := 0
		_, err := ReadBundle(bytes.NewReader(full), nil, func([]sp.Entry) error { calls++; return boom })
		if !errors.Is(err, boom) || calls != 1 {
			t.Errorf("err %v after %d calls", err, calls)
		}
	})

	t.Run("not bundles", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		garbage := make([]byte, 100_000)
		for i := range garbage {
			garbage[i] = byte(rng.IntN(256))
		}
		stream := sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgHello, sp.Hello{}))
		for _, tt := range []struct {
			name, data, says string
		}{
			{"empty", "", "empty"},
			{"random bytes", string(garbage), "does not start with a Floe frame"},
			{"text", "name,phone,community\nSample Line (fictional),555-0100,Iqaluit\n", "text file"},
			{"zip", "PK\x03\x04\x14\x00\x00\x00", "zip"},
			{"sync stream", string(stream), "not a bundle"},
			{"damaged header", string(flipAt(full, fs[0].end-2)), "header) is damaged"},
		} {
			res := readBundle(t, strings.NewReader(tt.data))
			if !errors.Is(res.err, ErrNotBundle) || !strings.Contains(res.err.Error(), tt.says) || len(res.applied) != 0 {
				t.Errorf("%s: %v", tt.name, res.err)
			}
		}
	})

	t.Run("header of another version", func(t *testing.T) {
		v2 := bytes.Clone(full)
		v2[3] = sp.ProtocolVersion + 1
		res := readBundle(t, bytes.NewReader(v2))
		var ve *sp.VersionError
		if !errors.As(res.err, &ve) || ve.Got != 2 || len(res.applied) != 0 {
			t.Errorf("err %v", res.err)
		}
	})

	t.Run("later frame of another version is damage", func(t *testing.T) {
		v2 := bytes.Clone(full)
		v2[fs[1].off+3] = sp.ProtocolVersion + 1
		res := readBundle(t, bytes.NewReader(v2))
		if res.err != nil || res.rep.Damaged != 1 || len(res.applied) != len(f.encoded)-len(fs[1].entries) {
			t.Errorf("err %v, report %+v", res.err, res.rep)
		}
	})

	t.Run("unknown sealing", func(t *testing.T) {
		h := f.header
		h.Sealing = 3
		sealed := sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgBundleHeader, h))
		sealed = append(sealed, full[fs[0].end:]...)
		res := readBundle(t, bytes.NewReader(sealed))
		var se *SealingError
		if !errors.As(res.err, &se) || se.Sealing != 3 || len(res.applied) != 0 ||
			res.err.Error() != "this bundle is encrypted with a scheme this floe does not know (sealing 3); upgrade floe" {
			t.Errorf("err %v", res.err)
		}
	})
}

func flipAt(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0xff
	return b
}

// Frames of kinds a bundle does not carry are skipped, and bytes after the
// trailer are not read.
func TestBundleUnknownAndTrailing(t *testing.T) {
	f := getFixture()
	key := f.dev.Key
	var b []byte
	hp := sp.EncodeMsg(sp.MsgBundleHeader, f.header)
	b = sp.AppendFrame(b, hp)
	b = sp.AppendFrame(b, signedEntries(key, hp, 1, f.encoded[:3]))
	b = sp.AppendFrame(b, sp.EncodeMsg(sp.MsgKind(99), sp.End{Sent: 1}))
	b = sp.AppendFrame(b, sp.EncodeMsg(sp.MsgHello, sp.Hello{}))
	b = sp.AppendFrame(b, signedEntries(key, hp, 2, f.encoded[3:5]))
	sum := sha256.Sum256(b)
	b = sp.AppendFrame(b, sp.EncodeMsg(sp.MsgBundleTrailer, sp.BundleTrailer{Frames: 5, Sig: ed25519.Sign(key, bundleSigned(sum[:]))}))

	res := readBundle(t, bytes.NewReader(b))
	if res.err != nil || !res.rep.Signed || res.rep.Unknown != 2 || res.rep.Frames != 6 || len(res.applied) != 5 || res.rep.Problems() != "" {
		t.Errorf("err %v, report %+v", res.err, res.rep)
	}

	res = readBundle(t, bytes.NewReader(append(bytes.Clone(b), b...)))
	if res.err != nil || !res.rep.Signed || !res.rep.Trailing || len(res.applied) != 5 || !strings.Contains(res.rep.Problems(), "after the trailer") {
		t.Errorf("two bundles in one file: err %v, report %+v", res.err, res.rep)
	}
}

// The reader works on short reads and reports read errors.
func TestBundleReaders(t *testing.T) {
	f := getFixture()
	full := f.bundle(t)
	for name, r := range map[string]io.Reader{
		"one byte at a time": iotest.OneByteReader(bytes.NewReader(full)),
		"data with EOF":      iotest.DataErrReader(bytes.NewReader(full)),
		"half reads":         iotest.HalfReader(bytes.NewReader(full)),
	} {
		res := readBundle(t, r)
		if res.err != nil || !res.rep.Signed || len(res.applied) != len(f.encoded) {
			t.Errorf("%s: err %v, report %+v", name, res.err, res.rep)
		}
	}
	broken := errors.New("usb stick removed")
	res := readBundle(t, io.MultiReader(bytes.NewReader(full[:200_000]), iotest.ErrReader(broken)))
	if !errors.Is(res.err, broken) || res.rep.Entries == 0 {
		t.Errorf("read error: err %v, %d applied", res.err, res.rep.Entries)
	}
}

// An acknowledgement larger than a frame travels in several parts.
func TestBundleLargeAck(t *testing.T) {
	f := getFixture()
	rng := rand.New(rand.NewPCG(7, 8))
	keys := make([]sp.SyncKey, 1_000_000)
	var dig sp.Digest
	for i := range keys {
		var h sp.EntryHash
		for j := range h {
			h[j] = byte(rng.IntN(256))
		}
		keys[i] = sp.MakeSyncKey(sp.HLC(1_000_000+i*3), h)
		dig.Add(h)
	}
	ack := sp.Summarize(keys, dig, 42, sp.Salt{9})
	if len(ack.Parts()) < 2 {
		t.Fatalf("summary fits in %d part; the test needs several", len(ack.Parts()))
	}
	var buf bytes.Buffer
	bw, _ := NewBundleWriter(&buf, f.header, f.dev.Key)
	_ = bw.Entries(f.encoded[:50])
	_ = bw.Ack(&ack)
	_ = bw.Entries(f.encoded[50:60])
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	res := readBundle(t, bytes.NewReader(buf.Bytes()))
	if res.err != nil || !res.rep.Signed || !bytes.Equal(ackBytes(res.rep.Ack), ackBytes(&ack)) || len(res.applied) != 60 {
		t.Errorf("err %v, report %+v", res.err, res.rep)
	}
}

// signedEntries is an entries frame payload signed as a bundle's sender
// signs it.
func signedEntries(key ed25519.PrivateKey, headerPayload []byte, seq uint64, list [][]byte) []byte {
	hh := sha256.Sum256(headerPayload)
	sig := ed25519.Sign(key, sp.BundleFrameMessage(hh, seq, list))
	return sp.EncodeMsg(sp.MsgEntries, sp.Entries{List: list, Seq: seq, Sig: sig})
}

// A courier who knows a bundle's plain header cannot add entries to it:
// frames not signed by the sender the header names (unsigned, signed by
// another key, or moved from another bundle) are not applied, and the
// report says the bundle was tampered with.
func TestBundleRefusesFramesTheSenderDidNotSign(t *testing.T) {
	f := getFixture()
	key := f.dev.Key
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	hp := sp.EncodeMsg(sp.MsgBundleHeader, f.header)
	otherHeader := f.header
	otherHeader.ID[0] ^= 1
	var b []byte
	b = sp.AppendFrame(b, hp)
	b = sp.AppendFrame(b, signedEntries(key, hp, 1, f.encoded[:3]))                                              // genuine
	b = sp.AppendFrame(b, sp.EncodeMsg(sp.MsgEntries, sp.Entries{List: f.encoded[3:6]}))                         // unsigned
	b = sp.AppendFrame(b, signedEntries(other, hp, 2, f.encoded[6:9]))                                           // another key
	b = sp.AppendFrame(b, signedEntries(key, sp.EncodeMsg(sp.MsgBundleHeader, otherHeader), 3, f.encoded[9:12])) // another bundle
	res := readBundle(t, bytes.NewReader(b))
	if res.err != nil || len(res.applied) != 3 || res.rep.Forged != 3 {
		t.Fatalf("applied %d entries, forged %d, err %v; want the 3 genuine ones and 3 forged frames", len(res.applied), res.rep.Forged, res.err)
	}
	if !strings.Contains(res.rep.Problems(), "tampered") {
		t.Errorf("problems should say the bundle was tampered with: %q", res.rep.Problems())
	}
}
