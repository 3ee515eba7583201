package node

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// Encrypted backups (docs/backup.md). The admin makes a backup key pair on
// the admin's laptop: the private half goes into a file kept offline, the
// public half (an X25519 key) into the members collection as an epoch of
// the "backup" key group, signed by the root. Every node can then encrypt
// a backup to it, unattended, and none can read one. A backup file is a
// plain header and the node's content (its meta rows, every kept entry,
// every attachment chunk) sealed in frames under a key only the backup
// key's private half can derive. Restoring needs that private half and
// rebuilds the node in a new directory, with the same device key and state
// hash, unless the device was revoked.

// BackupGroup is the key group whose epochs are backup public keys.
const BackupGroup = "backup"

// BackupFormatVersion is the backup file's format version.
const BackupFormatVersion = 1

// The backup file's layout. Never change these: add a version.
const (
	backupMagic     = "FLOE-BKP"
	backupVersion   = BackupFormatVersion
	backupHeaderLen = 8 + 2 + 16 + 32 + 8 + 4 + 8 + 32
	backupFrame     = 64 << 10 // plaintext bytes in every frame but the last
	backupSealed    = backupFrame + chacha20poly1305.Overhead
	backupKDFInfo   = "floe/backup/v1"
	backupKeyIDInfo = "floe backup key id\x00"
	backupKeyHeader = "FLOE BACKUP KEY v1"
	// BackupExt is the extension of backup files.
	BackupExt = ".fbk"
)

// Items of the sealed content.
const (
	itemMeta  = 'M'
	itemEntry = 'E'
	itemChunk = 'B'
	itemEnd   = 'Z'
)

// Limits on what a backup may hold, checked as it is read.
const (
	maxBackupMetaRows  = 1 << 16
	maxBackupMetaBytes = 64 << 20
	maxBackupMetaValue = 8 << 20
	maxBackupMetaName  = 128
	maxBackupItem      = 1 + maxBackupMetaName + maxBackupMetaValue
	maxBackupEnd       = 256
)

// Errors that callers branch on.
var (
	// ErrBadBackup means a file is not a usable backup: not one at all,
	// damaged, cut short, or for another network.
	ErrBadBackup = errors.New("not a usable Floe backup")
	// ErrBackupKey means the backup was made for another backup key.
	ErrBackupKey = errors.New("the backup key does not fit this backup")
	// ErrNoBackupKey means the network has no backup key yet.
	ErrNoBackupKey = errors.New("this network has no backup key yet")
	// ErrBadBackupKey means a backup key file did not decode.
	ErrBadBackupKey = errors.New("not a Floe backup key file")
)

// BackupKey is the private half of a backup key, as the admin keeps it
// offline, with what it belongs to.
type BackupKey struct {
	Network sp.NetworkID `cbor:"1,keyasint"`
	Name    string       `cbor:"2,keyasint"` // the network's name
	Root    []byte       `cbor:"3,keyasint"` // the network's root public key
	Epoch   uint32       `cbor:"4,keyasint"`
	Private []byte       `cbor:"5,keyasint"` // X25519 private key
	// Made is when the key was made (Unix milliseconds), for people.
	Made int64 `cbor:"6,keyasint,omitempty"`
}

func (k *BackupKey) priv() (*ecdh.PrivateKey, error) {
	return ecdh.X25519().NewPrivateKey(k.Private)
}

// Public is the X25519 public key that backups are sealed to.
func (k *BackupKey) Public() []byte {
	p, err := k.priv()
	if err != nil {
		return nil
	}
	return p.PublicKey().Bytes()
}

// ID names the key: its epoch and the start of its fingerprint.
func (k *BackupKey) ID() string { return backupKeyName(k.Epoch, backupKeyID(k.Public())) }

func backupKeyID(pub []byte) [8]byte {
	h := sha256.Sum256(append([]byte(backupKeyIDInfo), pub...))
	var id [8]byte
	copy(id[:], h[:8])
	return id
}

func backupKeyName(epoch uint32, id [8]byte) string {
	return "#" + strconv.FormatUint(uint64(epoch), 10) + " (" + hex.EncodeToString(id[:]) + ")"
}

// EncodeBackupKey writes the private half of a backup key as text, to keep
// on paper or a USB stick in a safe.
func EncodeBackupKey(k BackupKey) []byte {
	b, err := sp.Marshal(k)
	if err != nil {
		panic("bug: encoding a backup key: " + err.Error())
	}
	return armor(backupKeyHeader, b)
}

// MaxBackupKeyLen caps a backup key file.
const MaxBackupKeyLen = 4 << 10

// DecodeBackupKey reads what EncodeBackupKey wrote, and checks that it
// holds a whole key.
func DecodeBackupKey(b []byte) (BackupKey, error) {
	var k BackupKey
	raw, err := unarmor(backupKeyHeader, b, MaxBackupKeyLen)
	if err != nil {
		return k, fmt.Errorf("%w: %v", ErrBadBackupKey, err)
	}
	if err := sp.UnmarshalStrict(raw, &k); err != nil {
		return BackupKey{}, fmt.Errorf("%w: %v (a mistyped character?)", ErrBadBackupKey, err)
	}
	if k.Network == (sp.NetworkID{}) || len(k.Root) != ed25519.PublicKeySize || k.Epoch == 0 || len(k.Private) != 32 || k.Public() == nil {
		return BackupKey{}, fmt.Errorf("%w: it lacks a part (a mistyped character?)", ErrBadBackupKey)
	}
	return k, nil
}

// BackupKeyInfo is a backup public key as the members collection states it.
type BackupKeyInfo struct {
	Epoch uint32    `json:"epoch"`
	ID    string    `json:"id"`
	Since time.Time `json:"since"`
	// Current is the key new backups are sealed to: the newest.
	Current bool `json:"current"`
}

// BackupKeys lists the network's backup keys, oldest first.
func (n *Node) BackupKeys() []BackupKeyInfo {
	n.trust.mu.RLock()
	var eps []KeyEpoch
	for _, e := range n.trust.epochs[BackupGroup] {
		eps = append(eps, e)
	}
	n.trust.mu.RUnlock()
	slices.SortFunc(eps, func(a, b KeyEpoch) int { return cmp.Compare(a.Epoch, b.Epoch) })
	out := make([]BackupKeyInfo, 0, len(eps))
	for i, e := range eps {
		out = append(out, BackupKeyInfo{Epoch: e.Epoch, ID: backupKeyName(e.Epoch, backupKeyID(e.Public)),
			Since: time.UnixMilli(e.Since).UTC(), Current: i == len(eps)-1})
	}
	return out
}

