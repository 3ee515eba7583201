package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	sp "github.com/floe-north/floe/syncproto"
)

// Options configure a store. The zero value is ready to use.
type Options struct {
	// Logger receives the store's warnings, with the attribute
	// subsystem=store. Nil discards them.
	Logger *slog.Logger
	// IndexText returns the text of an entry to put in the search index,
	// or "" to index nothing. It must never return the value of a sealed
	// field, and must return the same text for the same entry as long as
	// IndexVersion stays the same: pruning an entry removes the terms
	// IndexText gives for it then. Nil indexes nothing.
	IndexText func(e *sp.Entry) string
	// IndexVersion names the IndexText policy (which fields are
	// searchable). When it, or the folding rules of textfold, differ from
	// those the search index was built with, Open rebuilds the index, so
	// that a field made sensitive is no longer findable by its old text.
	IndexVersion string
	// FreeSpace reports the bytes free on the disk holding dir. Nil
	// asks the operating system. It may return ErrFreeSpaceUnknown.
	FreeSpace func(dir string) (uint64, error)
	// MinFree is the free space, in bytes, below which the store refuses
	// to write. Zero means DefaultMinFree.
	MinFree uint64
	// KDF overrides the argon2id parameters for Create, and the target of
	// the upgrade on Open. Nil means DefaultKDF. Only tests should set
	// it; parameters below a floor (t=1, m=8 MiB) are refused.
	KDF *KDFParams
	// UpgradeHook, if set, is called after each step of a layout upgrade
	// at open has committed (see UpgradeSteps); an error stops the
	// upgrade there, as a crash would, and Open returns it. Tests use it
	// to stop an upgrade at every step. Nil in normal use.
	UpgradeHook func(step string) error
}

// DefaultMinFree is the default Options.MinFree: 64 MiB. Badger writes
// through memory-mapped files that it creates sparse (a memtable's log is
// 16 MiB here, a value log 32 MiB), and a flush or compaction writes new
// tables before it deletes the old ones. A write through a mapping that
// finds the disk full kills the process (SIGBUS) instead of returning an
// error, so the margin must keep every write well away from a full disk.
const DefaultMinFree = 64 << 20

func (o *Options) kdf() KDFParams {
	if o.KDF != nil {
		return *o.KDF
	}
	return kdfDefaults
}

func (o *Options) minFree() uint64 {
	if o.MinFree == 0 {
		return DefaultMinFree
	}
	return o.MinFree
}

// Store is the encrypted, badger-backed syncproto.Store of one node.
// Its methods are safe for concurrent use; writes are serialized.
type Store struct {
	dir     string
	dataDir string
	db      *badger.DB
	log     *slog.Logger
	opts    Options
	tags    *tagger
	seal    sealer

	wmu    sync.Mutex   // serializes write transactions
	cmu    sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
	// sealed holds the data files checked against the shutdown seal at
	// open (see seal.go); unsealed is set if there was no seal.
	sealed   map[string]sealedFile
	unsealed bool
}

var _ sp.Store = (*Store)(nil)

