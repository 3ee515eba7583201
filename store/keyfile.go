package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	sp "github.com/floe-north/floe/syncproto"
)

// Names in a node directory.
const (
	keyFileName    = KeyFileName
	keyFileTmpName = "floe.key.tmp" // written by Create; renamed to floe.key as its commit point
	rewrapPattern  = "floe.key.rewrap-*"
	dataDirName    = "data"
)

// KDFParams are argon2id's cost parameters for deriving the key that wraps
// the master key from the passphrase.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory, in KiB
	Threads   uint8  // parallelism
}

// DefaultKDF is what new and upgraded key files use: argon2id with t=3,
// m=64 MiB, p=4. Unlocking takes a few hundred milliseconds on an old
// laptop.
func DefaultKDF() KDFParams { return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4} }

// kdfDefaults is DefaultKDF, as a variable so that tests can make it cheap.
var kdfDefaults = DefaultKDF()

// The floor and ceiling on stored parameters. A key file below the floor was
// tampered with, to make the passphrase cheaper to guess; one above the
// ceiling would make unlocking run out of memory or never end.
const (
	kdfMinTime      = 1
	kdfMinMemoryKiB = 8 << 10
	kdfMaxTime      = 16
	kdfMaxMemoryKiB = 1 << 20
	kdfMaxThreads   = 64
	saltLen         = 16
)

func (p KDFParams) check() error {
	switch {
	case p.Time < kdfMinTime || p.MemoryKiB < kdfMinMemoryKiB || p.Threads < 1:
		return fmt.Errorf("argon2id parameters t=%d m=%d KiB p=%d are below the floor (t>=%d, m>=%d KiB, p>=1)",
			p.Time, p.MemoryKiB, p.Threads, kdfMinTime, kdfMinMemoryKiB)
	case p.Time > kdfMaxTime || p.MemoryKiB > kdfMaxMemoryKiB || p.Threads > kdfMaxThreads:
		return fmt.Errorf("argon2id parameters t=%d m=%d KiB p=%d are above the ceiling (t<=%d, m<=%d KiB, p<=%d)",
			p.Time, p.MemoryKiB, p.Threads, kdfMaxTime, kdfMaxMemoryKiB, kdfMaxThreads)
	}
	return nil
}

// weakerThan reports whether p costs an attacker less than q on time or
// memory.
func (p KDFParams) weakerThan(q KDFParams) bool {
	return p.Time < q.Time || p.MemoryKiB < q.MemoryKiB
}

// atLeast is p raised to q wherever q is stronger.
func (p KDFParams) atLeast(q KDFParams) KDFParams {
	return KDFParams{Time: max(p.Time, q.Time), MemoryKiB: max(p.MemoryKiB, q.MemoryKiB), Threads: max(p.Threads, q.Threads)}
}

// The key file. Its CBOR keys and the kdf algorithm numbers are part of the
// format: never renumber them. New fields must be optional.
const (
	keyFileMagic   = "floe-key"
	keyFileVersion = 1
	kdfArgon2id13  = 1 // argon2id, version 0x13
	maxKeyFileLen  = 4 << 10
)

type keyFile struct {
	Magic   string    `cbor:"1,keyasint"`
	Version uint      `cbor:"2,keyasint"`
	KDF     kdfRecord `cbor:"3,keyasint"`
	Nonce   []byte    `cbor:"4,keyasint"` // 24 bytes
	Wrapped []byte    `cbor:"5,keyasint"` // the master key sealed with XChaCha20-Poly1305
}

type kdfRecord struct {
	Alg       uint   `cbor:"1,keyasint"`
	Time      uint32 `cbor:"2,keyasint"`
	MemoryKiB uint32 `cbor:"3,keyasint"`
	Threads   uint8  `cbor:"4,keyasint"`
	Salt      []byte `cbor:"5,keyasint"`
}

