package node

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// FuzzDecodeInvite: an invite file comes from outside (a USB stick, an
// e-mail). Whatever it holds, decoding never panics; what decodes names a
// network, respects the caps, and encodes back to an invite that decodes
// the same.
func FuzzDecodeInvite(f *testing.F) {
	net := Network{ID: sp.NetworkID{1, 2, 3}, Name: "kivalliq", PSK: [32]byte{9}, Root: make([]byte, 32)}
	good := EncodeInvite(Invite{Network: net, From: sp.DeviceID{5}, Name: "hub", Addrs: []string{"/ip4/127.0.0.1/tcp/7420"},
		ID: [16]byte{7}, Role: RoleOutreach, Areas: []string{"outreach:kivalliq/arviat"}})
	f.Add(good)
	f.Add(append([]byte("\ufeff"), bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n"))...))
	f.Add(good[:len(good)/2])
	f.Add([]byte("FLOE INVITE v1\n"))
	f.Add([]byte("FLOE INVITE v1\n!!!!\n"))
	f.Add([]byte("hello"))
	f.Add(EncodeInvite(Invite{Network: Network{Name: "x"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := DecodeInvite(b)
		if err != nil {
			if !errors.Is(err, ErrBadInvite) {
				t.Fatalf("error does not wrap ErrBadInvite: %v", err)
			}
			return
		}
		if inv.Network.ID == (sp.NetworkID{}) || inv.Network.PSK == ([32]byte{}) {
			t.Fatal("an invite without a network decoded")
		}
		if len(inv.Network.Name) > MaxNetworkName || len(inv.Name) > MaxPeerName || len(inv.Addrs) > MaxPeerAddrs {
			t.Fatal("an invite over the caps decoded")
		}
		again, err := DecodeInvite(EncodeInvite(inv))
		if err != nil || !reflect.DeepEqual(again.Network, inv.Network) || again.ID != inv.ID || again.Role != inv.Role || again.From != inv.From || again.Name != inv.Name ||
			strings.Join(again.Addrs, " ") != strings.Join(inv.Addrs, " ") {
			t.Fatalf("invite does not round-trip: %v", err)
		}
	})
}

// FuzzParseAddr: peer addresses are typed or pasted by people. Parsing
// never panics, and an address that parses leads to a device and prints
// back to something that parses the same.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{
		"/ip4/127.0.0.1/tcp/7420/p2p/12D3KooWHS6tJXH5oHmS1htXNLzeR6sjB8Bb5r2yMZwcwRKBsJmx",
		"/ip6/::1/tcp/7420/p2p/12D3KooWHS6tJXH5oHmS1htXNLzeR6sjB8Bb5r2yMZwcwRKBsJmx",
		"/dns4/hub.local/tcp/7420/p2p/12D3KooWHS6tJXH5oHmS1htXNLzeR6sjB8Bb5r2yMZwcwRKBsJmx",
		"/ip4/1.2.3.4/udp/1/quic-v1/p2p/12D3KooWHS6tJXH5oHmS1htXNLzeR6sjB8Bb5r2yMZwcwRKBsJmx",
		"/ip4/1.2.3.4/tcp/1", "/p2p/12D3KooWHS6tJXH5oHmS1htXNLzeR6sjB8Bb5r2yMZwcwRKBsJmx", "", "/", "hub", "/ip4/999.1.1.1/tcp/1/p2p/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, dev, err := ParseAddr(s)
		if err != nil {
			return
		}
		if dev == (sp.DeviceID{}) || addr == "" {
			t.Fatalf("%q parsed to an empty address or device", s)
		}
		pid, err := PeerIDOf(dev)
		if err != nil {
			t.Fatal(err)
		}
		addr2, dev2, err := ParseAddr(addr + "/p2p/" + pid.String())
		if err != nil || dev2 != dev || addr2 != addr {
			t.Fatalf("%q does not print back: %q %v", s, addr2, err)
		}
	})
}
