package syncproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// ProtocolVersion is the version of the sync protocol and its frames. A
// frame of another version is refused with a *VersionError. History is in
// docs/sync-protocol.md.
const ProtocolVersion = 1

// A frame is
//
//	magic (3 bytes F1 0E 5C) | version (1) | length (4, big-endian) | payload | CRC-32C of payload (4)
//
// and its payload is canonical CBOR. Live streams carry frames back to back;
// a bundle file is a header frame, the same frames, and a signed trailer.
var frameMagic = [3]byte{0xF1, 0x0E, 0x5C}

const (
	frameHeaderLen = 8
	frameCRCLen    = 4
	// FrameOverhead is the bytes a frame adds to its payload.
	FrameOverhead = frameHeaderLen + frameCRCLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrVersion means the other side speaks another version of the protocol.
var ErrVersion = errors.New("sync protocol version mismatch")

// VersionError says which version arrived.
type VersionError struct{ Got, Want int }

func (e *VersionError) Error() string {
	if e.Got > e.Want {
		return fmt.Sprintf("the other side speaks sync protocol version %d and this floe speaks %d; upgrade floe here", e.Got, e.Want)
	}
	return fmt.Sprintf("the other side speaks sync protocol version %d and this floe speaks %d; the other side must upgrade floe", e.Got, e.Want)
}

func (e *VersionError) Unwrap() error { return ErrVersion }

// PeerReason is the reason an Abort gives the other side, in its terms:
// the side that shows it reads "the peer ended the session: " before it.
func (e *VersionError) PeerReason() string {
	if e.Got > e.Want {
		return fmt.Sprintf("it speaks sync protocol version %d and cannot read version %d; upgrade floe on the peer", e.Want, e.Got)
	}
	return fmt.Sprintf("it speaks sync protocol version %d and no longer reads version %d; upgrade floe here", e.Want, e.Got)
}

// NewerPeerError means a message from the peer has fields this floe does
// not know: the peer runs a newer floe, which needs them understood.
type NewerPeerError struct{ Msg MsgKind }

func (e *NewerPeerError) Error() string {
	return fmt.Sprintf("the peer's %s has fields this floe does not know: it runs a newer floe; upgrade floe here", e.Msg)
}

func (e *NewerPeerError) Unwrap() error { return ErrVersion }

// PeerReason is the reason an Abort gives the other side.
func (e *NewerPeerError) PeerReason() string {
	return fmt.Sprintf("it runs an older floe, which does not know fields of your %s; upgrade floe on the peer", e.Msg)
}

// peerReason is what an Abort tells the peer about err: its PeerReason if
// it has one, else its message.
func peerReason(err error) string {
	var pr interface{ PeerReason() string }
	if errors.As(err, &pr) {
		return pr.PeerReason()
	}
	return err.Error()
}

// PeerReason is what an Abort should tell the peer about err, which ended
// a session on this side.
func PeerReason(err error) string { return peerReason(err) }

// ErrFrame means bytes that should be a frame are not one: a wrong magic, a
// length over the cap, or a checksum that does not match.
var ErrFrame = errors.New("damaged or foreign frame")

func frameErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFrame, fmt.Sprintf(format, args...))
}

// AppendFrame appends payload to dst as one frame.
func AppendFrame(dst, payload []byte) []byte {
	if len(payload) > MaxFrameLen {
		panic("bug: frame payload over MaxFrameLen")
	}
	dst = append(dst, frameMagic[:]...)
	dst = append(dst, ProtocolVersion)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
}

// checkHeader checks a frame header and returns the payload length.
func checkHeader(h []byte) (int, error) {
	if [3]byte(h[:3]) != frameMagic {
		return 0, frameErr("no frame magic")
	}
	if v := int(h[3]); v != ProtocolVersion {
		return 0, &VersionError{Got: v, Want: ProtocolVersion}
	}
	n := binary.BigEndian.Uint32(h[4:8])
	if n > MaxFrameLen {
		return 0, frameErr("frame of %d bytes is over the %d-byte cap", n, MaxFrameLen)
	}
	return int(n), nil
}

// ReadFrame reads one frame from r and returns its payload, which is valid
// until the next call with the same buf. It returns io.EOF only at a clean
// frame boundary; a frame cut short gives io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n, err := checkHeader(h[:])
	if err != nil {
		return nil, err
	}
	if cap(buf) < n+frameCRCLen {
		buf = make([]byte, n+frameCRCLen)
	}
	buf = buf[:n+frameCRCLen]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if crc32.Checksum(buf[:n], castagnoli) != binary.BigEndian.Uint32(buf[n:]) {
		return nil, frameErr("checksum mismatch")
	}
	return buf[:n], nil
}

// NextFrame parses the frame at the start of data. It returns the payload
// and the frame's total length. On damage it returns an error; the caller
// may resume at the next magic with FindFrame.
func NextFrame(data []byte) (payload []byte, size int, err error) {
	if len(data) < frameHeaderLen {
		return nil, 0, io.ErrUnexpectedEOF
	}
	n, err := checkHeader(data[:frameHeaderLen])
	if err != nil {
		return nil, 0, err
	}
	size = frameHeaderLen + n + frameCRCLen
	if len(data) < size {
		return nil, 0, io.ErrUnexpectedEOF
	}
	p := data[frameHeaderLen : frameHeaderLen+n]
	if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(data[frameHeaderLen+n:size]) {
		return nil, 0, frameErr("checksum mismatch")
	}
	return p, size, nil
}

// FindFrame returns the offset of the next possible frame start in data
// after offset from, or -1.
func FindFrame(data []byte, from int) int {
	for i := from; i+len(frameMagic) <= len(data); i++ {
		if data[i] == frameMagic[0] && data[i+1] == frameMagic[1] && data[i+2] == frameMagic[2] {
			return i
		}
	}
	return -1
}
