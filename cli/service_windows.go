//go:build windows

package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/floe-north/floe/store"
)

// The Windows service: floe service install registers "Floe" with the
// service manager, to start floe service run with Windows; floe service
// run, started by the service manager, runs floe serve or floe node run
// until the service is stopped, logging to the node's directory.

// Service-specific exit codes, shown by floe service status.
const (
	exitModeFailed = 1 // floe serve or floe node run stopped with an error; see the log
	exitNoLog      = 2 // the log in the node's directory could not be opened
)

func serviceInstall(ctx context.Context, env *Env, c *serviceCmd, extra []string) error {
	if c.user != "" {
		return usagef("floe service --help", "--user is for systemd-unit only; the Windows service runs as the system (LocalSystem)")
	}
	s, err := c.spec(env, extra)
	if err != nil {
		return err
	}
	if err := s.checkNode(); err != nil {
		return err
	}
	exe, err := executable()
	if err != nil {
		return err
	}
	s.Exe = exe
	if err := s.checkPaths(true); err != nil {
		return err
	}
	if s.PassFile != "" {
		pass, err := env.Passphrase("", false)
		if err != nil {
			return err
		}
		err = store.CheckPassphrase(s.Dir, pass)
		clear(pass)
		if err != nil {
			return fmt.Errorf("the passphrase in %s does not unlock %s: %w", s.PassFile, s.Dir, err)
		}
	}
	m, err := mgr.Connect()
	if err != nil {
		return explainServiceErr(err)
	}
	defer m.Disconnect()
	if old, err := m.OpenService(windowsServiceName); err == nil {
		old.Close()
		return fmt.Errorf("the %s service is installed already; to change it, run 'floe service remove' first", windowsServiceName)
	}
	cmdLine := windowsCommandLine(s.Exe, s.runArgs())
	sv, err := m.CreateService(windowsServiceName, s.Exe, mgr.Config{
		DisplayName:      "Floe",
		Description:      "Floe, the encrypted service directory and outreach record: " + s.describe() + ". Log: " + filepath.Join(s.Dir, serviceLogName),
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
		ErrorControl:     mgr.ErrorNormal,
	})
	if err != nil {
		return explainServiceErr(err)
	}
	defer sv.Close()
	undo := func(err error) error {
		sv.Delete()
		return fmt.Errorf("installing the service: %w; nothing was installed", err)
	}
	// The command line is set as windowsCommandLine quotes it.
	cfg, err := sv.Config()
	if err != nil {
		return undo(err)
	}
	cfg.BinaryPathName = cmdLine
	if err := sv.UpdateConfig(cfg); err != nil {
		return undo(err)
	}
	// Restarted 10 s, 30 s, then every 60 s after a failure; the count
	// starts again after a day without one.
	if err := sv.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 60 * time.Second},
	}, 24*60*60); err != nil {
		return undo(err)
	}
	// An exit with an error code counts as a failure, not a crash only.
	if err := sv.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return undo(err)
	}
	if s.PassFile != "" {
		if err := restrictToSystem(s.PassFile); err != nil {
			return undo(fmt.Errorf("making %s readable by the service only: %w", s.PassFile, err))
		}
	}
	env.Printf("installed the %s service: it starts with Windows and runs %s on %s\n", windowsServiceName, s.describe(), s.Dir)
	env.Printf("command line: %s\n", cmdLine)
	if s.PassFile != "" {
		env.Printf("%s is now readable by the service and administrators only\n", s.PassFile)
	}
	env.Printf("start it now with 'floe service start'; its log is %s\n", filepath.Join(s.Dir, serviceLogName))
	return nil
}

// restrictToSystem leaves path readable by the system (the service runs
// as LocalSystem) and administrators only, inheriting nothing.
func restrictToSystem(path string) error {
	sd, err := windows.SecurityDescriptorFromString("D:P(A;;FA;;;SY)(A;;FA;;;BA)")
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

// openFloeService opens the installed service with the rights asked
// for; status needs no administrator.
func openFloeService(access uint32) (*mgr.Service, func(), error) {
	h, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return nil, nil, explainServiceErr(err)
	}
	name, _ := windows.UTF16PtrFromString(windowsServiceName)
	sh, err := windows.OpenService(h, name, access)
	if err != nil {
		windows.CloseServiceHandle(h)
		return nil, nil, explainServiceErr(err)
	}
	sv := &mgr.Service{Name: windowsServiceName, Handle: sh}
	return sv, func() { sv.Close(); windows.CloseServiceHandle(h) }, nil
}

