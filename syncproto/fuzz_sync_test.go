package syncproto

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"testing"
)

// Fuzz targets for everything the sync protocol reads from a peer: frames,
// packed ranges, acknowledgement summaries, and a responder session fed
// arbitrary frame payloads. This file is an internal test, so it reaches
// the unexported decoders; its helpers are prefixed fz.

var (
	fzNet  = NetworkID{0xf2, 0x0e}
	fzSalt = Salt{0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)

// fzKey is a device key derived from seed.
func fzKey(seed byte) ed25519.PrivateKey {
	var s [ed25519.SeedSize]byte
	s[0], s[1] = seed, 0xf2
	return ed25519.NewKeyFromSeed(s[:])
}

func fzDevice(k ed25519.PrivateKey) DeviceID {
	var d DeviceID
	copy(d[:], k.Public().(ed25519.PublicKey))
	return d
}

// fzEntry is a signed entry in a record of its own, so that no two fzEntry
// values prune each other. The collection varies so that lanes vary.
func fzEntry(tb testing.TB, key ed25519.PrivateKey, i int) Entry {
	tb.Helper()
	var rid RecordID
	rid[0] = 0xf2
	binary.BigEndian.PutUint32(rid[1:], uint32(i))
	v, err := EncodeValue(fmt.Sprintf("service %d", i))
	if err != nil {
		tb.Fatal(err)
	}
	coll := [...]string{"directory", "outreach", "members"}[i%3]
	// Several entries share a timestamp, so bounds need hash prefixes.
	e := Entry{Collection: coll, Record: rid, Field: "name/en", Time: MakeHLC(1_760_000_000_000+uint64(i/3), 0), Kind: KindValue, Value: v}
	e.Sign(key)
	return e
}

// fzPeer is one side of a test session: a MemStore and its entry source.
type fzPeer struct {
	key ed25519.PrivateKey
	id  DeviceID
	st  *MemStore
}

func newFzPeer(tb testing.TB, seed byte, es []Entry) *fzPeer {
	tb.Helper()
	k := fzKey(seed)
	p := &fzPeer{key: k, id: fzDevice(k), st: NewMemStore()}
	if _, err := p.st.ApplyVerified(context.Background(), es); err != nil {
		tb.Fatal(err)
	}
	return p
}

func (p *fzPeer) LoadEntry(k SyncKey) ([]byte, Lane, error) {
	e, err := p.st.Get(context.Background(), k.Hash())
	if err != nil {
		return nil, 0, err
	}
	switch e.Collection {
	case "members":
		return e.Encode(), LaneMembers, nil
	case "directory":
		return e.Encode(), LaneDirectory, nil
	}
	return e.Encode(), LaneOther, nil
}

func (p *fzPeer) keys() ([]SyncKey, error) {
	var ks []SyncKey
	err := p.st.ScanSyncOrder(context.Background(), nil, func(k SyncKey, _ Entry) error {
		ks = append(ks, k)
		return nil
	})
	return ks, err
}

func (p *fzPeer) config(tb testing.TB, initiator bool) SessionConfig {
	tb.Helper()
	sum, err := p.st.Summary(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := p.keys()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := SessionConfig{Initiator: initiator, Network: fzNet, Local: p.id, Digest: sum.Digest,
		Keys: func() ([]SyncKey, error) { return ks, nil }, Source: p}
	if initiator {
		cfg.Salt = fzSalt
	}
	return cfg
}

// fzPool is a fixed pool of n sync keys in sync order. Runs of keys share a
// timestamp and the first bytes of their hash, so bounds between them need
// prefixes of several bytes.
func fzPool(n int) []SyncKey {
	ks := make([]SyncKey, n)
	for i := range ks {
		h := EntryHash(sha256.Sum256([]byte{byte(i), byte(i >> 8), 0xf2}))
		h[0], h[1] = byte(i/8), byte(i%8/4)
		ks[i] = MakeSyncKey(HLC(1000+i/8), h)
	}
	// The hashes of keys with one timestamp are not in order yet.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && bytes.Compare(ks[j-1][:], ks[j][:]) > 0; j-- {
			ks[j-1], ks[j] = ks[j], ks[j-1]
		}
	}
	return ks
}

