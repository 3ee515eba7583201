package node

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// fuzzBackup makes a small node with a directory record, an attachment and
// a backup key, and returns its backup, the key, and the backup's
// plain content.
func fuzzBackup(tb testing.TB) (file []byte, key BackupKey, plain []byte) {
	tb.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	opts := Options{Now: func() time.Time { return now }, Store: store.Options{KDF: &store.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}},
		Audiences: []string{ShelterAudience}}
	n, err := Init(ctx, filepath.Join(tb.TempDir(), "node"), []byte("fuzz passphrase"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	defer n.Close()
	ch, _ := ChangesFrom(map[string]any{"name/en": "Example Help Line (fictional)", "kind": "hotline", "phone": "867-555-0100"})
	id, err := n.Add(ctx, Directory, ch)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := n.Attach(ctx, id, "poster.txt", bytes.NewReader(bytes.Repeat([]byte("poster "), 100))); err != nil {
		tb.Fatal(err)
	}
	if key, err = n.MakeBackupKey(false); err != nil {
		tb.Fatal(err)
	}
	if err := n.PublishBackupKey(ctx, key); err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := n.WriteBackup(ctx, &buf); err != nil {
		tb.Fatal(err)
	}
	file = buf.Bytes()
	h, err := ReadBackupHeader(bytes.NewReader(file))
	if err != nil {
		tb.Fatal(err)
	}
	priv, _ := ecdh.X25519().NewPrivateKey(key.Private)
	epub, _ := ecdh.X25519().NewPublicKey(h.eph[:])
	shared, _ := priv.ECDH(epub)
	aead, _ := backupAEAD(shared, h.eph[:], priv.PublicKey().Bytes())
	plain, err = io.ReadAll(&frameReader{r: bytes.NewReader(file[backupHeaderLen:]), aead: aead, ad: h.raw, buf: make([]byte, backupSealed)})
	if err != nil {
		tb.Fatal(err)
	}
	return file, key, plain
}

// FuzzBackupFile: a backup file is outside input (a USB drive, a copy
// from anywhere). Whatever its bytes, checking it never panics, and only
// an untouched backup passes.
func FuzzBackupFile(f *testing.F) {
	file, key, _ := fuzzBackup(f)
	f.Add(file)
	f.Add(file[:backupHeaderLen])
	f.Add(file[:len(file)-1])
	f.Add([]byte(backupMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		chk, err := CheckBackup(context.Background(), bytes.NewReader(b), key)
		if err != nil {
			if !errors.Is(err, ErrBadBackup) && !errors.Is(err, ErrBackupKey) {
				t.Fatalf("an error that is neither a bad backup nor a wrong key: %v", err)
			}
			return
		}
		if !bytes.Equal(b, file) {
			t.Fatalf("a changed backup passed the check: %+v", chk)
		}
	})
}

// FuzzBackupItems: the plain content inside the frames is parsed by
// readItems. A backup sealed by a member who knows the public backup key
// can hold anything, so the parser must refuse, never panic on, whatever
// it is given, and accept only a content whose end item adds up.
func FuzzBackupItems(f *testing.F) {
	_, _, plain := fuzzBackup(f)
	// A whole backup's content is some kilobytes, and the fuzzer spends
	// its time minimizing inputs that big: the seed is a small content of
	// the same shape, a meta row, a members entry, another entry, a chunk
	// and the end item.
	small := smallContent(f, plain)
	f.Add(small)
	f.Add(small[:len(small)/2])
	end := func(b []byte) []byte {
		e := backupEnd{Meta: 1}
		eb, _ := sp.Marshal(&e)
		b = append(b, itemEnd)
		b = binary.BigEndian.AppendUint32(b, uint32(len(eb)))
		return append(b, eb...)
	}
	f.Add(end([]byte{itemMeta, 0, 0, 0, 3, 1, 'x', 'y'}))
	f.Add(end(nil))
	f.Add([]byte{itemChunk, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var metas, entries, chunks uint64
		var ended bool
		v := &itemVisitor{
			meta:        func(string, []byte) error { metas++; return nil },
			metaDone:    func() error { return nil },
			entry:       func(sp.Entry) error { entries++; return nil },
			membersDone: func() error { return nil },
			chunk: func(c []byte) error {
				if len(c) == 0 || len(c) > store.MaxChunk {
					t.Fatalf("a chunk of %d bytes passed", len(c))
				}
				chunks++
				return nil
			},
			end: func(e backupEnd) error {
				if e.Entries != entries || e.Meta != metas || e.Chunks != chunks {
					t.Fatalf("an end item that does not add up passed: %+v", e)
				}
				ended = true
				return nil
			},
		}
		err := readItems(bytes.NewReader(b), v)
		if err == nil && !ended {
			t.Fatal("a content without its end item passed")
		}
		if err != nil && !errors.Is(err, ErrBadBackup) {
			t.Fatalf("an error that is not a bad backup: %v", err)
		}
	})
}

// smallContent keeps one item of each kind of a backup's content, and a
// new end item that adds them up.
func smallContent(tb testing.TB, plain []byte) []byte {
	var out bytes.Buffer
	var end backupEnd
	var d sp.Digest
	var members, others int
	v := &itemVisitor{
		meta: func(name string, val []byte) error {
			if name == metaNetwork {
				end.Meta++
				return writeItem(&out, itemMeta, []byte{byte(len(name))}, []byte(name), val)
			}
			return nil
		},
		metaDone: func() error { return nil },
		entry: func(e sp.Entry) error {
			if e.Collection == Members && members == 0 || e.Collection != Members && others == 0 {
				if e.Collection == Members {
					members++
				} else {
					others++
				}
				d.Add(e.Hash())
				return writeItem(&out, itemEntry, e.Encode())
			}
			return nil
		},
		membersDone: func() error { return nil },
		chunk: func(c []byte) error {
			if end.Chunks == 0 {
				end.Chunks++
				return writeItem(&out, itemChunk, c)
			}
			return nil
		},
		end: func(backupEnd) error {
			end.Entries, end.Sum = d.Count, d.Sum
			eb, err := sp.Marshal(&end)
			if err != nil {
				return err
			}
			return writeItem(&out, itemEnd, eb)
		},
	}
	if err := readItems(bytes.NewReader(plain), v); err != nil {
		tb.Fatal(err)
	}
	ok := &itemVisitor{
		meta: func(string, []byte) error { return nil }, metaDone: func() error { return nil },
		entry: func(sp.Entry) error { return nil }, membersDone: func() error { return nil },
		chunk: func([]byte) error { return nil }, end: func(backupEnd) error { return nil },
	}
	if err := readItems(bytes.NewReader(out.Bytes()), ok); err != nil {
		tb.Fatalf("the small seed is not a valid content: %v", err)
	}
	return out.Bytes()
}
