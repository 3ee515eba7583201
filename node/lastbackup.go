package node

import (
	"errors"
	"path/filepath"
	"time"

	"github.com/fxamacker/cbor/v2"

	sp "github.com/floe-north/floe/syncproto"
)

// The last backup this node wrote to a file, for the doctor and the
// metrics: when, which file (its name only) and how many entries.

const metaLastBackup = "backup/last"

type lastBackup struct {
	At      int64  `cbor:"1,keyasint"` // Unix milliseconds
	File    string `cbor:"2,keyasint"`
	Entries uint64 `cbor:"3,keyasint"`
}

func (n *Node) noteBackup(info BackupInfo) {
	b, err := cbor.Marshal(lastBackup{At: n.now().UnixMilli(), File: filepath.Base(info.File), Entries: info.Entries})
	if err == nil {
		err = n.st.PutMeta(metaLastBackup, b)
	}
	if err != nil {
		n.log.Warn("could not note the backup's time", "err", err)
	}
}

// LastBackup says when this node last wrote a backup file, and its name;
// ok is false if it never did (or not since this was kept).
func (n *Node) LastBackup() (at time.Time, file string, ok bool) {
	b, err := n.st.GetMeta(metaLastBackup)
	if errors.Is(err, sp.ErrNotFound) || err != nil {
		return time.Time{}, "", false
	}
	var lb lastBackup
	if cbor.Unmarshal(b, &lb) != nil || lb.At == 0 {
		return time.Time{}, "", false
	}
	return time.UnixMilli(lb.At).UTC(), lb.File, true
}

// HasBackupKey reports whether the network has published a backup key.
func (n *Node) HasBackupKey() bool {
	_, ok := n.trust.latestEpoch(BackupGroup)
	return ok
}
