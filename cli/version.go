package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// Version and Commit name this build. A release sets them:
//
//	go build -ldflags "-X github.com/floe-north/floe/cli.Version=1.2.0 -X github.com/floe-north/floe/cli.Commit=$(git rev-parse HEAD)" ./cli/floe
//
// Without -X, Commit comes from the build's VCS stamp (go build in a git
// checkout), and Version stays "dev".
var (
	Version = "dev"
	Commit  = ""
)

// VersionInfo is what `floe version` shows: the build, and the version of
// every format this floe reads and writes. The JSON keys are stable.
type VersionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
	OSArch  string `json:"os_arch"`
	// StoreLayout is the store layout this floe writes; it opens and
	// upgrades stores from StoreLayoutOldest on.
	StoreLayout       int `json:"store_layout"`
	StoreLayoutOldest int `json:"-"`
	EntryFormat       int `json:"entry_format"`
	SyncProtocol      int `json:"sync_protocol"`
	BundleFormat      int `json:"bundle_format"`
	PackFormat        int `json:"pack_format"`
	BackupFormat      int `json:"backup_format"`
}

// BuildVersion describes this build.
func BuildVersion() VersionInfo {
	v := VersionInfo{
		Version: Version, Commit: Commit, Go: runtime.Version(), OSArch: runtime.GOOS + "/" + runtime.GOARCH,
		StoreLayout: store.LayoutVersion, StoreLayoutOldest: store.OldestLayout,
		EntryFormat: sp.EntryFormat, SyncProtocol: sp.ProtocolVersion,
		BundleFormat: fieldkit.BundleFormat, PackFormat: fieldkit.PackFormat,
		BackupFormat: node.BackupFormatVersion,
	}
	if v.Commit == "" {
		v.Commit = vcsCommit()
	}
	return v
}

// vcsCommit is the commit the build's VCS stamp names, marked -dirty if
// the tree had changes, or "unknown".
func vcsCommit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

type versionCmd struct{}

func (*versionCmd) Name() string     { return "version" }
func (*versionCmd) Synopsis() string { return "show the version, the commit and every format" }
func (*versionCmd) Usage() string {
	return `Usage: floe version [--json]

Shows this floe's version and commit, and the version of each format it
reads and writes: the store on disk, entries, the sync protocol, bundle
files and resource packs. Two floes sync, and read each other's bundles
and packs, when these match; a floe refuses anything of a newer version
with a message that says to upgrade, and upgrades an older store in place.
`
}
func (*versionCmd) Flags(*flag.FlagSet) {}
func (*versionCmd) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("floe version takes no arguments")
	}
	v := BuildVersion()
	if env.JSON {
		return printJSON(env.Out, v)
	}
	env.Printf("floe %s (commit %s, %s, %s)\n", v.Version, v.Commit, v.Go, v.OSArch)
	env.Printf("store layout   %d (opens and upgrades layouts %d to %d)\n", v.StoreLayout, v.StoreLayoutOldest, v.StoreLayout)
	env.Printf("entry format   %d\n", v.EntryFormat)
	env.Printf("sync protocol  %d\n", v.SyncProtocol)
	env.Printf("bundle format  %d\n", v.BundleFormat)
	env.Printf("pack format    %d\n", v.PackFormat)
	env.Printf("backup format  %d\n", v.BackupFormat)
	return nil
}
