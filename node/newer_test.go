package node_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

// What this Floe does when it meets what a newer Floe made: a sync peer,
// a bundle, a pack (a store is in store/upgrade_test.go). Each is refused
// with a message that says to upgrade, and nothing here changes.

// unchanged checks that n holds what it held.
func unchanged(t *testing.T, n *node.Node, before node.Status) {
	t.Helper()
	if st := status(t, n); st.StateHash != before.StateHash || st.Entries != before.Entries {
		t.Fatalf("the node changed: %d entries (state %s), was %d (%s)", st.Entries, st.StateHash, before.Entries, before.StateHash)
	}
}

// newerHello is a hello as a newer Floe might send it, with a field this
// one does not know.
type newerHello struct {
	Network sp.NetworkID `cbor:"1,keyasint"`
	From    sp.DeviceID  `cbor:"2,keyasint"`
	To      sp.DeviceID  `cbor:"3,keyasint"`
	Salt    sp.Salt      `cbor:"4,keyasint"`
	Count   uint64       `cbor:"5,keyasint"`
	Sum     [32]byte     `cbor:"6,keyasint"`
	Resume  []byte       `cbor:"9,keyasint"`
}

// A newer peer, whose frames are of a newer protocol version or whose
// hello has a field this Floe does not know, gets an Abort that tells it
// this side must upgrade; this side's error says to upgrade here, and
// nothing is applied.
func TestSyncWithANewerPeer(t *testing.T) {
	_, a, _, b := pairNodes(t)
	addDirectory(t, a, 1, 5)
	before := status(t, b)
	hello := sp.Hello{Network: a.Network().ID, From: a.ID(), To: b.ID(), Salt: sp.Salt{1}, Count: 99}
	v2 := sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgHello, hello))
	v2[3] = sp.ProtocolVersion + 1
	extra := newerHello{Network: hello.Network, From: hello.From, To: hello.To, Salt: hello.Salt, Count: 99, Resume: []byte{1}}
	for _, c := range []struct {
		name  string
		send  []byte
		local string // in b's error
		peer  string // in the Abort the peer gets
	}{
		{"frame version", v2, "this floe speaks 1; upgrade floe here", "it speaks sync protocol version 1 and cannot read version 2; upgrade floe on the peer"},
		{"hello field", sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgHello, extra)), "runs a newer floe; upgrade floe here", "does not know fields of your hello; upgrade floe on the peer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca, cb := net.Pipe()
			abort := make(chan string, 1)
			go func() {
				defer close(abort)
				cb.Write(c.send)
				for {
					p, err := sp.ReadFrame(cb, nil)
					if err != nil {
						return
					}
					kind, body, err := sp.DecodeMsg(p)
					if err == nil && kind == sp.MsgAbort {
						var m sp.Abort
						if sp.DecodeBody(kind, body, &m) == nil {
							abort <- m.Reason
						}
						io.Copy(io.Discard, cb)
						return
					}
				}
			}()
			_, err := b.SyncStream(ctx, ca, false, a.ID(), node.SyncOptions{StallTimeout: 5 * time.Second})
			ca.Close()
			if err == nil || !strings.Contains(err.Error(), c.local) {
				t.Fatalf("b's error: want %q, got %v", c.local, err)
			}
			reason := <-abort
			cb.Close()
			if !strings.Contains(reason, c.peer) {
				t.Fatalf("the peer's Abort: want %q, got %q", c.peer, reason)
			}
			unchanged(t, b, before)
		})
	}
}