// MakeBackupKey makes a new backup key pair on the admin's device and
// returns its private half, without publishing it: write it to its file
// first, then PublishBackupKey. A network that has a backup key gets a new
// one (a new epoch) only with replace: backups made so far still need the
// old key.
func (n *Node) MakeBackupKey(replace bool) (BackupKey, error) {
	root, err := n.rootKey()
	if err != nil {
		return BackupKey{}, err
	}
	clear(root)
	var epoch uint32 = 1
	if ke, ok := n.trust.latestEpoch(BackupGroup); ok {
		if !replace {
			return BackupKey{}, fmt.Errorf("this network has a backup key already, %s, made %s; the backups made so far need it. "+
				"To replace it (its file was lost or seen by someone it should not have been), give --replace, and keep the old key file for the old backups",
				backupKeyName(ke.Epoch, backupKeyID(ke.Public)), time.UnixMilli(ke.Since).UTC().Format("2006-01-02"))
		}
		epoch = ke.Epoch + 1
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return BackupKey{}, err
	}
	return BackupKey{Network: n.net.ID, Name: n.net.Name, Root: slices.Clone(n.net.Root), Epoch: epoch,
		Private: priv.Bytes(), Made: n.now().UnixMilli()}, nil
}

// PublishBackupKey states the public half of k in the members collection,
// signed by the root, so that every node seals its backups to it from its
// next sync on.
func (n *Node) PublishBackupKey(ctx context.Context, k BackupKey) error {
	root, err := n.rootKey()
	if err != nil {
		return err
	}
	defer clear(root)
	if k.Network != n.net.ID || !bytes.Equal(k.Root, n.net.Root) {
		return errors.New("the backup key belongs to another network")
	}
	if ke, ok := n.trust.latestEpoch(BackupGroup); ok && ke.Epoch >= k.Epoch {
		return fmt.Errorf("backup key %d is not newer than the network's backup key %d", k.Epoch, ke.Epoch)
	}
	val, err := signStatement(root, n.net.ID, stmtEpoch, KeyEpoch{Group: BackupGroup, Epoch: k.Epoch, Public: k.Public(), Since: n.now().UnixMilli()})
	if err != nil {
		return err
	}
	field := "epoch/" + strconv.FormatUint(uint64(k.Epoch), 10)
	if err := n.writeMembers(ctx, groupRecord(BackupGroup), []sp.Entry{{Field: field, Kind: sp.KindValue, Value: val}}); err != nil {
		return fmt.Errorf("publishing the backup key: %w", err)
	}
	return nil
}

// BackupHeader is the plain start of a backup file. It is the additional
// data of every frame, so none of it can be changed unnoticed.
type BackupHeader struct {
	Version  uint16
	Network  sp.NetworkID
	Device   sp.DeviceID
	Created  time.Time
	KeyEpoch uint32
	KeyID    [8]byte
	eph      [32]byte
	raw      []byte
}

// Key names the backup key the file was sealed to.
func (h *BackupHeader) Key() string { return backupKeyName(h.KeyEpoch, h.KeyID) }

func (h *BackupHeader) encode() []byte {
	b := make([]byte, 0, backupHeaderLen)
	b = append(b, backupMagic...)
	b = binary.BigEndian.AppendUint16(b, h.Version)
	b = append(b, h.Network[:]...)
	b = append(b, h.Device[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(max(h.Created.UnixMilli(), 0)))
	b = binary.BigEndian.AppendUint32(b, h.KeyEpoch)
	b = append(b, h.KeyID[:]...)
	return append(b, h.eph[:]...)
}

// ReadBackupHeader reads the plain header of a backup file.
func ReadBackupHeader(r io.Reader) (BackupHeader, error) {
	var h BackupHeader
	raw := make([]byte, backupHeaderLen)
	n, err := io.ReadFull(r, raw)
	if err != nil && n < len(backupMagic) {
		if n == 0 && errors.Is(err, io.EOF) {
			return h, fmt.Errorf("%w: the file is empty", ErrBadBackup)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return h, err
		}
	}
	if !bytes.HasPrefix(raw[:n], []byte(backupMagic)) {
		return h, fmt.Errorf("%w: the file does not start as a Floe backup does (%q); is it the right file?", ErrBadBackup, backupMagic)
	}
	if err != nil {
		return h, fmt.Errorf("%w: the file was cut short: it ends at byte %d, inside its header", ErrBadBackup, n)
	}
	h.raw = raw
	p := raw[len(backupMagic):]
	h.Version = binary.BigEndian.Uint16(p)
	if h.Version != backupVersion {
		return h, fmt.Errorf("%w: it is a version %d backup, and this Floe reads version %d; use a newer Floe", ErrBadBackup, h.Version, backupVersion)
	}
	p = p[2:]
	copy(h.Network[:], p)
	p = p[16:]
	copy(h.Device[:], p)
	p = p[32:]
	h.Created = time.UnixMilli(int64(binary.BigEndian.Uint64(p) & (1<<63 - 1))).UTC()
	p = p[8:]
	h.KeyEpoch = binary.BigEndian.Uint32(p)
	p = p[4:]
	copy(h.KeyID[:], p)
	p = p[8:]
	copy(h.eph[:], p)
	return h, nil
}

// CheckKey says whether k is the key h was sealed to.
func (h *BackupHeader) CheckKey(k *BackupKey) error {
	if h.Network != k.Network {
		return fmt.Errorf("%w: the backup is of network %s, and this backup key belongs to network %q (%s); use that network's key file (or the backup is damaged)",
			ErrBackupKey, h.Network, k.Name, k.Network)
	}
	if h.KeyEpoch != k.Epoch || subtle.ConstantTimeCompare(h.KeyID[:], func() []byte { id := backupKeyID(k.Public()); return id[:] }()) != 1 {
		return fmt.Errorf("%w: the backup was sealed to backup key %s, and this key file holds key %s; find the key file of %s (or the backup is damaged)",
			ErrBackupKey, h.Key(), k.ID(), h.Key())
	}
	return nil
}

// backupAEAD derives the file key: HKDF-SHA256 of the X25519 secret of
// the ephemeral key and the backup key, salted with both public keys.
func backupAEAD(shared, ephPub, keyPub []byte) (cipher.AEAD, error) {
	salt := append(append([]byte{}, ephPub...), keyPub...)
	k, err := hkdf.Key(sha256.New, shared, salt, backupKDFInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return chacha20poly1305.NewX(k)
}

func backupNonce(i uint64, last bool) []byte {
	n := make([]byte, chacha20poly1305.NonceSizeX)
	binary.BigEndian.PutUint64(n, i)
	if last {
		n[8] = 1
	}
	return n
}

// frameWriter seals what is written to it in frames of backupFrame bytes;
// Close seals the last, shorter (maybe empty) frame.
type frameWriter struct {
	w    io.Writer
	aead cipher.AEAD
	ad   []byte
	buf  []byte
	i    uint64
	n    int64
	err  error
}

func (f *frameWriter) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	total := len(p)
	for len(p) > 0 {
		k := min(backupFrame-len(f.buf), len(p))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		if len(f.buf) == backupFrame {
			if f.err = f.flush(false); f.err != nil {
				return total - len(p), f.err
			}
		}
	}
	return total, nil
}

func (f *frameWriter) flush(last bool) error {
	out := f.aead.Seal(nil, backupNonce(f.i, last), f.buf, f.ad)
	f.i++
	f.buf = f.buf[:0]
	n, err := f.w.Write(out)
	f.n += int64(n)
	return err
}

func (f *frameWriter) Close() error {
	if f.err != nil {
		return f.err
	}
	f.err = f.flush(true)
	if f.err != nil {
		return f.err
	}
	f.err = errors.New("the backup is closed")
	return nil
}

// frameReader opens the frames after the header. Anything wrong (a frame
// that does not open, a missing last frame, bytes after it) is an error:
// a backup is restored whole or not at all.
type frameReader struct {
	r    io.Reader
	aead cipher.AEAD
	ad   []byte
	buf  []byte
	out  []byte
	i    uint64
	done bool
}

func (f *frameReader) offset() int64 { return backupHeaderLen + int64(f.i)*backupSealed }

func (f *frameReader) next() error {
	n, err := io.ReadFull(f.r, f.buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: the file was cut short: it ends at byte %d, before the end of the backup (was it copied whole?)", ErrBadBackup, f.offset())
	}
	last := n < len(f.buf)
	p, oerr := f.aead.Open(f.out[:0], backupNonce(f.i, last), f.buf[:n], f.ad)
	if oerr != nil {
		if last {
			return fmt.Errorf("%w: the file is damaged or cut short: its last part, from byte %d, does not open; use another copy", ErrBadBackup, f.offset())
		}
		return fmt.Errorf("%w: the file is damaged: the part from byte %d does not open (changed on the disk or the USB drive?); use another copy", ErrBadBackup, f.offset())
	}
	f.out, f.i = p, f.i+1
	if last {
		f.done = true
		var one [1]byte
		if k, _ := io.ReadFull(f.r, one[:]); k > 0 {
			return fmt.Errorf("%w: the file has bytes after the end of the backup, from byte %d", ErrBadBackup, f.offset())
		}
	}
	return nil
}

func (f *frameReader) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.done {
			return 0, io.EOF
		}
		if err := f.next(); err != nil {
			return 0, err
		}
	}
	k := copy(p, f.out)
	f.out = f.out[k:]
	return k, nil
}