// fzPick returns the keys of pool whose bit is set in mask.
func fzPick(pool []SyncKey, mask []byte) []SyncKey {
	var out []SyncKey
	for i := range pool {
		if i/8 < len(mask) && mask[i/8]&(1<<(i%8)) != 0 {
			out = append(out, pool[i])
		}
	}
	return out
}

func fzDigest(ks []SyncKey) Digest {
	var d Digest
	for _, k := range ks {
		d.Add(k.Hash())
	}
	return d
}

// fzFrames splits a frame stream into payloads.
func fzFrames(tb testing.TB, frames [][]byte) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, f := range frames {
		p, n, err := NextFrame(f)
		if err != nil || n != len(f) {
			tb.Fatalf("a session made a bad frame: %v", err)
		}
		out = append(out, p)
	}
	return out
}

// fzCapture runs initiator a against responder b to the end and returns
// every payload a sent.
func fzCapture(tb testing.TB, a, b *Session) [][]byte {
	tb.Helper()
	var sent [][]byte
	sides := [2]*Session{a, b}
	for step := 0; step < 200; step++ {
		if a.Done() && b.Done() {
			break
		}
		var outs [2][][]byte
		for i, s := range sides {
			for s.HasReady() {
				rd, err := s.Ready()
				outs[i] = append(outs[i], fzFrames(tb, rd.Frames)...)
				s.Advance()
				if err != nil {
					break
				}
			}
		}
		if len(outs[0]) == 0 && len(outs[1]) == 0 {
			break
		}
		sent = append(sent, outs[0]...)
		for i, ps := range outs {
			for _, p := range ps {
				if to := sides[1-i]; !to.Done() {
					to.Step(p)
				}
			}
		}
	}
	if a.Err() != nil || b.Err() != nil || !a.Stats().Complete || !b.Stats().Complete {
		tb.Fatalf("the seed session did not complete: %v, %v", a.Err(), b.Err())
	}
	return sent
}