func explainServiceErr(err error) error {
	switch {
	case errors.Is(err, windows.ERROR_ACCESS_DENIED):
		return errors.New("Windows refused: this needs an administrator; open a Command Prompt with \"Run as administrator\" and run it there")
	case errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST):
		return fmt.Errorf("the %s service is not installed; install it with 'floe service install'", windowsServiceName)
	case errors.Is(err, windows.ERROR_SERVICE_EXISTS):
		return fmt.Errorf("the %s service is installed already; to change it, run 'floe service remove' first", windowsServiceName)
	case errors.Is(err, windows.ERROR_SERVICE_MARKED_FOR_DELETE):
		return fmt.Errorf("the %s service is being removed; close the Services window if it is open, or restart Windows, then try again", windowsServiceName)
	}
	return err
}

func serviceControl(ctx context.Context, env *Env, sub string) error {
	switch sub {
	case "status":
		sv, done, err := openFloeService(windows.SERVICE_QUERY_STATUS | windows.SERVICE_QUERY_CONFIG)
		if err != nil {
			return err
		}
		defer done()
		return printServiceStatus(env, sv)
	case "start":
		sv, done, err := openFloeService(windows.SERVICE_START | windows.SERVICE_QUERY_STATUS | windows.SERVICE_QUERY_CONFIG)
		if err != nil {
			return err
		}
		defer done()
		if err := sv.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return explainServiceErr(err)
		}
		st, err := waitServiceState(ctx, sv, svc.Running, 30*time.Second)
		if err != nil {
			return err
		}
		if st.State == svc.Running {
			// A node that cannot start (a port in use, a wrong
			// passphrase file) stops again within moments.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(3 * time.Second):
			}
			if st, err = sv.Query(); err != nil {
				return explainServiceErr(err)
			}
		}
		if st.State != svc.Running {
			printServiceStatus(env, sv)
			return errors.New("the service did not start, or stopped again; its log above says why")
		}
		env.Printf("the %s service is running\n", windowsServiceName)
		return nil
	case "stop":
		sv, done, err := openFloeService(windows.SERVICE_STOP | windows.SERVICE_QUERY_STATUS)
		if err != nil {
			return err
		}
		defer done()
		return stopFloeService(ctx, env, sv)
	case "remove":
		sv, done, err := openFloeService(windows.DELETE | windows.SERVICE_STOP | windows.SERVICE_QUERY_STATUS)
		if err != nil {
			return err
		}
		defer done()
		if err := stopFloeService(ctx, env, sv); err != nil {
			return err
		}
		if err := sv.Delete(); err != nil {
			return explainServiceErr(err)
		}
		env.Printf("removed the %s service; the node's directory and its log are left as they were\n", windowsServiceName)
		return nil
	}
	return usagef("floe service --help", "unknown subcommand %q", sub)
}

func stopFloeService(ctx context.Context, env *Env, sv *mgr.Service) error {
	st, err := sv.Query()
	if err != nil {
		return explainServiceErr(err)
	}
	if st.State == svc.Stopped {
		env.Printf("the %s service is stopped\n", windowsServiceName)
		return nil
	}
	if _, err := sv.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) && !errors.Is(err, windows.ERROR_SERVICE_CANNOT_ACCEPT_CTRL) {
		return explainServiceErr(err)
	}
	if st, err = waitServiceState(ctx, sv, svc.Stopped, 90*time.Second); err != nil {
		return err
	}
	if st.State != svc.Stopped {
		return fmt.Errorf("the %s service is still stopping after 90 s; check 'floe service status' in a minute", windowsServiceName)
	}
	env.Printf("the %s service is stopped\n", windowsServiceName)
	return nil
}