// Create makes a new node in dir: a fresh master key, wrapped under
// passphrase in dir/floe.key, and an empty encrypted store in dir/data.
// dir must not exist or be empty: Create never overwrites anything.
//
// Create is crash-safe: the key file is written as floe.key.tmp and renamed
// to floe.key only once the store is durable, so an interrupted Create
// leaves a directory that Open reports as ErrIncomplete.
func Create(ctx context.Context, dir string, passphrase []byte, opts Options) (_ *Store, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(passphrase) == 0 {
		return nil, human(ErrEmptyPassphrase, "the passphrase is empty; choose a passphrase the node's users can remember and others cannot guess")
	}
	params := opts.kdf()
	if err := params.check(); err != nil {
		return nil, fmt.Errorf("key derivation settings: %w", err)
	}

	madeDir := false
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the node directory: %w", err)
		}
		madeDir = true
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	default:
		var names []string
		for _, e := range ents {
			switch e.Name() {
			case keyFileName:
				return nil, human(ErrExists, "%s already holds a Floe node; Floe never overwrites one. Open it, or choose another directory", dir)
			case keyFileTmpName:
				return nil, incomplete(dir)
			}
			names = append(names, e.Name())
		}
		if len(names) > 0 {
			more := ""
			if len(names) > 3 {
				more = fmt.Sprintf(" and %d more", len(names)-3)
				names = names[:3]
			}
			return nil, human(ErrNotEmpty, "%s is not empty (it holds %s%s); Floe never overwrites files. Choose a new or empty directory",
				dir, strings.Join(names, ", "), more)
		}
	}
	defer func() {
		if err == nil {
			return
		}
		if madeDir {
			os.RemoveAll(dir)
		} else {
			os.RemoveAll(filepath.Join(dir, dataDirName))
			os.Remove(filepath.Join(dir, keyFileTmpName))
			os.Remove(filepath.Join(dir, sealFileName))
		}
	}()
	if err := checkFree(dir, dir, &opts, false); err != nil {
		return nil, err
	}

	master := randomBytes(masterKeyLen)
	defer clear(master)
	kf, err := wrapKey(master, passphrase, params)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := writeNewFile(filepath.Join(dir, keyFileTmpName), kf.encode()); err != nil {
		return nil, fmt.Errorf("writing the key file: %w", err)
	}
	s, err := openData(dir, master, opts, true)
	if err != nil {
		return nil, err
	}
	// The commit point: until this rename, the node does not exist.
	if err := os.Rename(filepath.Join(dir, keyFileTmpName), filepath.Join(dir, keyFileName)); err != nil {
		s.Close()
		return nil, fmt.Errorf("writing the key file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		// The node exists; only the rename's durability is in doubt.
		s.log.Warn("could not sync the node directory after creating the key file", "err", err)
	}
	return s, nil
}

// Open unlocks the node in dir with passphrase and opens its store. If the
// key file's argon2id parameters are weaker than the current defaults, the
// master key is re-wrapped with the defaults after the unlock.
func Open(ctx context.Context, dir string, passphrase []byte, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, noNode(dir)
	case err != nil:
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	case !st.IsDir():
		return nil, human(ErrNoNode, "%s is a file, not a Floe node directory", dir)
	}
	kf, raw, err := readKeyFile(dir)
	if err != nil {
		if errors.Is(err, ErrNoNode) {
			if _, terr := os.Stat(filepath.Join(dir, keyFileTmpName)); terr == nil {
				return nil, incomplete(dir)
			}
		}
		return nil, err
	}
	master, err := kf.unwrap(passphrase, filepath.Join(dir, keyFileName))
	if errors.Is(err, ErrWrongPassphrase) {
		return nil, unlockFailed(dir, err)
	}
	if err != nil {
		return nil, err
	}
	defer clear(master)
	unlockSucceeded(dir)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := openData(dir, master, opts, false)
	if err != nil {
		return nil, err
	}
	if target := opts.kdf(); kf.KDF.params().weakerThan(target) {
		up := kf.KDF.params().atLeast(target)
		nkf, err := wrapKey(master, passphrase, up)
		if err == nil {
			err = replaceKeyFile(dir, raw, nkf.encode())
		}
		if err != nil {
			s.log.Warn("could not upgrade the key file's passphrase protection; will try again on the next open", "err", err)
		} else {
			s.log.Info("upgraded the key file's passphrase protection", "argon2id_time", up.Time, "argon2id_memory_kib", up.MemoryKiB, "argon2id_threads", up.Threads)
		}
	}
	return s, nil
}