// fzChunks packs payloads as the input of FuzzSessionStep: each a 2-byte
// big-endian length and the bytes.
func fzChunks(ps ...[]byte) []byte {
	var b []byte
	for _, p := range ps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

// fzUnchunk is the inverse of fzChunks; a length past the end takes what
// is left.
func fzUnchunk(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 2 {
		n := min(int(binary.BigEndian.Uint16(b)), len(b)-2)
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

// fzMsgs are real payloads of every kind a frame carries.
func fzMsgs(tb testing.TB) [][]byte {
	tb.Helper()
	e := fzEntry(tb, fzKey(9), 1)
	return [][]byte{
		EncodeMsg(MsgHello, Hello{Network: fzNet, From: fzDevice(fzKey(1)), Salt: fzSalt, Count: 3}),
		EncodeMsg(MsgRound, Round{Ranges: []byte{0, modeFP, 3, 1, 2, 3, 4, 5, 6, 7, 8}, Wants: make([]byte, 8), More: true}),
		EncodeMsg(MsgEntries, Entries{List: [][]byte{e.Encode()}}),
		EncodeMsg(MsgEnd, End{Sent: 1}),
		EncodeMsg(MsgFin, Fin{Applied: 1}),
		EncodeMsg(MsgAbort, Abort{Reason: "the peer is on another network"}),
		EncodeMsg(MsgBundleTrailer, BundleTrailer{Frames: 2, Sig: make([]byte, 64)}),
		{},
	}
}

// fzErrClass sorts frame errors: "eof" (the data ran out), "frame"
// (damage), "version", or "" for anything else.
func fzErrClass(err error) string {
	var ve *VersionError
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return "eof"
	case errors.Is(err, ErrFrame):
		return "frame"
	case errors.As(err, &ve) && errors.Is(err, ErrVersion):
		return "version"
	}
	return ""
}

// FuzzNextFrame feeds NextFrame and ReadFrame arbitrary bytes. A frame
// either parses, and then its bytes are exactly AppendFrame of its payload,
// or the error says which of three things went wrong. Reading the same
// bytes as a stream with ReadFrame gives the same frames and errors.
func FuzzNextFrame(f *testing.F) {
	msgs := fzMsgs(f)
	var stream []byte
	for _, p := range msgs {
		fr := AppendFrame(nil, p)
		stream = append(stream, fr...)
		f.Add(fr)
		f.Add(fr[:len(fr)-1])        // cut in the checksum
		f.Add(fr[:frameHeaderLen+1]) // cut in the payload
		bad := bytes.Clone(fr)
		bad[len(bad)-5] ^= 0x40 // damaged payload or length
		f.Add(bad)
		v2 := bytes.Clone(fr)
		v2[3] = ProtocolVersion + 1 // from the future
		f.Add(v2)
		f.Add(append([]byte{0}, fr...)) // not at a frame start
	}
	f.Add(stream)
	f.Add(append(bytes.Clone(stream), frameMagic[:]...))
	huge := AppendFrame(nil, nil)
	binary.BigEndian.PutUint32(huge[4:], MaxFrameLen+1)
	f.Add(huge)
	f.Add([]byte{})
	f.Add(frameMagic[:])
	f.Add([]byte{0xF1, 0x0E, 0x5C, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var buf []byte
		for off := 0; ; {
			p, size, err := NextFrame(data[off:])
			rp, rerr := ReadFrame(r, buf)
			if err != nil {
				cls := fzErrClass(err)
				if cls == "" || err == io.EOF {
					t.Fatalf("NextFrame error %v (%T) is none of io.ErrUnexpectedEOF, ErrFrame, *VersionError", err, err)
				}
				var ve *VersionError
				if errors.As(err, &ve) && (ve.Got == ve.Want || ve.Want != ProtocolVersion) {
					t.Fatalf("VersionError %+v", ve)
				}
				if off == len(data) {
					if rerr != io.EOF {
						t.Fatalf("ReadFrame at the end of the data = %v, want io.EOF", rerr)
					}
				} else if fzErrClass(rerr) != cls {
					t.Fatalf("at %d NextFrame says %v and ReadFrame %v", off, err, rerr)
				}
				break
			}
			if size != len(p)+FrameOverhead || off+size > len(data) {
				t.Fatalf("NextFrame size %d for a payload of %d with %d bytes left", size, len(p), len(data)-off)
			}
			if fr := AppendFrame(nil, p); !bytes.Equal(fr, data[off:off+size]) {
				t.Fatalf("a frame that parsed is not AppendFrame of its payload:\n  in %x\n out %x", data[off:off+size], fr)
			}
			if FindFrame(data, off) != off {
				t.Fatalf("FindFrame misses the frame at %d", off)
			}
			if rerr != nil || !bytes.Equal(rp, p) {
				t.Fatalf("at %d NextFrame gives %x and ReadFrame %x, %v", off, p, rp, rerr)
			}
			off += size
			if len(data)-r.Len() != off {
				t.Fatalf("ReadFrame consumed %d bytes, NextFrame %d", len(data)-r.Len(), off)
			}
			buf = rp[:0]
		}
		for from := range min(len(data)+1, 16) {
			i, want := FindFrame(data, from), bytes.Index(data[from:], frameMagic[:])
			if want >= 0 {
				want += from
			}
			if i != want {
				t.Fatalf("FindFrame(data, %d) = %d, want %d", from, i, want)
			}
		}
	})
}

// fzRangeSeeds are packed ranges as sessions and summaries make them, and
// a few made by hand that break one rule each.
func fzRangeSeeds() [][]byte {
	pool := fzPool(400)
	a := newSet(fzPick(pool, bytes.Repeat([]byte{0xff}, 50)), &fzSalt)
	b := newSet(fzPick(pool, bytes.Repeat([]byte{0xef, 0xbf}, 25)), &fzSalt)
	small := newSet(pool[:7], &fzSalt)
	var out [][]byte
	ea := newReconciler(a, LeafSize, BranchFactor).first(200)
	out = append(out, ea.w.buf)
	if _, err := decodeRanges(ea.w.buf, MaxRanges); err != nil {
		panic("bug: a session's own ranges do not decode: " + err.Error())
	}
	eb, _, _, err := newReconciler(b, LeafSize, BranchFactor).respond(ea.w.buf)
	if err != nil {
		panic("bug: a session's own ranges do not answer: " + err.Error())
	}
	out = append(out, eb.w.buf)
	es := newReconciler(small, LeafSize, BranchFactor).first(3)
	out = append(out, es.w.buf)
	ks := fzPick(pool, bytes.Repeat([]byte{0xff}, 50))
	sum := Summarize(ks, fzDigest(ks), 1, fzSalt)
	out = append(out, sum.Parts()[0].Ranges)
	var w rangeWriter
	w.add(&wireRange{Upper: Bound{Time: 5}, Mode: modeSkip})
	w.add(&wireRange{Upper: Bound{Time: 5, Prefix: []byte{0, 7}}, Mode: modeSingle, FP: 42})
	w.add(&wireRange{Upper: Bound{Time: 5, Prefix: bytes.Repeat([]byte{0xff}, 32)}, Mode: modeAskList})
	w.add(&wireRange{Upper: Bound{Time: 1 << 60}, Mode: modeIDs, IDs: []uint64{1, 2, 3}})
	w.add(&wireRange{Upper: InfBound, Mode: modeFP, Count: 300, FP: 1<<64 - 1})
	out = append(out, w.buf,
		nil,
		[]byte{0, modeSkip},
		[]byte{0, modeSkip, 0, modeSkip},       // a range after the end
		[]byte{2, 0, modeSkip, 1, 0, modeSkip}, // out of order
		[]byte{1, 33, modeSkip},                // prefix too long
		[]byte{0, 9},                           // unknown mode
		[]byte{0, modeIDs, 0x81, 0x20},         // 4097 IDs
		[]byte{0, modeIDs, 2, 1, 2, 3, 4, 5, 6, 7, 8},                                                   // cut short
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, modeSkip, 2, 0, modeSkip}, // time overflows
	)
	return out
}

// FuzzDecodeRanges feeds decodeRanges packed ranges from a peer. What it
// accepts is well formed (bounds strictly increasing, Inf only last, ID
// lists within MaxIDList), and packing it again gives back the same bytes:
// there is one encoding of a round.
func FuzzDecodeRanges(f *testing.F) {
	for _, b := range fzRangeSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := decodeRanges(b, MaxRanges)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, errRanges) {
				t.Fatalf("decodeRanges error %q does not wrap ErrMalformed and errRanges", err)
			}
			return
		}
		if len(rs) > MaxRanges {
			t.Fatalf("%d ranges, over MaxRanges", len(rs))
		}
		var w rangeWriter
		for i := range rs {
			r := &rs[i]
			if i > 0 && !rs[i-1].Upper.less(&r.Upper) {
				t.Fatalf("bound %d (%+v) is not above bound %d (%+v)", i, r.Upper, i-1, rs[i-1].Upper)
			}
			if r.Upper.Inf && i != len(rs)-1 {
				t.Fatalf("an infinite bound at %d of %d", i, len(rs))
			}
			if len(r.Upper.Prefix) > 32 {
				t.Fatalf("a bound prefix of %d bytes", len(r.Upper.Prefix))
			}
			if len(r.IDs) > MaxIDList || (len(r.IDs) > 0 && r.Mode != modeIDs) {
				t.Fatalf("range %d: mode %d with %d IDs", i, r.Mode, len(r.IDs))
			}
			if r.Mode > modeAskList {
				t.Fatalf("range %d: unknown mode %d accepted", i, r.Mode)
			}
			w.add(r)
		}
		// Every accepted round has exactly one encoding.
		if !bytes.Equal(w.buf, b) {
			t.Fatalf("accepted ranges pack back differently:\n  in %x\n out %x", b, w.buf)
		}
	})
}