// replaceFirstFrame rebuilds a plain bundle or pack with its first frame's
// payload replaced by payload, and the frame's version byte set.
func replaceFirstFrame(t *testing.T, file []byte, version byte, payload func([]byte) []byte) []byte {
	t.Helper()
	r := bytes.NewReader(file)
	p, err := sp.ReadFrame(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := sp.AppendFrame(nil, payload(p))
	first[3] = version
	rest := file[len(file)-r.Len():]
	return append(first, rest...)
}

// A bundle from a newer Floe (frames of a newer version, or a header with
// fields this Floe does not know) is refused with a message that says to
// upgrade; nothing of it is applied.
func TestBundleFromANewerFloe(t *testing.T) {
	_, a, hb, b := pairNodes(t)
	addDirectory(t, a, 1, 5)
	before := status(t, b)
	sealed, _ := export(t, a, b)
	opened, err := b.OpenBundle(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(opened)
	if err != nil {
		t.Fatal(err)
	}
	type newerHeader struct {
		Network sp.NetworkID `cbor:"1,keyasint"`
		From    sp.DeviceID  `cbor:"2,keyasint"`
		To      sp.DeviceID  `cbor:"3,keyasint"`
		Created sp.HLC       `cbor:"4,keyasint"`
		Sealing uint64       `cbor:"5,keyasint"`
		ID      [16]byte     `cbor:"6,keyasint"`
		Expires sp.HLC       `cbor:"7,keyasint"`
	}
	withField := func(p []byte) []byte {
		_, body, err := sp.DecodeMsg(p)
		if err != nil {
			t.Fatal(err)
		}
		var h sp.BundleHeader
		if err := sp.DecodeBody(sp.MsgBundleHeader, body, &h); err != nil {
			t.Fatal(err)
		}
		return sp.EncodeMsg(sp.MsgBundleHeader, newerHeader{h.Network, h.From, h.To, h.Created, h.Sealing, h.ID, h.Created + 1})
	}
	same := func(p []byte) []byte { return p }
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"frame version", replaceFirstFrame(t, plain, sp.ProtocolVersion+1, same)},
		{"header field", replaceFirstFrame(t, plain, sp.ProtocolVersion, withField)},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := fieldkit.NewSealWriter(&buf, b.ID())
			if err != nil {
				t.Fatal(err)
			}
			w.Write(c.file)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = b.ImportBundle(ctx, bytes.NewReader(buf.Bytes()))
			if err == nil || !strings.Contains(err.Error(), "upgrade floe") {
				t.Fatalf("import of a newer bundle: %v", err)
			}
			unchanged(t, b, before)
		})
	}
	_ = hb
	// The bundle as made still imports.
	importB(t, b, sealed)
	if stateHash(t, a) != stateHash(t, b) {
		t.Fatal("the genuine bundle did not bring b level")
	}
}

// A pack of a newer format, or whose header has fields this Floe does not
// know, is refused by verify and install with "upgrade floe", and nothing
// is installed.
func TestPackFromANewerFloe(t *testing.T) {
	ha := newHarness(t)
	a := ha.init()
	_, trainer := join(t, a, node.RoleTrainer, "directory:*")
	_, lap := join(t, a, node.RoleOutreach, "outreach:kivalliq", "directory:*")
	v1, _ := buildPack(t, trainer, sampleRows(t), false)
	before := status(t, lap)
	type header struct {
		Magic   string       `cbor:"1,keyasint"`
		Format  uint64       `cbor:"2,keyasint"`
		Network sp.NetworkID `cbor:"3,keyasint"`
		Series  [16]byte     `cbor:"4,keyasint"`
		Name    string       `cbor:"5,keyasint"`
		Version uint64       `cbor:"6,keyasint"`
		Base    uint64       `cbor:"7,keyasint,omitempty"`
		Created int64        `cbor:"8,keyasint"`
		Signer  sp.DeviceID  `cbor:"9,keyasint"`
		Records uint64       `cbor:"10,keyasint,omitempty"`
		Region  string       `cbor:"11,keyasint,omitempty"`
	}
	type frame struct {
		Kind   uint64  `cbor:"1,keyasint"`
		Header *header `cbor:"2,keyasint,omitempty"`
	}
	edit := func(format uint64, region string) func([]byte) []byte {
		return func(p []byte) []byte {
			var f frame
			if err := sp.UnmarshalStrict(p, &f); err != nil || f.Header == nil {
				t.Fatalf("the pack's first frame: %v", err)
			}
			f.Header.Format, f.Header.Region = format, region
			b, err := sp.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	for _, c := range []struct {
		name, want string
		file       []byte
	}{
		{"format", "it is pack format 2, and this floe reads format 1; upgrade floe", replaceFirstFrame(t, v1, sp.ProtocolVersion, edit(fieldkit.PackFormat+1, ""))},
		{"format and field", "it is pack format 2, and this floe reads format 1; upgrade floe", replaceFirstFrame(t, v1, sp.ProtocolVersion, edit(fieldkit.PackFormat+1, "kivalliq"))},
		{"field", "a newer floe made it; upgrade floe", replaceFirstFrame(t, v1, sp.ProtocolVersion, edit(fieldkit.PackFormat, "kivalliq"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := lap.VerifyPack(bytes.NewReader(c.file)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("verify: want %q, got %v", c.want, err)
			}
			if _, err := install(lap, c.file); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("install: want %q, got %v", c.want, err)
			}
			unchanged(t, lap, before)
			if ps, err := lap.Packs(); err != nil || len(ps) != 0 {
				t.Fatalf("packs installed: %+v %v", ps, err)
			}
		})
	}
	if _, err := install(lap, v1); err != nil {
		t.Fatalf("the genuine pack: %v", err)
	}
}
