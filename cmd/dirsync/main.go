// Command dirsync keeps an email gateway's user directory in step with the
// organisation's directories. main only wires: see run.
package main

import (
	"context"
	"os"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}