// badgerOptions are badger's settings, chosen for old laptops with little
// memory, slow disks and unclean shutdowns. Checked against badger v4.9.6.
func badgerOptions(dir string, key []byte, log *slog.Logger) badger.Options {
	o := badger.DefaultOptions(dir).
		// Memtables are 8 MiB (default 64). Each has a memory-mapped
		// write-ahead log, a sparse 16 MiB file. Badger caps one
		// transaction at 15% of this, 1.2 MiB: ApplyVerified commits and
		// goes on in a new transaction before it gets there.
		WithMemTableSize(8 << 20).
		// One memtable taking writes and one being flushed (default 5).
		WithNumMemtables(2).
		// Tables are 2 MiB on every level (badger doubles them per level
		// by default, to 64 MiB and more). A compaction builds up to a
		// dozen tables at once, each whole in memory: with big tables that
		// alone took hundreds of MiB in a million-entry import.
		WithBaseTableSize(2 << 20).
		// Compact level 0 once it has 2 tables, and stall writes at 4
		// (defaults 5 and 15): few small tables keep reads and memory
		// down, and Floe's write rate is low.
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).
		// Decrypted blocks are cached (badger requires a block cache with
		// encryption): 8 MiB, not the default 256 MiB.
		WithBlockCacheSize(8 << 20).
		// With encryption, table indexes (block offsets and bloom
		// filters) are decrypted into this cache rather than kept in
		// memory whole; badger panics without one. 4 MiB holds the
		// indexes of about 40 tables of 2 MiB.
		WithIndexCacheSize(4 << 20).
		// Every value the store writes (an entry is at most about 29 KiB)
		// is under the 1 MiB threshold, so values live in the LSM tree,
		// where they are covered by block checksums, and the value log
		// never needs garbage collection. Set explicitly: it must stay
		// under the 1.2 MiB transaction cap.
		WithValueThreshold(1 << 20).
		// Value log files hold nothing but the odd oversized value:
		// 16 MiB, not 1 GiB (badger maps twice that, sparse), so a new
		// one does not claim gigabytes of a small disk.
		WithValueLogFileSize(16 << 20).
		// Two compactors, the fewest badger allows short of none (one of
		// them is dedicated to level 0).
		WithNumCompactors(2).
		// Writes are serialized by the store's mutex, so badger need not
		// track read sets to detect conflicts.
		WithDetectConflicts(false).
		// Commits are not synced one by one: ApplyVerified syncs once
		// before it returns (see there), so an applied entry survives a
		// dead battery without an fsync per transaction.
		WithSyncWrites(false).
		// Check each block's checksum when it is read from disk, so that a
		// damaged table is an error and not a wrong value. (OnTableRead
		// would read every table whole at open: slow on an old disk.)
		WithChecksumVerificationMode(options.OnBlockRead).
		// Check value-log entries' checksums too: cheap, and there are
		// hardly any.
		WithVerifyValueChecksum(true).
		// Flush and compact level 0 on Close, so the next open replays no
		// log and reads fewer tables.
		WithCompactL0OnClose(true).
		// Badger's AES-256 encryption of tables, logs and value logs.
		// Its data keys rotate every 10 days (the default) and are kept in
		// KEYREGISTRY, encrypted with this key.
		WithEncryptionKey(key).
		// No compression. A third of every entry (hash, signature,
		// record ID) and most index keys are random bytes that do not
		// compress, and each table builder holds a compressed copy of its
		// table in memory beside the plain and encrypted ones: without it,
		// compactions need a third less memory and CPU.
		WithCompression(options.None).
		// Badger's expvar metrics are global to the process and unused.
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{log})
	// (With BaseTableSize above.) Badger has no With method for it.
	o.TableSizeMultiplier = 1
	return o
}

