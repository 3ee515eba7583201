package fieldkit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// samplePack is a small valid pack with two entries, signed by a fixed key.
func samplePack(t testing.TB) []byte {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	var signer sp.DeviceID
	copy(signer[:], key.Public().(ed25519.PublicKey))
	var buf bytes.Buffer
	pw, err := NewPackWriter(&buf, PackHeader{Network: sp.NetworkID{1}, Series: [16]byte{2}, Name: "sample", Version: 1, Created: 1, Signer: signer}, key)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"Fine Clinic (fictional)", "867-555-0100"} {
		b, _ := sp.EncodeValue(v)
		e := sp.Entry{Collection: "directory", Record: sp.RecordID{1}, Field: []string{"name/en", "phone"}[i], Time: sp.MakeHLC(1000, 0), Kind: sp.KindValue, Value: b}
		e.Sign(key)
		if err := pw.Entry(e.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Chunk([]byte("a chunk of a fictional poster")); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzReadPack: a pack comes on a USB stick from anyone. Reading never
// panics; anything but the untouched pack is refused with ErrBadPack (or
// an error of the check); the untouched one reads whole.
func FuzzReadPack(f *testing.F) {
	good := samplePack(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(append(bytes.Clone(good), 0))
	f.Add([]byte("floe-pack"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, chunks := 0, 0
		_, err := ReadPack(bytes.NewReader(b), nil, func(sp.Entry) error { n++; return nil }, func([]byte) error { chunks++; return nil })
		if bytes.Equal(b, good) {
			if err != nil || n != 2 || chunks != 1 {
				t.Fatalf("the untouched pack: %v, %d entries", err, n)
			}
			return
		}
		if err == nil {
			t.Fatal("an altered pack was accepted")
		}
		if !errors.Is(err, ErrBadPack) {
			t.Fatalf("error does not wrap ErrBadPack: %v", err)
		}
	})
}

// FuzzReadServices: a spreadsheet is typed by people. Reading never
// panics; every row returned has a key, a unique one, and every problem a
// line number.
func FuzzReadServices(f *testing.F) {
	f.Add("id,kind,name/en\na,health,Clinic\n")
	f.Add("id,kind,name/en,area\na,health,\"Clinic, the\",kivalliq\na,x,y,z\n")
	f.Add("\ufeffid,kind,name/en\n\"unterminated,health,x\n")
	f.Add("name,phone\n")
	f.Fuzz(func(t *testing.T, s string) {
		rows, bad, err := ReadServices(strings.NewReader(s))
		if err != nil {
			if !errors.Is(err, ErrBadSpreadsheet) {
				t.Fatalf("a whole-file error that is not ErrBadSpreadsheet: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if r.Key == "" || seen[r.Key] || r.Line < 2 {
				t.Fatalf("row %+v", r)
			}
			seen[r.Key] = true
		}
		for _, e := range bad {
			if e.Line < 1 {
				t.Fatalf("a problem without a line: %+v", e)
			}
		}
	})
}
