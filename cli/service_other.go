//go:build !windows

package cli

import (
	"context"
	"runtime"
)

// On Linux and macOS the service manager (systemd, launchd) is set up
// from the text that floe service systemd-unit and launchd-plist print;
// the Windows subcommands say what to do instead.

func serviceInstall(ctx context.Context, env *Env, c *serviceCmd, extra []string) error {
	return notForThisSystem("install", runtime.GOOS)
}

func serviceControl(ctx context.Context, env *Env, sub string) error {
	return notForThisSystem(sub, runtime.GOOS)
}

// serviceRun runs the chosen command in the foreground: launchd starts
// it this way, and it stops cleanly on launchd's SIGTERM.
func serviceRun(ctx context.Context, env *Env, s serviceSpec) error {
	return runServiceForeground(ctx, env, s)
}
