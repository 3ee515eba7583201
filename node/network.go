package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	sp "github.com/floe-north/floe/syncproto"
)

// Network is the network a node belongs to: its ID, a name people
// recognise, and the private-network key that every member's libp2p host
// needs to finish a handshake. The key is kept in the encrypted store.
type Network struct {
	ID   sp.NetworkID `cbor:"1,keyasint"`
	Name string       `cbor:"2,keyasint"`
	PSK  [32]byte     `cbor:"3,keyasint"`
	// Root is the network's root public key: it signs certificates,
	// revocations and key epochs.
	Root []byte `cbor:"4,keyasint,omitempty"`
}

const metaNetwork = "network"

// MaxNetworkName caps a network's name.
const MaxNetworkName = 64

// NewNetwork makes a network with a fresh ID and key.
func NewNetwork(name string) (Network, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "floe"
	}
	if !utf8.ValidString(name) || len(name) > MaxNetworkName {
		return Network{}, fmt.Errorf("a network name is at most %d bytes of text", MaxNetworkName)
	}
	n := Network{Name: name}
	rand.Read(n.ID[:])
	rand.Read(n.PSK[:])
	return n, nil
}

// Network returns the node's network.
func (n *Node) Network() Network { return n.net }

func (n *Node) loadNetwork() error {
	b, err := n.st.GetMeta(metaNetwork)
	if errors.Is(err, sp.ErrNotFound) {
		// A store made before networks existed: give it a network of its
		// own, as init does today.
		net, err := NewNetwork("")
		if err != nil {
			return err
		}
		return n.saveNetwork(net)
	}
	if err != nil {
		return fmt.Errorf("reading the network: %w", err)
	}
	var net Network
	if err := sp.UnmarshalStrict(b, &net); err != nil {
		return fmt.Errorf("reading the network: %w", err)
	}
	n.net = net
	return nil
}

func (n *Node) saveNetwork(net Network) error {
	b, err := sp.Marshal(net)
	if err != nil {
		return err
	}
	if err := n.st.PutMeta(metaNetwork, b); err != nil {
		return fmt.Errorf("saving the network: %w", err)
	}
	n.net = net
	return nil
}

// Invite is what a new laptop needs to join a network: the network (with
// its key) and how to reach the device that made the invite. Anyone who
// holds an invite can connect to the network's nodes, so it is carried like
// a key: in person, and deleted once used.
type Invite struct {
	Network Network     `cbor:"1,keyasint"`
	From    sp.DeviceID `cbor:"2,keyasint"`
	Addrs   []string    `cbor:"3,keyasint,omitempty"`
	Name    string      `cbor:"4,keyasint,omitempty"` // what to call the inviting device
	// ID names the invite on the admin's device, which recorded the role
	// and areas; Role and Areas here are for the new laptop to show.
	ID    [16]byte `cbor:"5,keyasint,omitempty"`
	Role  string   `cbor:"6,keyasint,omitempty"`
	Areas []string `cbor:"7,keyasint,omitempty"`
}

const inviteHeader = "FLOE INVITE v1"

// MaxInviteLen caps an invite file.
const MaxInviteLen = 16 << 10

// ErrBadInvite means an invite file did not decode.
var ErrBadInvite = errors.New("not a Floe invite")

// Invite makes an invite to this node's network.
func (n *Node) Invite(addrs []string, name string) Invite {
	return Invite{Network: n.net, From: n.id, Addrs: addrs, Name: name}
}

// EncodeInvite writes an invite as text: a header line and base64 CBOR.
func EncodeInvite(inv Invite) []byte {
	b, err := sp.Marshal(inv)
	if err != nil {
		panic("bug: encoding an invite: " + err.Error())
	}
	return armor(inviteHeader, b)
}

// DecodeInvite reads what EncodeInvite wrote.
func DecodeInvite(b []byte) (Invite, error) {
	var inv Invite
	raw, err := unarmor(inviteHeader, b, MaxInviteLen)
	if err != nil {
		return inv, fmt.Errorf("%w: %v; ask for a new invite", ErrBadInvite, err)
	}
	if err := sp.UnmarshalStrict(raw, &inv); err != nil {
		return inv, fmt.Errorf("%w: %v; ask for a new invite", ErrBadInvite, err)
	}
	if inv.Network.ID == (sp.NetworkID{}) || inv.Network.PSK == ([32]byte{}) {
		return inv, fmt.Errorf("%w: it names no network", ErrBadInvite)
	}
	if len(inv.Network.Root) != 32 || inv.ID == ([16]byte{}) {
		return inv, fmt.Errorf("%w: it has no root key or invite ID (made by an older Floe?); ask the admin for a new invite", ErrBadInvite)
	}
	if !utf8.ValidString(inv.Network.Name) || len(inv.Network.Name) > MaxNetworkName || strings.ContainsFunc(inv.Network.Name, unicode.IsControl) {
		return inv, fmt.Errorf("%w: the network name is not one line of at most %d bytes", ErrBadInvite, MaxNetworkName)
	}
	if inv.Role != "" || len(inv.Areas) > 0 {
		if _, err := CheckGrants(inv.Role, inv.Areas); err != nil {
			return inv, fmt.Errorf("%w: %v", ErrBadInvite, err)
		}
	}
	// The inviting device becomes the first peer: its name and addresses
	// follow the peer list's rules, checked here so that init does not
	// fail half way.
	if err := checkPeer(&Peer{Device: inv.From, Name: inv.Name, Addrs: inv.Addrs}); err != nil {
		return inv, fmt.Errorf("%w: %v", ErrBadInvite, err)
	}
	return inv, nil
}
