package store

import (
	"fmt"
	"log/slog"
	"strings"
)

// badgerLogger routes badger's log to the node's logger. Only warnings and
// errors pass: badger's info and debug lines are about its internals
// (compactions, table counts) and would drown the node's own log. Badger
// never logs values; it may log key bytes in rare errors, and keys hold
// search terms of indexed (public) directory text, never a sealed field.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(format string, args ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (b badgerLogger) Warningf(format string, args ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