// backupEnd is the last item: what the backup holds, to check it whole.
// CBOR keys: never renumber.
type backupEnd struct {
	Entries uint64   `cbor:"1,keyasint"`
	Sum     [32]byte `cbor:"2,keyasint"`
	Meta    uint64   `cbor:"3,keyasint"`
	Chunks  uint64   `cbor:"4,keyasint"`
	// Clock is the backed-up node's clock: no entry it ever wrote or
	// kept is stamped later.
	Clock sp.HLC `cbor:"5,keyasint"`
}

func writeItem(w io.Writer, kind byte, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var h [5]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], uint32(n))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// BackupInfo says what a backup holds.
type BackupInfo struct {
	File      string    `json:"file,omitempty"`
	Device    string    `json:"device"`
	Network   string    `json:"network_id"`
	Created   time.Time `json:"created"`
	Key       string    `json:"backup_key"`
	Entries   uint64    `json:"entries"`
	Meta      int       `json:"meta_rows"`
	Chunks    int       `json:"chunks"`
	Bytes     int64     `json:"bytes"`
	StateHash string    `json:"state_hash"`
}

// WriteBackup writes a backup of this node to w: a consistent snapshot,
// taken while the node goes on working, sealed to the network's newest
// backup key. It needs no secret: the node cannot read what it wrote.
func (n *Node) WriteBackup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	var info BackupInfo
	ke, ok := n.trust.latestEpoch(BackupGroup)
	if !ok {
		return info, fmt.Errorf("%w: the admin makes one on the admin's laptop with 'floe backup key new --out FILE', and it reaches this laptop at the next sync or bundle", ErrNoBackupKey)
	}
	kpub, err := ecdh.X25519().NewPublicKey(ke.Public)
	if err != nil {
		return info, fmt.Errorf("the backup key in the members records is not usable: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return info, err
	}
	shared, err := eph.ECDH(kpub)
	if err != nil {
		return info, err
	}
	h := BackupHeader{Version: backupVersion, Network: n.net.ID, Device: n.id, Created: n.now().UTC().Truncate(time.Millisecond),
		KeyEpoch: ke.Epoch, KeyID: backupKeyID(ke.Public)}
	copy(h.eph[:], eph.PublicKey().Bytes())
	aead, err := backupAEAD(shared, h.eph[:], ke.Public)
	clear(shared)
	if err != nil {
		return info, err
	}
	// The clock before the snapshot: the snapshot's own newest timestamp
	// covers anything written in between. (While the snapshot is open,
	// nothing here may wait on the node's write lock: a store closing
	// meanwhile would wait on the snapshot.)
	n.mu.Lock()
	clock := n.clock.Last()
	n.mu.Unlock()
	snap, err := n.st.Snapshot()
	if err != nil {
		return info, err
	}
	defer snap.Close()
	sum, err := snap.Summary(ctx)
	if err != nil {
		return info, err
	}
	hb := h.encode()
	if _, err := w.Write(hb); err != nil {
		return info, err
	}
	fw := &frameWriter{w: w, aead: aead, ad: hb, buf: make([]byte, 0, backupFrame)}
	bw := bufio.NewWriterSize(fw, 32<<10)
	end := backupEnd{Clock: max(clock, sum.LastWrite)}
	if err := snap.Meta(ctx, func(name string, v []byte) error {
		end.Meta++
		return writeItem(bw, itemMeta, []byte{byte(len(name))}, []byte(name), v)
	}); err != nil {
		return info, err
	}
	// The members collection first, so that a restore knows at once
	// whether the device was revoked; then the rest.
	var d sp.Digest
	put := func(e sp.Entry) error {
		d.Add(e.Hash())
		return writeItem(bw, itemEntry, e.Encode())
	}
	if err := snap.Collection(ctx, Members, put); err != nil {
		return info, err
	}
	if err := snap.Entries(ctx, func(_ sp.EntryHash, e sp.Entry) error {
		if e.Collection == Members {
			return nil
		}
		return put(e)
	}); err != nil {
		return info, err
	}
	if d != sum.Digest {
		return info, fmt.Errorf("%w: the store's entries do not add up to its digest; run 'floe verify'", store.ErrIntegrity)
	}
	if err := snap.Chunks(ctx, func(_ store.ChunkHash, c []byte) error {
		end.Chunks++
		return writeItem(bw, itemChunk, c)
	}); err != nil {
		return info, err
	}
	snap.Close()
	end.Entries, end.Sum = d.Count, d.Sum
	eb, err := sp.Marshal(&end)
	if err != nil {
		return info, err
	}
	if err := writeItem(bw, itemEnd, eb); err != nil {
		return info, err
	}
	if err := bw.Flush(); err != nil {
		return info, err
	}
	if err := fw.Close(); err != nil {
		return info, err
	}
	sh := d.StateHash()
	info = BackupInfo{Device: n.id.String(), Network: n.net.ID.String(), Created: h.Created, Key: h.Key(),
		Entries: d.Count, Meta: int(end.Meta), Chunks: int(end.Chunks), Bytes: int64(len(hb)) + fw.n, StateHash: hex.EncodeToString(sh[:])}
	return info, nil
}

