package policy

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// memTransport feeds a connection from memory; deadlines never expire.
type memTransport struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (m *memTransport) Read(p []byte) (int, error)       { return m.r.Read(p) }
func (m *memTransport) Write(p []byte) (int, error)      { return m.w.Write(p) }
func (m *memTransport) SetReadDeadline(time.Time) error  { return nil }
func (m *memTransport) SetWriteDeadline(time.Time) error { return nil }

type countSink struct{ senders []string }

func (s *countSink) Offer(sender string) { s.senders = append(s.senders, sender) }

// completeRequests counts the requests a reader of data sees end: the empty
// lines ("\n" or "\r\n") among its complete lines, whatever else they hold.
func completeRequests(data []byte) int {
	lines := bytes.Split(data, []byte("\n"))
	n := 0
	for _, l := range lines[:len(lines)-1] { // the last piece has no "\n"
		if len(l) == 0 || (len(l) == 1 && l[0] == '\r') {
			n++
		}
	}
	return n
}

func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		"request=smtpd_access_policy\nsender=a@example.com\n\n",
		"request=smtpd_access_policy\r\nsender=a@example.com\r\n\r\n",
		"sender=a@example.com\n\nsender=b@example.com\n\nsender=c",
		"no equals\n\n",
		"\x00\xff\xfe\n\n\n",
		"sender=" + strings.Repeat("x", 300) + "\n\n",
		strings.Repeat("a=b\n", 100) + "\n",
		"\n\r\n\r\r\n\n",
	} {
		f.Add([]byte(seed), uint8(40), uint16(200))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxLine uint8, maxRequest uint16) {
		core, logs := observer.New(zap.WarnLevel)
		sink := &countSink{}
		// Small limits so that fuzzed inputs reach the oversized paths.
		s := New(Options{Sink: sink, Log: zap.New(core), MaxLine: 1 + int(maxLine), MaxRequest: 1 + int(maxRequest)})
		tr := &memTransport{r: bytes.NewReader(data)}
		s.newConn(tr, "fuzz").serve()

		// serve recovers panics and logs them as errors.
		require.Empty(t, logs.FilterLevelExact(zap.ErrorLevel).All())
		want := completeRequests(data)
		require.Equal(t, strings.Repeat(answer, want), tr.w.String())
		st := s.Stats()
		require.EqualValues(t, want, st.Requests)
		require.LessOrEqual(t, len(sink.senders), want)
		for _, x := range sink.senders {
			require.NotEmpty(t, x)
			require.LessOrEqual(t, len(x), s.o.MaxLine)
		}
		require.LessOrEqual(t, len(logs.FilterLevelExact(zap.WarnLevel).All()), 2, "one warning per kind per connection")
	})
}
