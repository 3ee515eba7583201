// Command floe is the Floe node and its command-line tool.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/floe-north/floe/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], cli.Stdio())
	stop()
	os.Exit(code)
}