// backupMu serializes a process's backups to files, so that scheduled and
// asked-for backups never write the same folder at once.
var backupMu sync.Mutex

// WriteBackupFile writes a backup to path, which must not exist, by way
// of path.part: a file at path is always a whole backup.
func (n *Node) WriteBackupFile(ctx context.Context, path string) (BackupInfo, error) {
	backupMu.Lock()
	defer backupMu.Unlock()
	return n.writeBackupFile(ctx, path)
}

func (n *Node) writeBackupFile(ctx context.Context, path string) (info BackupInfo, err error) {
	if _, ok := n.trust.latestEpoch(BackupGroup); !ok {
		_, err := n.WriteBackup(ctx, io.Discard) // says how to get a key
		return info, err
	}
	if _, err := os.Lstat(path); err == nil {
		return info, fmt.Errorf("%s already exists; choose another name or remove it first", path)
	}
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return info, fmt.Errorf("writing the backup: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(part)
			err = fmt.Errorf("writing the backup to %s: %w; no backup was kept", path, err)
		}
	}()
	if info, err = n.WriteBackup(ctx, f); err != nil {
		return info, err
	}
	if err = f.Sync(); err != nil {
		return info, err
	}
	if err = f.Close(); err != nil {
		return info, err
	}
	if err = os.Rename(part, path); err != nil {
		return info, err
	}
	syncParent(path)
	info.File = path
	n.noteBackup(info)
	n.log.Info("backup written", "file", filepath.Base(path), "entries", info.Entries, "chunks", info.Chunks, "bytes", info.Bytes, "key", info.Key)
	return info, nil
}

// syncParent makes a rename durable where that takes a directory sync.
func syncParent(path string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
}

// BackupFileName is the name of a backup of device d made at t in a
// backup folder: floe-backup-DEVICE-YYYYMMDDTHHMMSS.fbk, with DEVICE the
// eight characters 'floe member list' shows after "dev:", and the time in
// UTC. Names sort by time.
func BackupFileName(d sp.DeviceID, t time.Time) string {
	return backupPrefix(d) + t.UTC().Format(backupTimeLayout) + BackupExt
}

const backupTimeLayout = "20060102T150405"

func backupPrefix(d sp.DeviceID) string {
	return "floe-backup-" + strings.TrimPrefix(d.Short(), "dev:") + "-"
}

// backupsIn lists this device's backups in dir, oldest first, and the
// .part files its interrupted backups left.
func backupsIn(dir string, d sp.DeviceID) (whole, parts []string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	pre := backupPrefix(d)
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, pre) || !e.Type().IsRegular() {
			continue
		}
		stamp, isPart := strings.CutSuffix(strings.TrimPrefix(name, pre), BackupExt+".part")
		if !isPart {
			var ok bool
			if stamp, ok = strings.CutSuffix(strings.TrimPrefix(name, pre), BackupExt); !ok {
				continue
			}
		}
		if _, err := time.Parse(backupTimeLayout, stamp); err != nil {
			continue
		}
		if isPart {
			parts = append(parts, name)
		} else {
			whole = append(whole, name)
		}
	}
	slices.Sort(whole)
	return whole, parts, nil
}

// BackupInto writes a backup into the folder dir under BackupFileName,
// then removes this device's older backups there beyond the newest keep
// (and .part files of interrupted ones). Other files, and other devices'
// backups, are left alone. A failed backup removes nothing.
func (n *Node) BackupInto(ctx context.Context, dir string, keep int) (BackupInfo, error) {
	if keep < 1 {
		return BackupInfo{}, errors.New("keep at least one backup")
	}
	backupMu.Lock()
	defer backupMu.Unlock()
	st, err := os.Stat(dir)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("the backup folder: %w (is the drive plugged in?)", err)
	}
	if !st.IsDir() {
		return BackupInfo{}, fmt.Errorf("the backup folder %s is a file", dir)
	}
	if _, parts, err := backupsIn(dir, n.id); err == nil {
		for _, p := range parts {
			os.Remove(filepath.Join(dir, p)) // this process holds backupMu: nothing else writes them
		}
	}
	info, err := n.writeBackupFile(ctx, filepath.Join(dir, BackupFileName(n.id, n.now())))
	if err != nil {
		return info, err
	}
	whole, _, err := backupsIn(dir, n.id)
	if err != nil {
		return info, nil
	}
	for len(whole) > keep {
		if err := os.Remove(filepath.Join(dir, whole[0])); err != nil {
			n.log.Warn("could not remove an old backup", "file", whole[0], "err", err)
		}
		whole = whole[1:]
	}
	return info, nil
}

// BackupSchedule says where and how often RunBackups writes backups.
type BackupSchedule struct {
	Dir   string
	Every time.Duration
	Keep  int
	// Written, if set, is called after every try.
	Written func(BackupInfo, error)
}

// backupRetry caps the wait after a failed scheduled backup: the drive
// may be plugged in again soon.
const backupRetry = 10 * time.Minute

