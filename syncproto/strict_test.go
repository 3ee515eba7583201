package syncproto_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// Hostile encodings from a peer are refused, and cheaply: duplicate map
// keys, indefinite lengths, deep nesting and huge declared lengths. The
// fuzz targets (FuzzSessionStep, FuzzNextFrame, FuzzDecodeEntry) run the
// same decoders on random input.
func TestMessagesDecodeStrictly(t *testing.T) {
	hello := sp.EncodeMsg(sp.MsgHello, sp.Hello{Network: sp.NetworkID{1}, Count: 3})
	deep := append(bytes.Repeat([]byte{0x81}, 100_000), 0x00) // [[[[...0...]]]]
	cases := map[string][]byte{
		// [1, {5: 1, 5: 2}]: the count twice.
		"duplicate keys": {0x82, 0x01, 0xa2, 0x05, 0x01, 0x05, 0x02},
		// [_ 1, {}] and [1, {_ }]: indefinite lengths.
		"indefinite array": {0x9f, 0x01, 0xa0, 0xff},
		"indefinite map":   {0x82, 0x01, 0xbf, 0xff},
		"deep nesting":     append([]byte{0x82, 0x01}, deep...),
		// [1, h'<2^62 bytes>']: a byte string that claims to be huge.
		"huge byte string": {0x82, 0x01, 0x5b, 0x40, 0, 0, 0, 0, 0, 0, 0},
		// [1, [<2^32 items>]]: an array that claims to be huge.
		"huge array":       {0x82, 0x01, 0x9a, 0xff, 0xff, 0xff, 0xff},
		"trailing bytes":   append(append([]byte{}, hello...), 0x00),
		"not canonical":    {0x82, 0x18, 0x01, 0xa0}, // 1 written in two bytes
		"float in a hello": {0x82, 0x01, 0xa1, 0x05, 0xf9, 0x3c, 0x00},
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			kind, body, err := sp.DecodeMsg(payload)
			if err == nil {
				var h sp.Hello
				err = sp.DecodeBody(kind, body, &h)
			}
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, sp.ErrMalformed) {
				t.Errorf("error does not wrap ErrMalformed: %v", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
				t.Errorf("refusing it allocated %d bytes", grew)
			}
		})
	}
	// And the good one decodes.
	kind, body, err := sp.DecodeMsg(hello)
	var h sp.Hello
	if err != nil || kind != sp.MsgHello || sp.DecodeBody(kind, body, &h) != nil || h.Count != 3 {
		t.Fatalf("a good hello: %v", err)
	}
}