// fzSummaryParts encodes a summary as AckParts cut at the given lengths
// of its packed ranges, the last part taking the rest.
func fzSummaryParts(s *SetSummary, cuts ...int) []byte {
	var w rangeWriter
	for i := range s.Ranges {
		r := &s.Ranges[i]
		w.add(&wireRange{Upper: r.Upper, Mode: modeFP, Count: r.Count, FP: r.FP})
	}
	var parts []AckPart
	b := w.buf
	for _, c := range cuts {
		c = min(c, len(b))
		parts = append(parts, AckPart{Salt: s.Salt, Count: s.Count, Sum: s.Sum, Created: s.Created, Ranges: b[:c], More: true})
		b = b[c:]
	}
	parts = append(parts, AckPart{Salt: s.Salt, Count: s.Count, Sum: s.Sum, Created: s.Created, Ranges: b})
	enc, err := encMode.Marshal(parts)
	if err != nil {
		panic("bug: " + err.Error())
	}
	return enc
}

func fzSameSummary(a, b *SetSummary) bool {
	if a.Salt != b.Salt || a.Count != b.Count || a.Sum != b.Sum || a.Created != b.Created || len(a.Ranges) != len(b.Ranges) {
		return false
	}
	for i := range a.Ranges {
		x, y := &a.Ranges[i], &b.Ranges[i]
		if x.Count != y.Count || x.FP != y.FP || x.Upper.Inf != y.Upper.Inf || x.Upper.Time != y.Upper.Time || !bytes.Equal(x.Upper.Prefix, y.Upper.Prefix) {
			return false
		}
	}
	return true
}

