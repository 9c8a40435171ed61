package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MainWithDirsync is a TestMain body for packages whose tests run the dirsync
// command as an operator does: it builds the command once into a temporary
// directory, sets *binary to its path, runs the tests and removes the
// directory, returning the exit code for os.Exit. The command is built
// without -race even under `go test -race`: it is the product as it ships.
func MainWithDirsync(m *testing.M, binary *string) int {
	dir, err := os.MkdirTemp("", "dirsync-bin")
	if err != nil {
		fmt.Fprintf(os.Stderr, "temp dir: %v\n", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary build directory; nothing to report to
	*binary = filepath.Join(dir, "dirsync")
	if out, err := exec.Command("go", "build", "-o", *binary, "github.com/dirsync/dirsync/cmd/dirsync").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build dirsync: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}