// waitServiceState waits until the service is in want, has stopped, or
// the time is up, and returns its last status.
func waitServiceState(ctx context.Context, sv *mgr.Service, want svc.State, limit time.Duration) (svc.Status, error) {
	deadline := time.Now().Add(limit)
	for {
		st, err := sv.Query()
		if err != nil {
			return st, explainServiceErr(err)
		}
		if st.State == want || st.State == svc.Stopped || time.Now().After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

var serviceStateNames = map[svc.State]string{
	svc.Stopped: "stopped", svc.StartPending: "starting", svc.StopPending: "stopping",
	svc.Running: "running", svc.ContinuePending: "resuming", svc.PausePending: "pausing", svc.Paused: "paused",
}

func printServiceStatus(env *Env, sv *mgr.Service) error {
	st, err := sv.Query()
	if err != nil {
		return explainServiceErr(err)
	}
	cfg, err := sv.Config()
	if err != nil {
		return explainServiceErr(err)
	}
	state := serviceStateNames[st.State]
	if st.State == svc.Stopped && st.Win32ExitCode == uint32(windows.ERROR_SERVICE_SPECIFIC_ERROR) {
		switch st.ServiceSpecificExitCode {
		case exitModeFailed:
			state += ", after an error (the log below says which); Windows restarts it after a while"
		case exitNoLog:
			state += ", because it could not write its log in the node's directory: is the directory still there?"
		default:
			state += fmt.Sprintf(", exit code %d", st.ServiceSpecificExitCode)
		}
	}
	start := "by hand"
	if cfg.StartType == mgr.StartAutomatic {
		start = "with Windows"
	} else if cfg.StartType == mgr.StartDisabled {
		start = "never (disabled)"
	}
	args := splitWindowsCommandLine(cfg.BinaryPathName)
	dir := flagValue(args, "dir")
	env.Printf("service       %s\nstate         %s\nstarts        %s\ncommand line  %s\n", windowsServiceName, state, start, cfg.BinaryPathName)
	if dir == "" {
		return nil
	}
	logPath := filepath.Join(dir, serviceLogName)
	env.Printf("log           %s\n", logPath)
	lines, err := lastLines(logPath, 12)
	if err != nil {
		env.Printf("(no log yet: %v)\n", err)
		return nil
	}
	env.Printf("\nthe log's last lines:\n")
	for _, l := range lines {
		env.Printf("  %s\n", l)
	}
	return nil
}

// lastLines reads the last n lines of a file, from its last 64 KiB.
func lastLines(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 64<<10 {
		f.Seek(st.Size()-64<<10, io.SeekStart)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines, sc.Err()
}

// serviceRun is the service's entry point. Started by the service
// manager, it runs the chosen command until the service is stopped;
// started from a console, it runs it in the foreground.
func serviceRun(ctx context.Context, env *Env, s serviceSpec) error {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return fmt.Errorf("cannot tell whether Windows' service manager started floe: %w", err)
	}
	if !isService {
		return runServiceForeground(ctx, env, s)
	}
	h := &windowsService{spec: s}
	logf, err := openServiceLog(s.Dir, maxServiceLog)
	if err == nil {
		defer logf.Close()
		h.log = logf
	}
	return svc.Run(windowsServiceName, h)
}

// windowsService answers the service manager: it runs the chosen
// command and stops it when asked.
type windowsService struct {
	spec serviceSpec
	log  io.Writer // nil if it could not be opened
	mu   sync.Mutex
}

func (h *windowsService) logf(format string, a ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(h.log, time.Now().Format("2006-01-02 15:04:05")+" floe service: "+format+"\n", a...)
}

// lockedWriter lets the command and the service's own lines share the log.
type lockedWriter struct{ h *windowsService }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	return w.h.log.Write(p)
}

func (h *windowsService) Execute(args []string, r <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	if h.log == nil {
		return true, exitNoLog
	}
	status <- svc.Status{State: svc.StartPending}
	h.logf("starting %s on %s", h.spec.describe(), h.spec.Dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		w := lockedWriter{h}
		done <- runServiceMode(ctx, IO{Out: w, Err: w, Getenv: os.Getenv}, h.spec)
	}()
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case err := <-done:
			if err != nil {
				h.logf("stopped with an error: %s", oneLine(err.Error()))
				return true, exitModeFailed
			}
			h.logf("stopped")
			return false, 0
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				h.logf("stopping: asked by Windows")
				cancel()
				// Closing the store can take a few seconds on an old
				// laptop; the checkpoints tell Windows it is under way.
				tick := time.NewTicker(2 * time.Second)
				defer tick.Stop()
				for cp := uint32(1); ; cp++ {
					status <- svc.Status{State: svc.StopPending, CheckPoint: cp, WaitHint: 10000}
					select {
					case err := <-done:
						if err != nil {
							h.logf("stopped, with an error: %s", oneLine(err.Error()))
						} else {
							h.logf("stopped")
						}
						return false, 0
					case c := <-r:
						if c.Cmd == svc.Interrogate {
							status <- c.CurrentStatus
						}
					case <-tick.C:
					}
				}
			default:
				h.logf("ignored a request from Windows (%d)", c.Cmd)
			}
		}
	}
}