// FuzzDecodeSummary feeds DecodeSummary a stored summary. What it accepts
// covers the whole order, its range counts add up to Count without
// wrapping, it encodes and decodes back to itself, and Missing works on it.
func FuzzDecodeSummary(f *testing.F) {
	pool := fzPool(300)
	for _, n := range []int{0, 1, 2, 63, 64, 65, 200, 300} {
		ks := pool[:n]
		s := Summarize(ks, fzDigest(ks), MakeHLC(1_760_000_000_000, 3), fzSalt)
		f.Add(EncodeSummary(&s))
		if n > 64 {
			f.Add(fzSummaryParts(&s, 5))
			f.Add(fzSummaryParts(&s, 0, 11, 3))
		}
	}
	f.Add([]byte{0x80})
	f.Add([]byte{0x81, 0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSummary(b)
		if err != nil {
			if !errors.Is(err, ErrSummary) {
				t.Fatalf("DecodeSummary error %q does not wrap ErrSummary", err)
			}
			return
		}
		if len(s.Ranges) == 0 || !s.Ranges[len(s.Ranges)-1].Upper.Inf {
			t.Fatal("a summary that does not end at the infinite bound")
		}
		var total, carry uint64
		for _, r := range s.Ranges {
			var c uint64
			total, c = bits.Add64(total, r.Count, 0)
			carry += c
		}
		if total != s.Count || carry != 0 {
			t.Fatalf("the ranges count %d entries (with %d wraps), the summary %d", total, carry, s.Count)
		}
		enc := EncodeSummary(s)
		back, err := DecodeSummary(enc)
		if err != nil {
			t.Fatalf("a summary that decoded does not decode once encoded again: %v", err)
		}
		if !fzSameSummary(s, back) {
			t.Fatalf("summary changed across encode and decode:\n  %+v\n  %+v", s, back)
		}
		if again := EncodeSummary(back); !bytes.Equal(again, enc) {
			t.Fatal("EncodeSummary is not stable")
		}
		miss := s.Missing(pool[:100])
		for i, j := range miss {
			if j < 0 || j >= 100 || (i > 0 && miss[i-1] >= j) {
				t.Fatalf("Missing gave %v", miss)
			}
		}
	})
}