// RunBackups writes a backup into s.Dir every s.Every, keeping the newest
// s.Keep, until ctx ends. The first is due s.Every after the newest backup
// of this device already in the folder (at once if there is none). A
// failure (the drive unplugged, no backup key yet) is logged and tried
// again after at most ten minutes.
func (n *Node) RunBackups(ctx context.Context, s BackupSchedule) {
	if s.Every <= 0 || s.Keep < 1 {
		n.log.Warn("scheduled backups are off: give an interval and a number to keep")
		return
	}
	due := time.Now()
	if whole, _, err := backupsIn(s.Dir, n.id); err == nil && len(whole) > 0 {
		last := whole[len(whole)-1]
		stamp := strings.TrimSuffix(strings.TrimPrefix(last, backupPrefix(n.id)), BackupExt)
		if t, err := time.Parse(backupTimeLayout, stamp); err == nil {
			due = t.Add(s.Every)
		}
	}
	for {
		t := time.NewTimer(max(time.Until(due), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		info, err := n.BackupInto(ctx, s.Dir, s.Keep)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait := min(s.Every, backupRetry)
			n.log.Warn("scheduled backup failed; trying again later", "dir", s.Dir, "in", wait.String(), "err", err)
			due = time.Now().Add(wait)
		} else {
			due = time.Now().Add(s.Every)
		}
		if s.Written != nil {
			s.Written(info, err)
		}
	}
}

// metaRow is one meta row of a backup.
type metaRow struct {
	name  string
	value []byte
}

// backupSink receives a backup's content as readBackup checks it.
type backupSink interface {
	// header gets the header, once its key has been checked.
	header(h *BackupHeader) error
	// meta gets every meta row, once, before any entry: checked already
	// against the header and the key.
	meta(rows []metaRow) error
	// entries gets entries whose structure and signatures verify, members
	// entries first; membersDone is called once between the two.
	entries(es []sp.Entry) error
	membersDone() error
	chunks(cs [][]byte) error
	// end is called once the whole backup has been read and checked.
	end(e backupEnd) error
}

const (
	restoreEntryBatch = 2048
	restoreChunkBatch = 32
)

// readItems parses the plain content of a backup: meta rows, entries
// (members first), chunks and the end item, in that order, each within
// its limits, and checks it whole against the end item. It calls fn for
// each item as it goes.
func readItems(r io.Reader, v *itemVisitor) error {
	br := bufio.NewReaderSize(r, 64<<10)
	const (
		inMeta = iota
		inMembers
		inEntries
		inChunks
		atEnd
	)
	phase := inMeta
	var (
		metaBytes, metaRows int
		lastName            string
		lastChunk           []byte
		d                   sp.Digest
		chunks              uint64
		hdr                 [5]byte
		buf                 bytes.Buffer
	)
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: its content is not what a backup holds (%s)", ErrBadBackup, fmt.Sprintf(format, a...))
	}
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) && phase == atEnd {
				return nil
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return bad("it ends before its last item")
			}
			return err
		}
		if phase == atEnd {
			return bad("an item after the last")
		}
		kind, size := hdr[0], binary.BigEndian.Uint32(hdr[1:])
		limit := 0
		switch kind {
		case itemMeta:
			limit = maxBackupItem
		case itemEntry:
			limit = sp.MaxEntryLen
		case itemChunk:
			limit = store.MaxChunk
		case itemEnd:
			limit = maxBackupEnd
		default:
			return bad("an item of unknown kind %#x", kind)
		}
		if size == 0 || int64(size) > int64(limit) {
			return bad("an item of %d bytes", size)
		}
		// Read into a buffer that grows with what arrives, not with what
		// the item claims.
		buf.Reset()
		if k, err := io.CopyN(&buf, br, int64(size)); k < int64(size) {
			if err == nil || errors.Is(err, io.EOF) {
				return bad("it ends inside an item")
			}
			return err
		}
		b := buf.Bytes()
		switch kind {
		case itemMeta:
			if phase != inMeta {
				return bad("a meta row after the entries")
			}
			nl := int(b[0])
			if nl == 0 || 1+nl > len(b) {
				return bad("a meta row without a name")
			}
			name := string(b[1 : 1+nl])
			if err := checkBackupMetaName(name); err != nil {
				return bad("%v", err)
			}
			if name <= lastName {
				return bad("meta rows out of order")
			}
			lastName = name
			val := b[1+nl:]
			if len(val) > maxBackupMetaValue {
				return bad("a meta row of %d bytes", len(val))
			}
			metaRows++
			metaBytes += len(val)
			if metaRows > maxBackupMetaRows || metaBytes > maxBackupMetaBytes {
				return bad("more meta rows than a node keeps")
			}
			if err := v.meta(name, bytes.Clone(val)); err != nil {
				return err
			}
		case itemEntry:
			if phase == inMeta {
				if err := v.metaDone(); err != nil {
					return err
				}
				phase = inMembers
			}
			if phase > inEntries {
				return bad("an entry after the attachments")
			}
			e, err := sp.DecodeEntry(b)
			if err != nil {
				return bad("an entry does not decode: %v", err)
			}
			if e.Collection == Members {
				if phase != inMembers {
					return bad("a members entry after the others")
				}
			} else if phase == inMembers {
				if err := v.membersDone(); err != nil {
					return err
				}
				phase = inEntries
			}
			d.Add(e.Hash())
			if err := v.entry(e); err != nil {
				return err
			}
		case itemChunk:
			if phase == inMeta {
				if err := v.metaDone(); err != nil {
					return err
				}
				phase = inMembers
			}
			if phase == inMembers {
				if err := v.membersDone(); err != nil {
					return err
				}
			}
			phase = inChunks
			h := sha256.Sum256(b)
			if lastChunk != nil && bytes.Compare(h[:], lastChunk) <= 0 {
				return bad("attachment chunks out of order")
			}
			lastChunk = h[:]
			chunks++
			if err := v.chunk(bytes.Clone(b)); err != nil {
				return err
			}
		case itemEnd:
			var end backupEnd
			if err := sp.UnmarshalStrict(b, &end); err != nil {
				return bad("its last item does not decode: %v", err)
			}
			if end.Entries != d.Count || end.Sum != d.Sum || end.Meta != uint64(metaRows) || end.Chunks != chunks {
				return bad("it holds %d entries, %d meta rows and %d chunks, and says %d, %d and %d",
					d.Count, metaRows, chunks, end.Entries, end.Meta, end.Chunks)
			}
			if phase == inMeta {
				if err := v.metaDone(); err != nil {
					return err
				}
				phase = inMembers
			}
			if phase == inMembers {
				if err := v.membersDone(); err != nil {
					return err
				}
			}
			phase = atEnd
			if err := v.end(end); err != nil {
				return err
			}
		}
	}
}

// itemVisitor is called by readItems.
type itemVisitor struct {
	meta        func(name string, v []byte) error
	metaDone    func() error
	entry       func(sp.Entry) error
	membersDone func() error
	chunk       func([]byte) error
	end         func(backupEnd) error
}

func checkBackupMetaName(name string) error {
	if name == "" || len(name) > maxBackupMetaName {
		return fmt.Errorf("a meta row name of %d bytes", len(name))
	}
	for _, r := range name {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return errors.New("a meta row name that is not printable ASCII")
		}
	}
	if strings.HasPrefix(name, "store.") {
		return errors.New("a meta row of the store's own")
	}
	return nil
}

