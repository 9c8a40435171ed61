package stream_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/internal/testenv"
)

// FuzzStreamEntry writes an entry of fuzzed fields to a real stream (another
// system writes it, so any bytes are possible) and reads it with a Consumer:
// the entry is settled once, handed over byte for byte when it has the sender
// field and counted malformed when not, and nothing panics.
func FuzzStreamEntry(f *testing.F) {
	testenv.Addr(f, testenv.EnvRedisAddr) // under CI a missing server fails here
	for _, s := range [][4]string{
		{"sender", "a@example.com", "", ""},
		{"sender", "", "", ""},
		{"from", "a@example.com", "to", "b@example.com"},
		{"sender", "first@example.com", "sender", "second@example.com"},
		{"sender", "\x00\xff\xfe<>@\r\n", "x", ""},
		{"SENDER", "a@example.com", "", ""},
		{"", "", "", ""},
		{"sender", string(make([]byte, 5000)), "other", "ä"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		e := newEnv(t)
		kv := []any{k1, v1}
		if k2 != "" || v2 != "" {
			kv = append(kv, k2, v2)
		}
		e.addFields(kv...)
		want, has := "", false
		for i := 0; i < len(kv); i += 2 {
			if kv[i] == "sender" {
				want, has = kv[i+1].(string), true // a repeated field: the last one is read
			}
		}
		var mu sync.Mutex
		var got [][]string
		c := e.consumer(e.opts("fuzz"))
		stop := start(t, c, func(_ context.Context, senders []string) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, senders)
			return nil
		})
		require.Eventually(t, func() bool { return c.Stats().Acked == 1 }, waitFor, tick)
		stop()
		mu.Lock()
		defer mu.Unlock()
		st := c.Stats()
		if has {
			require.Equal(t, [][]string{{want}}, got)
			require.Zero(t, st.Malformed)
		} else {
			require.Empty(t, got)
			require.EqualValues(t, 1, st.Malformed)
		}
		require.Zero(t, e.pending(""), "the entry is settled")
	})
}