func (r kdfRecord) params() KDFParams {
	return KDFParams{Time: r.Time, MemoryKiB: r.MemoryKiB, Threads: r.Threads}
}

// wrapAD is the additional data of the wrapped key: the magic, version and
// KDF record, so that none of them can be changed without the unwrap
// failing.
func (kf *keyFile) wrapAD() []byte {
	hdr := keyFile{Magic: kf.Magic, Version: kf.Version, KDF: kf.KDF}
	b, err := sp.Marshal(&hdr)
	if err != nil {
		panic("bug: encoding key file header: " + err.Error())
	}
	return append([]byte("floe/keyfile/v1\x00"), b...)
}

func kek(pass []byte, r kdfRecord) []byte {
	k := argon2.IDKey(pass, r.Salt, r.Time, r.MemoryKiB, r.Threads, chacha20poly1305.KeySize)
	// The derivation's buffer (64 MiB by default) is garbage now: hand
	// it back to the system at once rather than minutes later, since an
	// old laptop runs the browser beside the node. An unlock is rare;
	// the collection costs milliseconds.
	if r.MemoryKiB >= 16<<10 {
		debug.FreeOSMemory()
	}
	return k
}

// wrapKey wraps master under pass with fresh salt and nonce.
func wrapKey(master, pass []byte, p KDFParams) (*keyFile, error) {
	if len(pass) == 0 {
		return nil, human(ErrEmptyPassphrase, "the passphrase is empty; choose a passphrase the node's users can remember and others cannot guess")
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("key derivation settings: %w", err)
	}
	kf := &keyFile{
		Magic:   keyFileMagic,
		Version: keyFileVersion,
		KDF:     kdfRecord{Alg: kdfArgon2id13, Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads, Salt: randomBytes(saltLen)},
		Nonce:   randomBytes(chacha20poly1305.NonceSizeX),
	}
	aead, err := chacha20poly1305.NewX(kek(pass, kf.KDF))
	if err != nil {
		panic("bug: xchacha20poly1305: " + err.Error())
	}
	kf.Wrapped = aead.Seal(nil, kf.Nonce, master, kf.wrapAD())
	return kf, nil
}

// unwrapKey returns the master key, or ErrWrongPassphrase.
func (kf *keyFile) unwrap(pass []byte, path string) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(kek(pass, kf.KDF))
	if err != nil {
		panic("bug: xchacha20poly1305: " + err.Error())
	}
	master, err := aead.Open(nil, kf.Nonce, kf.Wrapped, kf.wrapAD())
	if err != nil || len(master) != masterKeyLen {
		return nil, human(ErrWrongPassphrase, "wrong passphrase for %s; nothing was changed", path)
	}
	return master, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("bug: crypto/rand failed: " + err.Error())
	}
	return b
}

func (kf *keyFile) encode() []byte {
	b, err := sp.Marshal(kf)
	if err != nil {
		panic("bug: encoding key file: " + err.Error())
	}
	return b
}

// readKeyFile reads and checks DIR/floe.key. It returns the raw bytes too,
// so that a re-wrap can check that nobody changed the file meanwhile.
func readKeyFile(dir string) (*keyFile, []byte, error) {
	path := filepath.Join(dir, keyFileName)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, noNode(dir)
		}
		return nil, nil, fmt.Errorf("reading the key file: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFileLen+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the key file: %w", err)
	}
	bad := func(format string, args ...any) error {
		return human(ErrBadKeyFile, "the key file %s is damaged or was tampered with (%s); move the node directory aside, run `floe init` and sync again from a peer",
			path, fmt.Sprintf(format, args...))
	}
	if len(raw) > maxKeyFileLen {
		return nil, nil, bad("it is over %d bytes", maxKeyFileLen)
	}
	var kf keyFile
	if err := sp.UnmarshalStrict(raw, &kf); err != nil {
		return nil, nil, bad("%v", err)
	}
	if kf.Magic != keyFileMagic {
		return nil, nil, bad("it is not a Floe key file")
	}
	if kf.Version != keyFileVersion {
		return nil, nil, human(ErrBadKeyFile, "the key file %s is version %d, and this Floe reads version %d; use a newer Floe",
			path, kf.Version, keyFileVersion)
	}
	if kf.KDF.Alg != kdfArgon2id13 {
		return nil, nil, bad("unknown key derivation %d", kf.KDF.Alg)
	}
	if err := kf.KDF.params().check(); err != nil {
		return nil, nil, bad("%v", err)
	}
	if len(kf.KDF.Salt) != saltLen || len(kf.Nonce) != chacha20poly1305.NonceSizeX ||
		len(kf.Wrapped) != masterKeyLen+chacha20poly1305.Overhead {
		return nil, nil, bad("a salt, nonce or wrapped key has the wrong length")
	}
	return &kf, raw, nil
}

