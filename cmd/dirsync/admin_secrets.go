package main

// Passwords and security answers reach the admin commands from a file or
// standard input, never as a plain flag: a command line is visible to every
// user of the machine (ps) and stays in the shell's history.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// adminStdin is where --password-stdin and --answer-stdin read; tests replace it.
var adminStdin io.Reader = os.Stdin

// secretFlag is a secret given by --NAME-file F or --NAME-stdin, and for a
// security answer (not a password) also by --NAME TEXT.
type secretFlag struct {
	name  string // "password", "answer"
	file  string
	stdin bool
	plain string
	// plainAllowed: --NAME TEXT exists.
	plainAllowed bool
}

// addSecretFlag registers the flags of one secret on fs.
func addSecretFlag(fs *flag.FlagSet, name, what string, plainAllowed bool) *secretFlag {
	s := &secretFlag{name: name, plainAllowed: plainAllowed}
	fs.StringVar(&s.file, name+"-file", "", "read the "+what+" from this file (its first line)")
	fs.BoolVar(&s.stdin, name+"-stdin", false, "read the "+what+" from standard input (one line; prompted without echo on a terminal)")
	if plainAllowed {
		fs.StringVar(&s.plain, name, "", "the "+what+" itself (visible in the process list and shell history; prefer --"+name+"-file)")
	}
	return s
}

// given says whether any of the secret's flags was used.
func (s *secretFlag) given() bool { return s.file != "" || s.stdin || s.plain != "" }

// value returns the secret, read from where its flags say ("" and no error
// when none was given). Reading from stdin goes through in, shared by every
// secret of the command, so a password and an answer can be two lines of it.
func (s *secretFlag) value(in *stdinLines) (string, error) {
	n := 0
	for _, b := range []bool{s.file != "", s.stdin, s.plain != ""} {
		if b {
			n++
		}
	}
	if n > 1 {
		alt := ""
		if s.plainAllowed {
			alt = " or --" + s.name
		}
		return "", usageError("give the %s one way: --%s-file or --%s-stdin%s", s.name, s.name, s.name, alt)
	}
	var v string
	var err error
	switch {
	case s.file != "":
		v, err = readSecretFile(s.file, s.name)
	case s.stdin:
		v, err = in.line(s.name)
	default:
		return s.plain, nil
	}
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", usageError("the %s is empty", s.name)
	}
	return v, nil
}

// readSecretFile reads the first line of path (no trailing newline).
func readSecretFile(path, what string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		// The error names the file, never its content.
		return "", usageError("--%s-file: %v", what, err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

// stdinLines hands out standard input line by line; on a terminal it prompts
// and reads without echo.
type stdinLines struct {
	r      *bufio.Reader
	prompt io.Writer
}

func newStdinLines(prompt io.Writer) *stdinLines {
	return &stdinLines{r: bufio.NewReader(adminStdin), prompt: prompt}
}

func (s *stdinLines) line(what string) (string, error) {
	if f, ok := adminStdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(s.prompt, "%s: ", strings.ToUpper(what[:1])+what[1:])
		raw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.prompt)
		if err != nil {
			return "", fmt.Errorf("read the %s: %w", what, err)
		}
		return string(raw), nil
	}
	line, err := s.r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", usageError("--%s-stdin: standard input ended before the %s", what, what)
		}
		return "", fmt.Errorf("read the %s: %w", what, err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