// readBackup reads a whole backup from r with the private key k, checks
// it (header, every frame, every item, the entries' signatures, the meta
// rows against the header and the key) and passes its content to sink in
// batches. Any problem is an error, and sink is not called after it.
func readBackup(ctx context.Context, r io.Reader, k *BackupKey, sink backupSink) (BackupHeader, error) {
	h, err := ReadBackupHeader(r)
	if err != nil {
		return h, err
	}
	if err := h.CheckKey(k); err != nil {
		return h, err
	}
	if err := sink.header(&h); err != nil {
		return h, err
	}
	priv, err := k.priv()
	if err != nil {
		return h, err
	}
	epub, err := ecdh.X25519().NewPublicKey(h.eph[:])
	if err != nil {
		return h, fmt.Errorf("%w: the file is damaged: its header does not hold a key", ErrBadBackup)
	}
	shared, err := priv.ECDH(epub)
	if err != nil {
		return h, fmt.Errorf("%w: the file is damaged: its header does not hold a usable key", ErrBadBackup)
	}
	aead, err := backupAEAD(shared, h.eph[:], priv.PublicKey().Bytes())
	clear(shared)
	if err != nil {
		return h, err
	}
	fr := &frameReader{r: r, aead: aead, ad: h.raw, buf: make([]byte, backupSealed)}
	var (
		rows   []metaRow
		batch  []sp.Entry
		cbatch [][]byte
		items  int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		errs := parallel(len(batch), func(i int) error { return batch[i].Verify() })
		for _, e := range errs {
			if e != nil {
				return fmt.Errorf("%w: an entry in it does not verify: %v", ErrBadBackup, e)
			}
		}
		err := sink.entries(batch)
		batch = batch[:0]
		return err
	}
	flushChunks := func() error {
		if len(cbatch) == 0 {
			return nil
		}
		err := sink.chunks(cbatch)
		cbatch = cbatch[:0]
		return err
	}
	tick := func() error {
		if items++; items%256 == 0 {
			return ctx.Err()
		}
		return nil
	}
	v := &itemVisitor{
		meta: func(name string, val []byte) error {
			rows = append(rows, metaRow{name, val})
			return tick()
		},
		metaDone: func() error {
			if err := checkBackupMeta(&h, k, rows); err != nil {
				return err
			}
			return sink.meta(rows)
		},
		entry: func(e sp.Entry) error {
			batch = append(batch, e)
			if len(batch) == restoreEntryBatch {
				if err := flush(); err != nil {
					return err
				}
			}
			return tick()
		},
		membersDone: func() error {
			if err := flush(); err != nil {
				return err
			}
			return sink.membersDone()
		},
		chunk: func(c []byte) error {
			if err := flush(); err != nil {
				return err
			}
			cbatch = append(cbatch, c)
			if len(cbatch) == restoreChunkBatch {
				if err := flushChunks(); err != nil {
					return err
				}
			}
			return tick()
		},
		end: func(e backupEnd) error {
			if err := flush(); err != nil {
				return err
			}
			if err := flushChunks(); err != nil {
				return err
			}
			return sink.end(e)
		},
	}
	return h, readItems(fr, v)
}

