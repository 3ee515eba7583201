package fieldkit

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// A header from a newer floe (keys this one does not know, perhaps a
// sealing scheme) says to upgrade, not that the file is damaged.
func TestBundleFromANewerFloeSaysUpgrade(t *testing.T) {
	type newerHeader struct {
		Network sp.NetworkID `cbor:"1,keyasint"`
		From    sp.DeviceID  `cbor:"2,keyasint"`
		To      sp.DeviceID  `cbor:"3,keyasint"`
		Created sp.HLC       `cbor:"4,keyasint"`
		Sealing uint64       `cbor:"5,keyasint"`
		ID      [16]byte     `cbor:"6,keyasint"`
		Wrapped []byte       `cbor:"7,keyasint"`
	}
	for _, c := range []struct {
		sealing uint64
		want    string
	}{{0, "newer floe"}, {2, "upgrade floe"}} {
		h := newerHeader{Network: sp.NetworkID{7}, Sealing: c.sealing, Wrapped: []byte("key for the recipient")}
		file := sp.AppendFrame(nil, sp.EncodeMsg(sp.MsgBundleHeader, h))
		applied := false
		_, err := ReadBundle(bytes.NewReader(file), nil, func([]sp.Entry) error { applied = true; return nil })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("sealing %d: want an error saying %q, got %v", c.sealing, c.want, err)
		}
		var se *SealingError
		if c.sealing != 0 && !errors.As(err, &se) {
			t.Errorf("sealing %d: want a *SealingError, got %T", c.sealing, err)
		}
		if applied {
			t.Error("entries applied from a bundle this floe cannot read")
		}
	}
}