// openData opens (or, with create, makes) the badger database of a node
// whose master key is known.
func openData(dir string, master []byte, opts Options, create bool) (s *Store, err error) {
	keys := deriveSubKeys(master)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("subsystem", "store")
	s = &Store{
		dir:     dir,
		dataDir: filepath.Join(dir, dataDirName),
		log:     log,
		opts:    opts,
		tags:    newTagger(keys.tag),
		seal:    newSealer(keys.meta),
	}
	if create {
		if err := os.Mkdir(s.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the data directory: %w", err)
		}
	} else {
		if st, err := os.Stat(s.dataDir); err != nil || !st.IsDir() {
			return nil, s.integrity("the data directory", "%s is missing", s.dataDir)
		}
		if s.sealed, err = s.checkSeal(); err != nil {
			return nil, err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, &IntegrityError{Dir: dir, Where: "opening the database", Detail: fmt.Sprint(r)}
		}
	}()
	db, err := badger.Open(badgerOptions(s.dataDir, keys.badger, log))
	if err != nil {
		return nil, s.classifyOpenError(err)
	}
	s.db = db
	err = s.prepare(create)
	if err != nil {
		db.Close()
		if refusedClean(err) && !s.unsealed {
			// Nothing was written: seal the files again, so that the
			// Floe that can open the store finds it closed cleanly.
			if serr := s.writeSeal(s.sealed); serr != nil {
				s.log.Warn("could not write the shutdown seal", "err", serr)
			}
		}
		return nil, err
	}
	return s, nil
}

// prepare writes the store's own rows of a new store, or checks those of
// an existing one, upgrading an older layout.
func (s *Store) prepare(create bool) error {
	if create {
		return s.initMeta()
	}
	if s.unsealed {
		// No seal vouches for the files: have badger check every block
		// now, since later it would hide a bad one (see keys.go), and
		// before an upgrade or an index rebuild reads them all.
		s.log.Warn("the store was not closed cleanly last time (no shutdown seal); checking its tables")
		if err := s.verifyTables(); err != nil {
			return err
		}
	}
	layout, up, err := s.checkMeta()
	if err != nil {
		return err
	}
	if layout < LayoutVersion || up != nil {
		if err := s.upgrade(layout, up); err != nil {
			return err
		}
	}
	return s.checkIndex()
}

// refusedClean reports whether err refused an open before anything was
// written: a store of a newer layout, or an upgrade refused for lack of
// space before it began.
func refusedClean(err error) bool {
	var df *DiskFullError
	return errors.Is(err, ErrNewerStore) || errors.As(err, &df) && df.refused
}

func (s *Store) classifyOpenError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Another process is using this Badger database"):
		return humanCause(ErrLocked, err, "another floe process (perhaps `floe node run`) has the store in %s open; stop it, or use that process, and try again", s.dir)
	case isDiskFull(err):
		return &DiskFullError{Dir: s.dir, cause: err}
	case errors.Is(err, fs.ErrPermission) || strings.Contains(msg, "permission denied") || strings.Contains(msg, "Access is denied"):
		return fmt.Errorf("opening the store in %s: %w; check that this user may read and write the directory", s.dir, err)
	case strings.Contains(msg, badger.ErrEncryptionKeyMismatch.Error()):
		return s.integrity("the data directory", "its encryption key does not match this node's key file")
	}
	return s.integrity("opening the database", "%v", err)
}

// Dir is the node directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the store. It is safe to call more than once.
func (s *Store) Close() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		if isDiskFull(err) {
			return &DiskFullError{Dir: s.dir, cause: err}
		}
		return fmt.Errorf("closing the store in %s: %w", s.dir, err)
	}
	if err := s.writeSeal(s.sealed); err != nil {
		// The data is safe; only the check at the next open is lost.
		s.log.Warn("could not write the shutdown seal; the next open cannot check the files against it", "err", err)
	}
	return nil
}

// acquire holds the store open for one call.
func (s *Store) acquire() (release func(), err error) {
	s.cmu.RLock()
	if s.closed {
		s.cmu.RUnlock()
		return nil, human(ErrClosed, "the store in %s is closed", s.dir)
	}
	return s.cmu.RUnlock, nil
}

// Size is the number of bytes the node directory takes on disk (the
// apparent size of its files: badger's logs are sparse, so the disk may
// hold less).
func (s *Store) Size() (int64, error) {
	var n int64
	err := filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile, by a compaction
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}