// checkBackupMeta checks the meta rows that make the node what it is: its
// device key must be the device the header names, and its network the
// network of the backup key, with the same root key.
func checkBackupMeta(h *BackupHeader, k *BackupKey, rows []metaRow) error {
	get := func(name string) []byte {
		for _, r := range rows {
			if r.name == name {
				return r.value
			}
		}
		return nil
	}
	seed := get(metaDeviceKey)
	if len(seed) != ed25519.SeedSize {
		return fmt.Errorf("%w: it holds no device key", ErrBadBackup)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if !bytes.Equal(pub, h.Device[:]) {
		return fmt.Errorf("%w: its device key is not the device its header names (damaged, or not made by that device)", ErrBadBackup)
	}
	var net Network
	if err := sp.UnmarshalStrict(get(metaNetwork), &net); err != nil {
		return fmt.Errorf("%w: its network record does not decode: %v", ErrBadBackup, err)
	}
	if net.ID != h.Network || !bytes.Equal(net.Root, k.Root) {
		return fmt.Errorf("%w: the node in it belongs to another network, or one with another root key, than this backup key", ErrBackupKey)
	}
	return nil
}

// BackupCheck says what CheckBackup found.
type BackupCheck struct {
	BackupInfo
	// NetworkName is the network's name as the backed-up node had it.
	NetworkName string `json:"network_name"`
	// Name and Role are the device's, from its certificate in the
	// backup (empty if it had none yet).
	Name string `json:"name,omitempty"`
	Role string `json:"role,omitempty"`
	// Revoked is set when the backup itself records the device's
	// revocation.
	Revoked bool `json:"revoked,omitempty"`
}

// checkSink reads a backup and keeps nothing.
type checkSink struct {
	h     *BackupHeader
	t     *trust
	net   Network
	out   *BackupCheck
	mkeys []sp.Entry
}

func (c *checkSink) header(h *BackupHeader) error { c.h = h; return nil }

func (c *checkSink) meta(rows []metaRow) error {
	for _, r := range rows {
		if r.name == metaNetwork {
			if err := sp.UnmarshalStrict(r.value, &c.net); err != nil {
				return err
			}
			c.out.NetworkName = c.net.Name
		}
	}
	c.out.Meta = len(rows)
	return nil
}

func (c *checkSink) entries(es []sp.Entry) error {
	for i := range es {
		if es[i].Collection == Members {
			c.mkeys = append(c.mkeys, es[i])
		}
	}
	c.out.Entries += uint64(len(es))
	return nil
}

func (c *checkSink) membersDone() error {
	// The members records, judged as the node itself would.
	n := &Node{net: c.net, trust: newTrust(), keys: map[string][]byte{}}
	sortMembersFirst(c.mkeys)
	for i := range c.mkeys {
		n.observe(&c.mkeys[i])
	}
	cert, _ := n.trust.cert(c.h.Device)
	c.out.Name, c.out.Role = cert.Name, cert.Role
	c.out.Revoked = n.Revoked(c.h.Device)
	c.mkeys = nil
	return nil
}

func (c *checkSink) chunks(cs [][]byte) error { c.out.Chunks += len(cs); return nil }
func (c *checkSink) end(e backupEnd) error {
	sh := sp.Digest{Count: e.Entries, Sum: e.Sum}.StateHash()
	c.out.StateHash = hex.EncodeToString(sh[:])
	return nil
}

// CheckBackup reads a whole backup with its key and checks every part of
// it, as a restore would, without writing anything.
func CheckBackup(ctx context.Context, r io.Reader, k BackupKey) (BackupCheck, error) {
	var out BackupCheck
	cr := &countReader{r: r}
	h, err := readBackup(ctx, cr, &k, &checkSink{out: &out})
	out.fill(&h)
	out.Bytes = cr.n
	return out, err
}

func (c *BackupCheck) fill(h *BackupHeader) {
	c.Device, c.Network, c.Created, c.Key = h.Device.String(), h.Network.String(), h.Created, h.Key()
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	Options
	// NewDevice restores the records under a new device key: the node
	// then needs admitting, with the invite in Join. It is the only way
	// to restore a revoked device's backup.
	NewDevice bool
	Join      *Invite
}

// RestoreReport says what Restore did.
type RestoreReport struct {
	BackupCheck
	// Dir is the restored node's directory, and NodeID its device ID:
	// the backed-up device's, or a new one with NewDevice.
	Dir    string `json:"dir"`
	NodeID string `json:"node_id"`
	// NewDevice is set when the node was restored as a new device.
	NewDevice bool `json:"new_device"`
}

// Meta rows a new device does not take from the backup: its own key and
// join invite, and what belonged to the old device's identity (the
// acknowledgements peers made to it, its LAN certificate and the phones
// paired with it).
func droppedForNewDevice(name string) bool {
	switch name {
	case metaDeviceKey, metaJoinInvite, "lan-tls", "paired-devices":
		return true
	}
	return strings.HasPrefix(name, "ack/")
}

// restoreSink writes a backup's content into a new store.
type restoreSink struct {
	ctx  context.Context
	dir  string
	pass []byte
	opts RestoreOptions
	h    *BackupHeader
	st   *store.Store
	n    *Node
	out  *RestoreReport
}

func (s *restoreSink) header(h *BackupHeader) error { s.h = h; return nil }

func (s *restoreSink) meta(rows []metaRow) error {
	var root bool
	for _, r := range rows {
		root = root || r.name == metaRootKey
	}
	if s.opts.NewDevice && root {
		return errors.New("this is a backup of the admin's laptop (it holds the network's root key): it is restored as the device it was, never as a new one; leave out --new-device")
	}
	st, err := store.Create(s.ctx, s.dir, s.pass, s.opts.Store)
	if err != nil {
		return err
	}
	s.st = st
	seed := rows[slices.IndexFunc(rows, func(r metaRow) bool { return r.name == metaDeviceKey })].value
	if s.opts.NewDevice {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		seed = priv.Seed()
	}
	if err := st.PutMeta(metaDeviceKey, seed); err != nil {
		return err
	}
	for _, r := range rows {
		if r.name == metaDeviceKey || (s.opts.NewDevice && droppedForNewDevice(r.name)) {
			continue
		}
		if r.name == metaNetwork && s.opts.NewDevice {
			// The network key in use now, from the invite: a new device
			// holds no wrap of the rotated ones.
			var net Network
			if err := sp.UnmarshalStrict(r.value, &net); err != nil {
				return err
			}
			net.PSK = s.opts.Join.Network.PSK
			b, err := sp.Marshal(net)
			if err != nil {
				return err
			}
			r.value = b
		}
		if err := st.PutMeta(r.name, r.value); err != nil {
			return fmt.Errorf("restoring meta row %q: %w", r.name, err)
		}
	}
	s.n = newNode(st, ed25519.NewKeyFromSeed(seed), s.opts.Options)
	if err := s.n.loadNetwork(); err != nil {
		return err
	}
	s.out.NetworkName = s.n.net.Name
	s.out.Meta = len(rows)
	return nil
}

func (s *restoreSink) entries(es []sp.Entry) error {
	if _, err := s.st.ApplyVerified(s.ctx, es); err != nil {
		return fmt.Errorf("restoring entries: %w", err)
	}
	s.out.Entries += uint64(len(es))
	return nil
}

func (s *restoreSink) membersDone() error {
	if err := s.n.loadTrust(s.ctx); err != nil {
		return err
	}
	old := s.h.Device
	cert, _ := s.n.trust.cert(old)
	s.out.Name, s.out.Role = cert.Name, cert.Role
	r, revoked := s.n.trust.revocation(old)
	s.out.Revoked = revoked
	if revoked && !s.opts.NewDevice {
		why := ""
		if r.Reason != "" {
			why = " (" + r.Reason + ")"
		}
		return fmt.Errorf("%w: the backup is of device %s, revoked on %s%s. A revoked laptop's identity is never restored: every other laptop refuses it. "+
			"Restore its records as a new device instead: the admin makes an invite for it ('floe member invite'), then 'floe restore FILE --new-device --join INVITE', and the admin admits the new device",
			ErrRevoked, old.Short(), r.At.Time().UTC().Format("2006-01-02"), why)
	}
	return nil
}

func (s *restoreSink) chunks(cs [][]byte) error {
	if _, err := s.st.PutChunks(s.ctx, cs); err != nil {
		return fmt.Errorf("restoring attachment chunks: %w", err)
	}
	s.out.Chunks += len(cs)
	return nil
}

func (s *restoreSink) end(e backupEnd) error {
	sum, err := s.st.Summary(s.ctx)
	if err != nil {
		return err
	}
	if sum.Digest.Count != e.Entries || sum.Digest.Sum != e.Sum {
		return fmt.Errorf("%w: its entries, applied, do not make the state it records (%d entries kept of %d)", ErrBadBackup, sum.Digest.Count, e.Entries)
	}
	// The clock starts after everything the device ever wrote or saw,
	// even entries pruned since: nothing new is stamped like an old one.
	if err := s.st.RaiseLastWrite(e.Clock); err != nil {
		return err
	}
	sh := sum.Digest.StateHash()
	s.out.StateHash = hex.EncodeToString(sh[:])
	if s.opts.NewDevice {
		inv := s.opts.Join
		if err := s.n.AddPeer(Peer{Device: inv.From, Name: inv.Name, Addrs: inv.Addrs}); err != nil {
			return err
		}
		if err := s.st.PutMeta(metaJoinInvite, inv.ID[:]); err != nil {
			return err
		}
	}
	return nil
}

// Restore rebuilds a node from a backup into dir, which must not exist or
// be empty, with a new passphrase. It needs the backup key's private half.
// The node is built in a directory beside dir and renamed into place only
// once the whole backup has been read, checked and applied: a damaged,
// cut or wrong backup leaves nothing behind.
//
// The restored node has the backed-up device's key and the same state
// hash, and its clock starts after every entry that device wrote. A
// device the backup shows as revoked is refused, unless opts.NewDevice:
// then the records are restored under a new device key, to be admitted
// with the invite in opts.Join.
func Restore(ctx context.Context, r io.Reader, k BackupKey, dir string, passphrase []byte, opts RestoreOptions) (rep RestoreReport, err error) {
	opts.fill()
	rep.Dir = dir
	rep.NewDevice = opts.NewDevice
	if opts.NewDevice {
		if opts.Join == nil {
			return rep, errors.New("a new device needs an invite from the admin (--join INVITE)")
		}
		if opts.Join.Network.ID != k.Network || !bytes.Equal(opts.Join.Network.Root, k.Root) {
			return rep, fmt.Errorf("the invite is for network %q (%s), and the backup key for %q (%s); use an invite of the backup's network",
				opts.Join.Network.Name, opts.Join.Network.ID, k.Name, k.Network)
		}
	}
	if err := checkRestoreDir(dir); err != nil {
		return rep, err
	}
	tmp := filepath.Join(filepath.Dir(filepath.Clean(dir)), "."+filepath.Base(filepath.Clean(dir))+".restoring")
	if err := os.RemoveAll(tmp); err != nil {
		return rep, fmt.Errorf("removing what an interrupted restore left in %s: %w", tmp, err)
	}
	sink := &restoreSink{ctx: ctx, dir: tmp, pass: passphrase, opts: opts, out: &rep}
	defer func() {
		if err != nil {
			if sink.st != nil {
				sink.st.Close()
			}
			os.RemoveAll(tmp)
			err = fmt.Errorf("%w; nothing was restored, and %s was not made", err, dir)
		}
	}()
	cr := &countReader{r: r}
	var h BackupHeader
	h, err = readBackup(ctx, cr, &k, sink)
	rep.fill(&h)
	rep.Bytes = cr.n
	if err != nil {
		return rep, err
	}
	rep.NodeID = sink.n.ID().String()
	if err = sink.st.Close(); err != nil {
		return rep, err
	}
	sink.st = nil
	if err = placeRestored(tmp, dir); err != nil {
		return rep, err
	}
	opts.Logger.Info("node restored from a backup", "device", sink.n.ID().Short(), "entries", rep.Entries, "new_device", opts.NewDevice)
	return rep, nil
}

// checkRestoreDir refuses a dir that exists and is not an empty directory.
func checkRestoreDir(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is a file; restore into a new directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s is not empty (it holds %s); a restore never overwrites anything: give a new or empty directory", dir, ents[0].Name())
	}
	return nil
}

