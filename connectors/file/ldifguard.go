package file

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/go-ldap/ldif"
)

// Caps on what one LDIF line and one entry may hold. A real value (a jpegPhoto,
// a group of 100,000 members is many lines) stays far below them; without them a
// line with no newline (/dev/zero) or a value folded over millions of lines grows
// until memory runs out (and the parser's fold joining is quadratic).
const (
	maxLDIFLine  = 4 << 20
	maxLDIFEntry = 32 << 20
)

// ldifEntry is one parsed entry and the line of its "dn:".
type ldifEntry struct {
	entry *goldap.Entry
	line  int
}

// ldifEntries parses LDIF through ldifGuard, so every path that reads an LDIF
// (Read, Lookup, Check) refuses the same input: URL values, over-long lines and
// entries, change records. Errors name the file and the line at fault (the parser
// alone names the line where the entry ends).
func ldifEntries(r io.Reader, path string) iter.Seq2[ldifEntry, error] {
	return func(yield func(ldifEntry, error) bool) {
		g := newLDIFGuard(r)
		var l ldif.LDIF
		for e, err := range ldif.UnmarshalEntries(g, &l) {
			if err != nil {
				yield(ldifEntry{}, g.explain(path, err))
				return
			}
			rec := g.next()
			if e.Entry == nil {
				yield(ldifEntry{}, fmt.Errorf("ldif %s: entry at line %d is a change record (changetype): export the directory with slapcat or ldifde instead", path, rec.start))
				return
			}
			if !yield(ldifEntry{entry: e.Entry, line: rec.dn}, nil) {
				return
			}
		}
	}
}

// ldifRecord locates one entry of the file: its first line, its dn: line.
type ldifRecord struct{ start, dn int }

// ldifGuard sits between the file and the go-ldap/ldif parser. It unfolds each
// logical line itself (bounded, linear), checks it, and only then hands it on; the
// parser reads an attr:< URL value from disk when it parses the entry, which
// happens only after the entry's lines were handed on, so a refused line never
// reaches it.
type ldifGuard struct {
	br      *bufio.Reader
	phys    []byte       // the physical line being read
	cur     bytes.Buffer // the logical line being unfolded
	curLine int          // where cur started; 0: no logical line open
	line    int          // physical lines read
	comment bool         // continuation lines belong to a comment
	first   bool         // still in the file's first record (version: allowed)
	// versionLine: the open record starts with version:, which is no entry.
	versionLine bool
	rec         ldifRecord   // the open record
	lines       int          // logical lines in the open record
	size        int          // bytes in the open record
	done        []ldifRecord // closed records the parser has not yielded yet
	out         []byte
	err         error
	eof         bool
}

func newLDIFGuard(r io.Reader) *ldifGuard {
	return &ldifGuard{br: bufio.NewReaderSize(r, 64<<10), first: true}
}

// Read implements io.Reader: the checked, unfolded LDIF.
func (g *ldifGuard) Read(p []byte) (int, error) {
	for len(g.out) == 0 && g.err == nil && !g.eof {
		g.step()
	}
	if len(g.out) > 0 {
		n := copy(p, g.out)
		g.out = g.out[n:]
		return n, nil
	}
	if g.err != nil {
		return 0, g.err
	}
	return 0, io.EOF
}

// next pops the record the parser just finished.
func (g *ldifGuard) next() ldifRecord {
	if len(g.done) == 0 {
		return ldifRecord{}
	}
	r := g.done[0]
	g.done = g.done[1:]
	return r
}

// explain turns a parser error into one naming the file and the line: the guard's
// own error as is, an entry-level parse error with the entry's first line.
func (g *ldifGuard) explain(path string, err error) error {
	if g.err != nil {
		return fmt.Errorf("ldif %s: %w", path, g.err)
	}
	var pe *ldif.ParseError
	if rec := g.next(); errors.As(err, &pe) && rec.start > 0 {
		return fmt.Errorf("ldif %s: entry at line %d: %s", path, rec.start, pe.Message)
	}
	return fmt.Errorf("ldif %s: %w", path, err)
}

// step reads one physical line and follows the parser's rules for it: a blank
// line ends a record, # starts a comment, a leading space continues the line
// before (or the comment).
func (g *ldifGuard) step() {
	text, err := g.physical()
	if err != nil && !errors.Is(err, io.EOF) {
		g.err = err
		return
	}
	atEOF := err != nil
	switch {
	case len(text) == 0:
		if !atEOF || g.curLine > 0 || g.lines > 0 {
			g.endRecord()
		}
	case text[0] == '#':
		g.flush()
		g.comment = true
	case text[0] == ' ':
		if g.comment {
			break
		}
		if g.curLine == 0 {
			g.curLine = g.line
		}
		g.cur.Write(text[1:])
	default:
		g.flush()
		g.comment = false
		g.curLine = g.line
		g.cur.Write(text)
	}
	if g.err == nil && g.cur.Len() > maxLDIFLine {
		g.err = g.tooLong(g.curLine, g.cur.Bytes())
	}
	if g.err == nil && atEOF {
		g.endRecord()
		g.eof = true
	}
}