func noNode(dir string) error {
	return human(ErrNoNode, "no Floe node in %s; run `floe init`", dir)
}

// ChangePassphrase re-wraps the master key of the node in dir under a new
// passphrase. It rewrites the key file only: no data is re-encrypted, and
// the data files are not touched. The node may be open meanwhile.
func ChangePassphrase(dir string, oldPass, newPass []byte) error {
	kf, raw, err := readKeyFile(dir)
	if err != nil {
		if errors.Is(err, ErrNoNode) {
			if _, terr := os.Stat(filepath.Join(dir, keyFileTmpName)); terr == nil {
				return incomplete(dir)
			}
		}
		return err
	}
	master, err := kf.unwrap(oldPass, filepath.Join(dir, keyFileName))
	if err != nil {
		return err
	}
	defer clear(master)
	nkf, err := wrapKey(master, newPass, kf.KDF.params().atLeast(kdfDefaults))
	if err != nil {
		return err
	}
	if err := replaceKeyFile(dir, raw, nkf.encode()); err != nil {
		return fmt.Errorf("changing the passphrase: %w; the old passphrase still works", err)
	}
	return nil
}

func incomplete(dir string) error {
	return human(ErrIncomplete, "an earlier `floe init` in %s did not finish; remove %s and run `floe init` again", dir, dir)
}

// errKeyFileChanged means the key file changed between read and rewrite.
var errKeyFileChanged = errors.New("the key file was changed by another process meanwhile")

// replaceKeyFile atomically replaces DIR/floe.key, which must still hold
// old, with data: a temporary file is written and synced, then renamed over
// the key file, and the directory is synced.
func replaceKeyFile(dir string, old, data []byte) error {
	tmp, err := os.CreateTemp(dir, rewrapPattern)
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Compare just before the rename, so that a concurrent change of
	// passphrase is not silently undone. The window left is a few
	// microseconds, and both files would unlock the same master key.
	cur, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, old) {
		return errKeyFileChanged
	}
	if err := os.Rename(tmpName, filepath.Join(dir, keyFileName)); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

// writeNewFile creates path, which must not exist, with data, and syncs it.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename or create in dir durable. Windows cannot sync a
// directory, and does not need to for a rename.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CheckPassphrase checks a passphrase against the node in dir, at the full
// cost of the key derivation, without opening the store: the fresh check
// before a sealed field is revealed. A wrong passphrase counts toward the
// wipe-after-failures setting, as a failed unlock does.
func CheckPassphrase(dir string, pass []byte) error {
	kf, _, err := readKeyFile(dir)
	if err != nil {
		return err
	}
	master, err := kf.unwrap(pass, filepath.Join(dir, keyFileName))
	if err != nil {
		if errors.Is(err, ErrWrongPassphrase) {
			return unlockFailed(dir, err)
		}
		return err
	}
	clear(master)
	unlockSucceeded(dir)
	return nil
}

// KeyFileName is the name of a node's key file in its data directory.
const KeyFileName = "floe.key"