// placeRestored renames the finished node into place.
func placeRestored(tmp, dir string) error {
	if err := checkRestoreDir(dir); err != nil {
		return err
	}
	os.Remove(dir) // an empty directory, if any: Windows renames onto nothing only
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o700); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("moving the restored node into %s: %w", dir, err)
	}
	syncParent(filepath.Clean(dir))
	return nil
}

// Asking a running node for a backup. While 'floe node run' holds the
// store, no other process can open it, so 'floe backup' leaves a request
// file in the node's directory; the running node takes it (renaming it,
// so that only one process does), writes the backup itself, and answers
// in a result file. Files work the same on every system and need no open
// port; the directory is the user's own.
const (
	backupRequestFile = "floe.backup-request"
	backupResultFile  = "floe.backup-result"
	// backupRequestTTL is how long a request stays good: one left by an
	// asker that died is not acted on later.
	backupRequestTTL = 2 * time.Minute
	maxBackupRequest = 8 << 10
)

// BackupRequest is what 'floe backup' asks a running node to do: write a
// backup to the file Out, or into the folder Into keeping Keep. Paths are
// absolute: the node runs elsewhere.
type BackupRequest struct {
	ID   string `json:"id"`
	Out  string `json:"out,omitempty"`
	Into string `json:"into,omitempty"`
	Keep int    `json:"keep,omitempty"`
	Made int64  `json:"made"` // Unix milliseconds
}

type backupAnswer struct {
	ID    string      `json:"id"`
	Info  *BackupInfo `json:"info,omitempty"`
	Error string      `json:"error,omitempty"`
}

// ErrNoRunningNode means no running node took a backup request.
var ErrNoRunningNode = errors.New("no running node took the backup request")

func (r *BackupRequest) check() error {
	switch {
	case r.ID == "" || len(r.ID) > 64:
		return errors.New("a backup request without an ID")
	case (r.Out == "") == (r.Into == ""):
		return errors.New("a backup request names a file or a folder")
	case r.Out != "" && !filepath.IsAbs(r.Out), r.Into != "" && !filepath.IsAbs(r.Into):
		return errors.New("a backup request names a relative path")
	case r.Into != "" && r.Keep < 1:
		return errors.New("a backup request keeps no backup")
	}
	return nil
}

// ServeBackupRequests takes backup requests from the node's directory,
// checking every interval, until ctx ends. 'floe node run' runs it.
func (n *Node) ServeBackupRequests(ctx context.Context, every time.Duration) {
	dir := n.st.Dir()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req := filepath.Join(dir, backupRequestFile)
		taken := req + ".taken"
		if err := os.Rename(req, taken); err != nil {
			continue
		}
		b, err := readSmall(taken, maxBackupRequest)
		os.Remove(taken)
		var r BackupRequest
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err == nil {
			err = r.check()
		}
		if err == nil {
			if age := time.Since(time.UnixMilli(r.Made)); age > backupRequestTTL || age < -backupRequestTTL {
				err = fmt.Errorf("the request is %s old; ask again", age.Round(time.Second))
			}
		}
		ans := backupAnswer{ID: r.ID}
		if err == nil {
			var info BackupInfo
			if r.Out != "" {
				info, err = n.WriteBackupFile(ctx, r.Out)
			} else {
				info, err = n.BackupInto(ctx, r.Into, r.Keep)
			}
			ans.Info = &info
		}
		if err != nil {
			n.log.Warn("a backup request failed", "err", err)
			ans.Error, ans.Info = err.Error(), nil
		}
		if r.ID == "" {
			continue // nobody to answer
		}
		ab, _ := json.Marshal(ans)
		res := filepath.Join(dir, backupResultFile)
		if err := os.WriteFile(res+".tmp", ab, 0o600); err == nil {
			// On Windows the rename fails while the asker has the old
			// answer open: try a few times rather than lose this one.
			for try := 0; try < 20; try++ {
				if err = os.Rename(res+".tmp", res); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				n.log.Warn("could not hand the backup's answer to the program that asked", "err", err)
			}
		}
	}
}

// RequestBackup asks the node running on dir for a backup, and waits for
// its answer. If no running node takes the request within pickup, it is
// withdrawn and the error is ErrNoRunningNode: the caller may then open
// the node itself.
func RequestBackup(ctx context.Context, dir string, r BackupRequest, pickup, wait time.Duration) (BackupInfo, error) {
	var id [12]byte
	rand.Read(id[:])
	r.ID, r.Made = hex.EncodeToString(id[:]), time.Now().UnixMilli()
	if err := r.check(); err != nil {
		return BackupInfo{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return BackupInfo{}, err
	}
	req := filepath.Join(dir, backupRequestFile)
	res := filepath.Join(dir, backupResultFile)
	if st, err := os.Stat(req); err == nil && time.Since(st.ModTime()) > backupRequestTTL {
		os.Remove(req) // left by an asker that died
	}
	os.Remove(res) // an answer nobody waited for
	f, err := os.OpenFile(req, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return BackupInfo{}, errors.New("another backup request is waiting for the running node; try again in a minute")
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("asking the running node for a backup: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(req)
		return BackupInfo{}, fmt.Errorf("asking the running node for a backup: %w", err)
	}
	sleep := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
			return nil
		}
	}
	for until := time.Now().Add(pickup); ; {
		if _, err := os.Stat(req); errors.Is(err, fs.ErrNotExist) {
			break // taken
		}
		if time.Now().After(until) {
			if err := os.Remove(req); err == nil {
				return BackupInfo{}, ErrNoRunningNode
			}
			break // taken as it was withdrawn
		}
		if err := sleep(); err != nil {
			os.Remove(req)
			return BackupInfo{}, err
		}
	}
	for until := time.Now().Add(wait); time.Now().Before(until); {
		if b, err := readSmall(res, maxBackupRequest); err == nil {
			var ans backupAnswer
			if json.Unmarshal(b, &ans) == nil && ans.ID == r.ID {
				os.Remove(res)
				if ans.Error != "" {
					return BackupInfo{}, fmt.Errorf("the running node: %s", ans.Error)
				}
				if ans.Info == nil {
					return BackupInfo{}, errors.New("the running node answered without saying what it wrote")
				}
				return *ans.Info, nil
			}
		}
		if err := sleep(); err != nil {
			return BackupInfo{}, fmt.Errorf("%w; the running node may still write the backup", err)
		}
	}
	return BackupInfo{}, fmt.Errorf("the running node took the request and has not answered in %s; the backup may still be written: look for it later", wait)
}

// readSmall reads a file of at most max bytes.
func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is over %d bytes", path, max)
	}
	return b, nil
}
