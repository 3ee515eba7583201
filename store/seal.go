package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/blake2b"

	sp "github.com/floe-north/floe/syncproto"
)

// The shutdown seal, DIR/data.seal, lists every file of DIR/data with its
// size and BLAKE2b-256 hash, sealed with the meta key. Close writes it once
// badger has closed; Open checks the files against it and removes it before
// badger opens them.
//
// It exists because badger does not survive all damage to its files: a
// damaged table footer or last block makes it panic in a goroutine of its
// own while it opens the table, which kills the process, and a table whose
// checksum fails at open is dropped with only a log line. Checked against
// the seal, damage done while the node was shut down is an ErrIntegrity
// before badger reads a byte. After a crash there is no seal, and badger's
// own checks and the store's are all there is.
const (
	sealFileName = "data.seal"
	sealVersion  = 1
	sealAD       = "floe/data.seal/v1"
)

// dataSeal is the sealed content of the seal file. CBOR keys: never
// renumber.
type dataSeal struct {
	Version uint         `cbor:"1,keyasint"`
	Files   []sealedFile `cbor:"2,keyasint"` // sorted by name
}

type sealedFile struct {
	Name string `cbor:"1,keyasint"`
	Size int64  `cbor:"2,keyasint"`
	Sum  []byte `cbor:"3,keyasint"` // BLAKE2b-256
}

// isBadgerFile reports whether name is one of badger's files (v4.9.6):
// tables, value logs, memtable logs, and its bookkeeping files and their
// rewrites. Anything else (a .DS_Store, say) badger ignores, and so does the
// seal. LOCK, badger's lock and pid file, is removed when it closes.
func isBadgerFile(name string) bool {
	switch name {
	case "MANIFEST", "MANIFEST-REWRITE", "KEYREGISTRY", "REWRITE-KEYREGISTRY", "DISCARD":
		return true
	}
	ext := filepath.Ext(name)
	return ext == ".sst" || ext == ".vlog" || ext == ".mem"
}

// dataFiles lists the files of the data directory that the seal covers.
func dataFiles(dataDir string) ([]string, error) {
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if isBadgerFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

func hashFile(path string) (int64, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	h, _ := blake2b.New256(nil)
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, nil, err
	}
	return n, h.Sum(nil), nil
}

// checkSeal checks the data files against the seal, if there is one, and
// removes it. It returns the files it checked, so that Close need not hash
// the tables again (tables are never changed once written).
func (s *Store) checkSeal() (map[string]sealedFile, error) {
	path := filepath.Join(s.dir, sealFileName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s.unsealed = true
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	plain, ok := s.seal.open([]byte(sealAD), raw)
	if !ok {
		return nil, s.integrity("the shutdown seal "+sealFileName, "it does not open")
	}
	var ds dataSeal
	if err := sp.UnmarshalStrict(plain, &ds); err != nil || ds.Version != sealVersion {
		return nil, s.integrity("the shutdown seal "+sealFileName, "it does not decode")
	}
	names, err := dataFiles(s.dataDir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.dataDir, err)
	}
	want := make([]string, len(ds.Files))
	for i, f := range ds.Files {
		want[i] = f.Name
	}
	if !slices.Equal(names, want) {
		return nil, s.integrity("the data directory", "it holds files %s, and the store was closed with %s",
			strings.Join(names, ", "), strings.Join(want, ", "))
	}
	checked := map[string]sealedFile{}
	for _, f := range ds.Files {
		n, sum, err := hashFile(filepath.Join(s.dataDir, f.Name))
		if err != nil {
			return nil, fmt.Errorf("checking %s: %w", f.Name, err)
		}
		if n != f.Size || !bytes.Equal(sum, f.Sum) {
			return nil, s.integrity("data file "+f.Name, "it changed after the store was closed")
		}
		checked[f.Name] = f
	}
	// Badger is about to change the files: the seal no longer holds.
	if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("removing %s: %w", path, err)
	}
	if err := syncDir(s.dir); err != nil {
		return nil, fmt.Errorf("syncing %s: %w", s.dir, err)
	}
	return checked, nil
}

// writeSeal seals the data files after badger has closed. known holds
// hashes of tables checked at open.
func (s *Store) writeSeal(known map[string]sealedFile) error {
	names, err := dataFiles(s.dataDir)
	if err != nil {
		return err
	}
	ds := dataSeal{Version: sealVersion}
	for _, name := range names {
		p := filepath.Join(s.dataDir, name)
		if k, ok := known[name]; ok && strings.HasSuffix(name, ".sst") {
			if st, err := os.Stat(p); err == nil && st.Size() == k.Size {
				ds.Files = append(ds.Files, k)
				continue
			}
		}
		n, sum, err := hashFile(p)
		if err != nil {
			return err
		}
		ds.Files = append(ds.Files, sealedFile{Name: name, Size: n, Sum: sum})
	}
	b, err := sp.Marshal(&ds)
	if err != nil {
		panic("bug: encoding the seal: " + err.Error())
	}
	tmp := filepath.Join(s.dir, sealFileName+".tmp")
	os.Remove(tmp)
	if err := writeNewFile(tmp, s.seal.seal([]byte(sealAD), b)); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, sealFileName)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(s.dir)
}