// FuzzSummaryMissing checks what a summary promises: whatever the
// summarised set A and the other set B (subsets of a fixed pool of keys,
// chosen by bit masks), Missing(B) includes every key of B not in A. A
// summary of A finds nothing missing in A itself.
func FuzzSummaryMissing(f *testing.F) {
	const n = 512
	pool := fzPool(n)
	all := bytes.Repeat([]byte{0xff}, n/8)
	half := bytes.Repeat([]byte{0x55}, n/8)
	f.Add(all, all, uint64(0))
	f.Add(all, half, uint64(1))
	f.Add(half, all, uint64(2))
	f.Add([]byte{}, all, uint64(3))
	f.Add(all, []byte{}, uint64(4))
	f.Add(bytes.Repeat([]byte{0xff, 0xfe, 0xff, 0xff}, n/32), all, uint64(5)) // one key per 32 missing
	f.Add(all[:20], append(bytes.Clone(all[:20]), 1), uint64(6))              // one newer key
	f.Add([]byte{0x01}, []byte{0x02}, uint64(7))                              // one for one
	f.Fuzz(func(t *testing.T, ma, mb []byte, salt uint64) {
		a, b := fzPick(pool, ma), fzPick(pool, mb)
		var sl Salt
		binary.LittleEndian.PutUint64(sl[:], salt)
		s := Summarize(a, fzDigest(a), 7, sl)
		back, err := DecodeSummary(EncodeSummary(&s))
		if err != nil {
			t.Fatalf("a summary of %d keys does not decode: %v", len(a), err)
		}
		inA := make(map[SyncKey]bool, len(a))
		for _, k := range a {
			inA[k] = true
		}
		miss := back.Missing(b)
		got := make(map[int]bool, len(miss))
		for i, j := range miss {
			if j < 0 || j >= len(b) || (i > 0 && miss[i-1] >= j) {
				t.Fatalf("Missing gave indices out of order or range: %v", miss)
			}
			got[j] = true
		}
		for j, k := range b {
			if !inA[k] && !got[j] {
				t.Fatalf("key %d of B (%x) is not in A, and Missing does not list it", j, k[:10])
			}
		}
		if m := back.Missing(a); len(m) != 0 {
			t.Fatalf("a summary of A finds %d of A's own keys missing", len(m))
		}
	})
}

// fzCheckSent checks a payload a session sent: whatever the peer did, the
// session sends nothing the peer could not decode. round collects the
// packed ranges of a round sent in parts.
func fzCheckSent(t *testing.T, p []byte, round *[]byte) {
	t.Helper()
	kind, body, err := DecodeMsg(p)
	if err != nil {
		t.Fatalf("the session sent a payload it cannot decode: %v", err)
	}
	switch kind {
	case MsgRound:
		var r Round
		if err := DecodeBody(kind, body, &r); err != nil {
			t.Fatalf("the session sent a round it cannot decode: %v", err)
		}
		if len(r.Wants)%IDBytes != 0 {
			t.Fatalf("the session sent wants of %d bytes", len(r.Wants))
		}
		*round = append(*round, r.Ranges...)
		if !r.More {
			if _, err := decodeRanges(*round, MaxRanges); err != nil {
				t.Fatalf("the session sent ranges it cannot decode: %v\n%x", err, *round)
			}
			*round = (*round)[:0]
		}
	case MsgEntries:
		var m Entries
		if err := DecodeBody(kind, body, &m); err != nil {
			t.Fatalf("the session sent entries it cannot decode: %v", err)
		}
		for _, b := range m.List {
			if _, err := DecodeEntry(b); err != nil {
				t.Fatalf("the session sent an entry that does not decode: %v", err)
			}
		}
	}
}