// physical returns the next line without its CR/LF ending, refusing one longer
// than the cap before it is all in memory.
func (g *ldifGuard) physical() ([]byte, error) {
	g.phys = g.phys[:0]
	g.line++
	for {
		chunk, err := g.br.ReadSlice('\n')
		g.phys = append(g.phys, chunk...)
		if len(g.phys) > maxLDIFLine+2 {
			return nil, g.tooLong(g.line, g.phys)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(g.phys, "\r\n"), err
	}
}

func (g *ldifGuard) tooLong(line int, text []byte) error {
	attr := ""
	if i := bytes.IndexByte(text[:min(len(text), 256)], ':'); i > 0 {
		attr = fmt.Sprintf(" (attribute %q)", text[:i])
	}
	return fmt.Errorf("line %d is longer than %d MiB%s: no directory value is this big; is this an LDIF export?", line, maxLDIFLine>>20, attr)
}

// flush checks the open logical line and hands it on.
func (g *ldifGuard) flush() {
	if g.curLine == 0 || g.err != nil {
		return
	}
	text := g.cur.Bytes()
	if err := g.check(g.curLine, text); err != nil {
		g.err = err
		return
	}
	if g.lines == 0 {
		g.rec.start = g.curLine
	}
	if g.rec.dn == 0 && bytes.HasPrefix(text, []byte("dn:")) {
		g.rec.dn = g.curLine
	}
	g.lines++
	g.size += len(text)
	if g.size > maxLDIFEntry {
		g.err = fmt.Errorf("entry at line %d is larger than %d MiB: no directory entry is this big; is this an LDIF export?", g.rec.start, maxLDIFEntry>>20)
		return
	}
	g.out = append(append(g.out, text...), '\n')
	g.cur.Reset()
	g.curLine = 0
}

// endRecord closes the open record: the blank line after it makes the parser
// parse it. A version: line alone at the top yields no entry, so it is no record.
func (g *ldifGuard) endRecord() {
	g.flush()
	if g.err != nil || g.lines == 0 {
		return
	}
	if !(g.first && g.lines == 1 && g.rec.dn == 0 && g.versionLine) {
		g.done = append(g.done, g.rec)
	}
	g.out = append(g.out, '\n')
	g.first, g.versionLine = false, false
	g.rec, g.lines, g.size = ldifRecord{}, 0, 0
}

// check refuses a logical line the parser would refuse, naming its line, and a
// URL value, which the parser would read from disk: a drop file could otherwise
// pull /proc/self/environ (the ${ENV} secrets) or /dev/zero into a user's name.
func (g *ldifGuard) check(line int, text []byte) error {
	if string(text) == "-" { // ends a modify operation; the change record is refused later
		return nil
	}
	i := bytes.IndexByte(text, ':')
	if i < 0 {
		return fmt.Errorf("line %d: no colon in %s: every line is \"attribute: value\" (a continuation line starts with one space)", line, clip(text))
	}
	attr := text[:i]
	if !validAttr(attr) {
		return fmt.Errorf("line %d: %s is not an attribute name: use letters, digits, - and ; (or an OID)", line, clip(attr))
	}
	value := text[i+1:]
	if len(value) == 0 {
		return fmt.Errorf("line %d: attribute %q has nothing after its colon: write \"%s: \" for an empty value, or remove the line", line, attr, attr)
	}
	switch value[0] {
	case '<':
		return fmt.Errorf("line %d: attribute %q takes its value from a URL (%s), which the file connector never reads: put the value itself in the file (%s: text, or %s:: base64)",
			line, attr, clip(bytes.TrimLeft(value[1:], " ")), attr, attr)
	case ':':
		enc := bytes.TrimLeft(value[1:], " ")
		if _, err := base64.StdEncoding.Decode(make([]byte, base64.StdEncoding.DecodedLen(len(enc))), enc); err != nil {
			return fmt.Errorf("line %d: attribute %q: the base64 value does not decode (%w): check the value after \"%s::\"", line, attr, err, attr)
		}
	}
	if g.first && g.lines == 0 && string(attr) == "version" {
		g.versionLine = true
		if v, err := strconv.Atoi(string(bytes.TrimLeft(value, " "))); err != nil || v != 1 {
			return fmt.Errorf("line %d: version %s: LDIF has only version 1", line, clip(bytes.TrimLeft(value, " ")))
		}
	}
	return nil
}

// validAttr follows the parser: a name (letter, then letters, digits, - and ;
// for options) or an OID.
func validAttr(a []byte) bool {
	if len(a) == 0 {
		return false
	}
	if a[0] >= '0' && a[0] <= '9' {
		dot := true
		for _, c := range a {
			switch {
			case c == '.' && dot:
				return false
			case c == '.':
				dot = true
			case c >= '0' && c <= '9':
				dot = false
			default:
				return false
			}
		}
		return true
	}
	for i, c := range a {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-' || c == ';')) {
			return false
		}
	}
	return true
}

// clip quotes the start of a line for an error: enough to find it, never a
// whole value.
func clip(b []byte) string {
	const n = 60
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}
