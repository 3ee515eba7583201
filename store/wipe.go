package store

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WipeReport says what Wipe did.
type WipeReport struct {
	// KeyFiles is how many key files were overwritten and removed.
	KeyFiles int
	// KeyErased is how long destroying the key material took.
	KeyErased time.Duration
	// DataRemoved is true when the encrypted data files were removed too.
	DataRemoved bool
	// MaybeOpen is true when a process seemed to have the node open: it
	// keeps its copy of the key in memory until it stops.
	MaybeOpen bool
}

// Wipe crypto-erases the node in dir: every key file (the passphrase-
// wrapped master key, and any half-written one) is overwritten with random
// bytes, synced, truncated and removed, first of all; then the rest of the
// directory is removed. Every byte of data is encrypted under the master
// key, which exists nowhere else, so once the key files are gone the right
// passphrase opens nothing and the data is noise. It needs no passphrase:
// it is meant for a laptop about to be lost or taken.
//
// Overwriting is not what makes this work: on an SSD or flash card the
// drive may keep old copies of any block in its spare area, out of reach of
// the operating system. The erase rests on the key never having been
// stored anywhere but in the wrapped key file, and an old copy of that file
// is still protected by the passphrase (argon2id).
func Wipe(dir string) (WipeReport, error) {
	var rep WipeReport
	start := time.Now()
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, noNode(dir)
	}
	if err != nil {
		return rep, err
	}
	if !st.IsDir() {
		return rep, human(ErrNoNode, "%s is a file, not a Floe node directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return rep, err
	}
	var firstErr error
	for _, e := range entries {
		name := e.Name()
		if name != keyFileName && name != keyFileTmpName && !strings.HasPrefix(name, "floe.key.rewrap-") {
			continue
		}
		if err := eraseFile(filepath.Join(dir, name)); err != nil && firstErr == nil {
			firstErr = err
		}
		rep.KeyFiles++
	}
	syncDir(dir)
	rep.KeyErased = time.Since(start)
	if firstErr != nil {
		return rep, fmt.Errorf("erasing the key file: %w; the node may still open: remove %s by hand", firstErr, dir)
	}
	if rep.KeyFiles == 0 {
		return rep, human(ErrNoNode, "no Floe key file in %s; nothing to wipe", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, dataDirName, "LOCK")); err == nil {
		rep.MaybeOpen = true
	}
	if err := os.RemoveAll(dir); err == nil {
		rep.DataRemoved = true
	}
	return rep, nil
}

// eraseFile overwrites a file with random bytes, syncs, truncates and
// removes it.
func eraseFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		buf := make([]byte, max(st.Size(), 64))
		rand.Read(buf)
		if _, err = f.WriteAt(buf, 0); err == nil {
			err = f.Sync()
		}
		if err == nil {
			err = f.Truncate(0)
		}
		if err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(path); err == nil {
		err = rerr
	}
	return err
}

// The unlock-failure limit lives in DIR/floe.lockout, outside the
// encryption, because it must be read before the passphrase is known. It
// is plain JSON: {"limit": N, "failures": K}. It stops someone guessing at
// the keyboard; it cannot stop someone who copied the disk (argon2id does
// that), and anyone who can write the directory can remove it.
const lockoutFileName = "floe.lockout"

type lockout struct {
	Limit    int `json:"limit"`
	Failures int `json:"failures"`
}

func readLockout(dir string) lockout {
	var l lockout
	b, err := os.ReadFile(filepath.Join(dir, lockoutFileName))
	if err != nil || json.Unmarshal(b, &l) != nil || l.Limit < 0 || l.Failures < 0 {
		return lockout{}
	}
	return l
}

func writeLockout(dir string, l lockout) error {
	path := filepath.Join(dir, lockoutFileName)
	if l.Limit == 0 {
		err := os.Remove(path)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		return err
	}
	b, _ := json.Marshal(l)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// MaxWipeAfter caps the unlock-failure limit.
const MaxWipeAfter = 1000

// SetWipeAfter sets how many wrong passphrases in a row wipe the node (0
// turns it off, the default). The passphrase must be right: only the
// owner may change it.
func SetWipeAfter(dir string, passphrase []byte, n int) error {
	if n < 0 || n > MaxWipeAfter {
		return fmt.Errorf("the limit is 0 (off) to %d", MaxWipeAfter)
	}
	kf, _, err := readKeyFile(dir)
	if err != nil {
		return err
	}
	master, err := kf.unwrap(passphrase, filepath.Join(dir, keyFileName))
	if err != nil {
		return err
	}
	clear(master)
	return writeLockout(dir, lockout{Limit: n})
}

// WipeAfter returns the unlock-failure limit (0: off) and the failures
// since the last good unlock.
func WipeAfter(dir string) (limit, failures int) {
	l := readLockout(dir)
	return l.Limit, l.Failures
}

// ErrWiped means too many wrong passphrases wiped the node.
var ErrWiped = errors.New("the node was wiped")

// unlockFailed counts a wrong passphrase and wipes the node once the limit
// is reached. It returns the error to give the caller.
func unlockFailed(dir string, wrong error) error {
	l := readLockout(dir)
	if l.Limit == 0 {
		return wrong
	}
	l.Failures++
	if l.Failures < l.Limit {
		writeLockout(dir, l)
		return fmt.Errorf("%w (%d of %d tries before this node wipes itself)", wrong, l.Failures, l.Limit)
	}
	if _, err := Wipe(dir); err != nil {
		return fmt.Errorf("%w; the limit of %d wrong passphrases was reached, and wiping failed: %v", wrong, l.Limit, err)
	}
	return human(ErrWiped, "%d wrong passphrases in a row: the node in %s was wiped, as set; sync a new node from a peer", l.Limit, dir)
}

// unlockSucceeded resets the failure count.
func unlockSucceeded(dir string) {
	if l := readLockout(dir); l.Failures > 0 {
		l.Failures = 0
		writeLockout(dir, l)
	}
}