// fzWrapsSentinel reports whether err wraps one of the errors a caller
// branches on when a session ends badly.
func fzWrapsSentinel(err error) bool {
	for _, e := range []error{ErrProtocol, ErrPeerAbort, ErrWrongNetwork, ErrWrongDevice, ErrMalformed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzSessionStep feeds a responder session, after a valid hello from an
// initiator whose store differs, arbitrary frame payloads (the input is a
// run of 2-byte-length-prefixed chunks). The caller drives it as a carrier
// does, applying nothing. Whatever arrives, the session does not panic,
// every error wraps a sentinel, and an error ends the session for good:
// Done is true, Step keeps returning that error, and the last Ready holds
// at most one frame, an Abort.
func FuzzSessionStep(f *testing.F) {
	key := fzKey(3)
	var shared, onlyResp, onlyInit []Entry
	for i := range 60 {
		e := fzEntry(f, key, i)
		switch {
		case i%6 == 1:
			onlyResp = append(onlyResp, e)
		case i%6 == 4:
			onlyInit = append(onlyInit, e)
		default:
			shared = append(shared, e)
		}
	}
	resp := newFzPeer(f, 1, append(append([]Entry{}, shared...), onlyResp...))
	initP := newFzPeer(f, 2, append(append([]Entry{}, shared...), onlyInit...))
	respCfg, initCfg := resp.config(f, false), initP.config(f, true)
	hello := EncodeMsg(MsgHello, Hello{Network: fzNet, From: initP.id, Salt: fzSalt, Count: initCfg.Digest.Count, Sum: initCfg.Digest.Sum})

	a, b := NewSession(initCfg), NewSession(respCfg)
	a.Start()
	sent := fzCapture(f, a, b)
	if !bytes.Equal(sent[0], hello) {
		f.Fatal("the initiator's hello is not the one the fuzz target sends")
	}
	frames := sent[1:]
	f.Add(fzChunks(frames...))
	for i := range frames {
		f.Add(fzChunks(frames[:i]...))
		cut := append(append([][]byte{}, frames[:i]...), frames[i][:len(frames[i])/2])
		f.Add(fzChunks(append(cut, frames[i+1:]...)...))
		bad := bytes.Clone(frames[i])
		bad[len(bad)*2/3] ^= 0x11
		f.Add(fzChunks(append(append(append([][]byte{}, frames[:i]...), bad), frames[i+1:]...)...))
		f.Add(fzChunks(append(append(append([][]byte{}, frames[:i+1]...), frames[i]), frames[i+1:]...)...))
	}
	for _, m := range fzMsgs(f) {
		f.Add(fzChunks(m))
		f.Add(fzChunks(append([][]byte{m}, frames...)...))
	}
	f.Add(fzChunks(hello))
	f.Add(fzChunks(EncodeMsg(99, Abort{Reason: "a kind from the future"})))
	// Rounds that always make the responder split again, until the round
	// limit ends the session.
	var w rangeWriter
	w.add(&wireRange{Upper: InfBound, Mode: modeFP, Count: 999})
	again := EncodeMsg(MsgRound, Round{Ranges: w.buf})
	var many [][]byte
	for range MaxRounds/2 + 1 {
		many = append(many, again)
	}
	f.Add(fzChunks(many...))

	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewSession(respCfg)
		if err := s.Step(hello); err != nil {
			t.Fatalf("the valid hello was refused: %v", err)
		}
		failed := false
		var round []byte // the parts of a round the session is sending
		// drain plays the carrier: it takes every Ready, checks it, and
		// applies nothing.
		drain := func() {
			for k := 0; k < 64 && (s.HasReady() || (s.Err() != nil && !failed)); k++ {
				rd, err := s.Ready()
				s.Advance()
				if err != nil || s.Err() != nil {
					if err != s.Err() {
						t.Fatalf("Ready returned %v and Err is %v", err, s.Err())
					}
					if !fzWrapsSentinel(err) {
						t.Fatalf("session error %q wraps no sentinel", err)
					}
					if !failed && len(rd.Frames) > 1 {
						t.Fatalf("after an error Ready holds %d frames, want at most the Abort", len(rd.Frames))
					}
					if failed && len(rd.Frames) > 0 {
						t.Fatalf("frames after the Abort")
					}
					for _, p := range fzFrames(t, rd.Frames) {
						kind, body, derr := DecodeMsg(p)
						var ab Abort
						if derr != nil || kind != MsgAbort || DecodeBody(kind, body, &ab) != nil || len(ab.Reason) > MaxAbortReason {
							t.Fatalf("after an error Ready sends a %s frame, want an Abort", kind)
						}
					}
					failed = true
					return
				}
				for _, p := range fzFrames(t, rd.Frames) {
					fzCheckSent(t, p, &round)
				}
				for i := range rd.Apply {
					if err := rd.Apply[i].Validate(); err != nil {
						t.Fatalf("Ready hands out an entry that fails Validate: %v", err)
					}
				}
			}
		}
		drain()
		for _, p := range fzUnchunk(data) {
			before := s.Err()
			err := s.Step(p)
			if before != nil && err != before {
				t.Fatalf("Step after the error %q returned %v", before, err)
			}
			if err != nil {
				if !fzWrapsSentinel(err) {
					t.Fatalf("Step error %q wraps no sentinel", err)
				}
				if s.Err() != err || !s.Done() {
					t.Fatalf("after Step error %q, Err is %v and Done %v", err, s.Err(), s.Done())
				}
			}
			if s.Err() != nil && !s.Done() {
				t.Fatal("a failed session is not Done")
			}
			drain()
		}
		if err := s.Err(); err != nil {
			if again := s.Step(hello); again != err {
				t.Fatalf("Step after the error %q returned %v", err, again)
			}
		}
	})
}
