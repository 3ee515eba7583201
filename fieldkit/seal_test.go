package fieldkit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

func deviceOf(k ed25519.PrivateKey) sp.DeviceID {
	var d sp.DeviceID
	copy(d[:], k.Public().(ed25519.PublicKey))
	return d
}

// A device's X25519 public key, computed from its ID alone, is the public
// half of the X25519 key it derives from its own ed25519 key.
func TestX25519FromDeviceKey(t *testing.T) {
	for i := 0; i < 50; i++ {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		pub, err := X25519Public(deviceOf(k))
		if err != nil {
			t.Fatal(err)
		}
		priv, err := x25519Private(k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pub, priv.PublicKey().Bytes()) {
			t.Fatalf("key %d: converted %x, derived %x", i, pub, priv.PublicKey().Bytes())
		}
	}
}

func seal(t *testing.T, to sp.DeviceID, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewSealWriter(&out, to)
	if err != nil {
		t.Fatal(err)
	}
	for len(plain) > 0 { // in uneven writes
		n := min(len(plain), 10_007)
		w.Write(plain[:n])
		plain = plain[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestSealedBundleOpensOnlyForItsDevice(t *testing.T) {
	_, mine, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	plain := bytes.Repeat([]byte("CANARY-SEALED-LOCATION-7f3a 12 Hidden Road; "), 8000) // ~350 KB
	sealed := seal(t, deviceOf(mine), plain)
	if bytes.Contains(sealed, []byte("CANARY")) || bytes.Contains(sealed, []byte("Hidden")) {
		t.Fatal("the sealed file shows its content")
	}
	r, rep, err := OpenSealed(bytes.NewReader(sealed), mine)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, plain) || rep.Damaged != 0 || rep.Cut {
		t.Fatalf("round trip: %d of %d bytes, report %+v", len(got), len(plain), rep)
	}
	if _, _, err := OpenSealed(bytes.NewReader(sealed), other); !errors.Is(err, ErrNotForThisDevice) {
		t.Fatalf("another device: %v", err)
	}
	if _, _, err := OpenSealed(bytes.NewReader([]byte("hello, a text file")), mine); !errors.Is(err, ErrNotForThisDevice) {
		t.Fatalf("a text file: %v", err)
	}
}

// A damaged chunk is left out and the rest opens; a file cut at a chunk
// boundary is seen as cut, though every chunk in it opens.
func TestSealedBundleDamageAndCuts(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	plain := make([]byte, 5*SealChunk+1234)
	rand.Read(plain)
	sealed := seal(t, deviceOf(key), plain)
	chunk := SealChunk + sealOverhead
	bad := bytes.Clone(sealed)
	bad[32+2*chunk+100] ^= 1 // in the third chunk
	r, rep, err := OpenSealed(bytes.NewReader(bad), key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	want := append(bytes.Clone(plain[:2*SealChunk]), plain[3*SealChunk:]...)
	if !bytes.Equal(got, want) || rep.Damaged != 1 || rep.Cut {
		t.Fatalf("damaged chunk: %d bytes, report %+v", len(got), rep)
	}
	cut := sealed[:32+3*chunk]
	r, rep, _ = OpenSealed(bytes.NewReader(cut), key)
	got, _ = io.ReadAll(r)
	if !bytes.Equal(got, plain[:3*SealChunk]) || !rep.Cut {
		t.Fatalf("cut at a chunk boundary: %d bytes, report %+v", len(got), rep)
	}
	// Swapping two chunks: neither opens in the other's place.
	swapped := bytes.Clone(sealed)
	copy(swapped[32:32+chunk], sealed[32+chunk:32+2*chunk])
	copy(swapped[32+chunk:32+2*chunk], sealed[32:32+chunk])
	if _, _, err := OpenSealed(bytes.NewReader(swapped), key); !errors.Is(err, ErrNotForThisDevice) {
		t.Fatalf("swapped chunks: %v", err)
	}
}

// FuzzOpenSealed: a sealed file comes from a USB stick. Whatever it holds,
// opening never panics, and what a file not sealed for the key yields is
// nothing.
func FuzzOpenSealed(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	var good bytes.Buffer
	w, _ := NewSealWriter(&good, deviceOf(key))
	w.Write(bytes.Repeat([]byte("bundle bytes "), 100))
	w.Close()
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:40])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := OpenSealed(bytes.NewReader(b), key)
		if err != nil {
			return
		}
		io.Copy(io.Discard, r)
	})
}
