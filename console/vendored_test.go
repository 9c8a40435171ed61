package console_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// vendoredFile is one row of static/VENDORED.md's table.
type vendoredFile struct {
	path   string // relative to the repository root, with slashes
	sha256 string
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseVendored reads the first Markdown table of doc, whose header must have
// the columns Path and SHA-256.
func parseVendored(doc string) ([]vendoredFile, error) {
	var (
		files           []vendoredFile
		pathCol, shaCol = -1, -1
		inTable         bool
	)
	for line := range strings.Lines(doc) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break // the table ended
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		if !inTable {
			for i, c := range cells {
				switch c {
				case "Path":
					pathCol = i
				case "SHA-256":
					shaCol = i
				}
			}
			if pathCol < 0 || shaCol < 0 {
				return nil, fmt.Errorf("the first table's header %q lacks a Path or SHA-256 column", line)
			}
			inTable = true
			continue
		}
		if strings.Trim(line, "|-: ") == "" {
			continue // the separator row
		}
		if len(cells) <= max(pathCol, shaCol) {
			return nil, fmt.Errorf("row %q has %d cells, want at least %d", line, len(cells), max(pathCol, shaCol)+1)
		}
		files = append(files, vendoredFile{path: cells[pathCol], sha256: strings.ToLower(cells[shaCol])})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no table of vendored files")
	}
	return files, nil
}

// checkVendored returns a problem for each file of the table whose content
// does not have the noted SHA-256 (or that is missing), with paths resolved
// under root.
func checkVendored(root string, files []vendoredFile) []string {
	var problems []string
	for _, f := range files {
		if !sha256Hex.MatchString(f.sha256) {
			problems = append(problems, fmt.Sprintf("%s: SHA-256 %q is not 64 hexadecimal digits", f.path, f.sha256))
			continue
		}
		if filepath.IsAbs(f.path) || strings.Contains(f.path, "..") {
			problems = append(problems, fmt.Sprintf("%s: the path must be relative to the repository root", f.path))
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.path)))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.path, err))
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != f.sha256 {
			problems = append(problems, fmt.Sprintf("%s: SHA-256 is %s, VENDORED.md says %s: replace a vendored file only together with its row (VENDORED.md, Upgrading)", f.path, got, f.sha256))
		}
	}
	return problems
}

// TestVendoredChecksums checks every vendored file against the SHA-256 noted in
// static/VENDORED.md, so a file swapped without a new checksum (or a row
// without its file) fails.
func TestVendoredChecksums(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("static", "VENDORED.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := parseVendored(string(doc))
	if err != nil {
		t.Fatalf("VENDORED.md: %v", err)
	}
	// The test runs in console/: the repository root is its parent.
	for _, p := range checkVendored("..", files) {
		t.Error(p)
	}
	listed := map[string]bool{}
	for _, f := range files {
		listed[f.path] = true
	}
	for _, want := range []string{"console/static/htmx.min.js", "internal/browsertest/testdata/axe.min.js"} {
		if !listed[want] {
			t.Errorf("VENDORED.md does not list %s", want)
		}
	}
}

// TestVendoredChecksumsCatchASwap shows the check failing on a swapped file,
// a missing file and a malformed checksum, and passing on a matching one.
func TestVendoredChecksumsCatchASwap(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "console", "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, "console", "static", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.js", "original")
	write("b.js", "swapped")
	sum := sha256.Sum256([]byte("original"))
	orig := hex.EncodeToString(sum[:])
	doc := "# Vendored\n\n| Path | Version | SHA-256 |\n| --- | --- | --- |\n" +
		"| `console/static/a.js` | 1 | `" + orig + "` |\n" +
		"| `console/static/b.js` | 1 | `" + orig + "` |\n" +
		"| `console/static/gone.js` | 1 | `" + orig + "` |\n" +
		"| `console/static/a.js` | 1 | `abc` |\n\nAfter the table.\n| not | a | row |\n"
	files, err := parseVendored(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("parsed %d rows, want 4: %+v", len(files), files)
	}
	problems := checkVendored(root, files)
	want := []string{"console/static/b.js: SHA-256 is", "console/static/gone.js:", "console/static/a.js: SHA-256 \"abc\""}
	if len(problems) != len(want) {
		t.Fatalf("problems = %q, want %d of them", problems, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %d = %q, want it to start with %q", i, problems[i], w)
		}
	}
	if _, err := parseVendored("no table here\n"); err == nil {
		t.Error("parseVendored accepted a document without a table")
	}
}
