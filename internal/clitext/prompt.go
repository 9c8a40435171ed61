package clitext

// Asking the person at the terminal: secrets without echo. From a pipe or a
// file (scripts, tests) the same questions take the input's lines in order,
// with no prompt.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ErrMismatch is a new secret typed differently the second time.
var ErrMismatch = errors.New("the two entries differ")

// Input reads a command's answers from in, prompting on prompt when in is a
// terminal. It reads in line by line, so several answers can be successive
// lines of one pipe.
type Input struct {
	fd     int // in's descriptor when it is a terminal, else -1
	r      *bufio.Reader
	prompt io.Writer
}

// NewInput returns an Input reading in and prompting on prompt.
func NewInput(in io.Reader, prompt io.Writer) *Input {
	fd := -1
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd = int(f.Fd())
	}
	return &Input{fd: fd, r: bufio.NewReader(in), prompt: prompt}
}

// Interactive says whether the input is a terminal, where a person answers
// prompts.
func (i *Input) Interactive() bool { return i.fd >= 0 }

// Line asks for a value that is not secret: on a terminal "label: " and the
// typed line, echoed; otherwise the next line of the input.
func (i *Input) Line(label string) (string, error) {
	if i.Interactive() {
		fmt.Fprintf(i.prompt, "%s: ", label)
	}
	return i.next(label)
}

// Secret asks for a secret: on a terminal "label: " and the typed line, not
// echoed; otherwise the next line of the input.
func (i *Input) Secret(label string) (string, error) {
	if !i.Interactive() {
		return i.next(label)
	}
	fmt.Fprintf(i.prompt, "%s: ", label)
	raw, err := term.ReadPassword(i.fd)
	fmt.Fprintln(i.prompt)
	if err != nil {
		return "", fmt.Errorf("read the %s: %w", strings.ToLower(label), err)
	}
	return string(raw), nil
}

// NewSecret asks for a secret being chosen: on a terminal twice, and the
// entries must match (ErrMismatch otherwise); otherwise the next line.
func (i *Input) NewSecret(label string) (string, error) {
	first, err := i.Secret(label)
	if err != nil || !i.Interactive() {
		return first, err
	}
	again, err := i.Secret(label + " again")
	if err != nil {
		return "", err
	}
	if first != again {
		return "", fmt.Errorf("%s: %w", strings.ToLower(label), ErrMismatch)
	}
	return first, nil
}

// next is the input's next line without its line ending; the last line
// needs none. An input that has ended is an error naming what was asked.
func (i *Input) next(label string) (string, error) {
	line, err := i.r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("standard input ended before the %s", strings.ToLower(label))
		}
		return "", fmt.Errorf("read the %s: %w", strings.ToLower(label), err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
