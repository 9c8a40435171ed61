package stream

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// client is never dialled: New does not contact Redis.
var client = goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string // substrings of the error; none = valid
	}{
		{"valid", Options{Client: client, Consumer: "a"}, nil},
		{"no client", Options{Consumer: "a"}, []string{"Options.Client is required"}},
		{"no consumer", Options{Client: client}, []string{"Options.Consumer is required"}},
		{"every problem at once", Options{}, []string{"Options.Client", "Options.Consumer"}},
		{"negative batch", Options{Client: client, Consumer: "a", Batch: -1}, []string{"Options.Batch is -1"}},
		{"negative block", Options{Client: client, Consumer: "a", Block: -time.Second}, []string{"Options.Block is -1s"}},
		{"block under 1ms", Options{Client: client, Consumer: "a", Block: time.Microsecond}, []string{"Options.Block is 1µs, must be at least 1ms"}},
		{"claim idle under 1ms", Options{Client: client, Consumer: "a", ClaimIdle: time.Microsecond}, []string{"Options.ClaimIdle is 1µs"}},
		{"negative max deliveries", Options{Client: client, Consumer: "a", MaxDeliveries: -2}, []string{"Options.MaxDeliveries is -2"}},
		{"negative retry wait", Options{Client: client, Consumer: "a", RetryWait: -time.Second}, []string{"Options.RetryWait is -1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.o)
			if tt.want == nil {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.Error(t, err)
			require.Nil(t, c)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Options{Client: client, Consumer: "a"})
	require.NoError(t, err)
	require.Equal(t, DefaultStream, c.o.Stream)
	require.Equal(t, DefaultGroup, c.o.Group)
	require.Equal(t, DefaultField, c.o.Field)
	require.Equal(t, DefaultBatch, c.o.Batch)
	require.Equal(t, DefaultBlock, c.o.Block)
	require.Equal(t, DefaultClaimIdle, c.o.ClaimIdle)
	require.EqualValues(t, DefaultMaxDeliveries, c.o.MaxDeliveries)
	require.Equal(t, DefaultRetryWait, c.o.RetryWait)
	require.NotNil(t, c.log)
}

func TestRunRefusesNilHandlerAndSecondRun(t *testing.T) {
	c, err := New(Options{Client: client, Consumer: "a"})
	require.NoError(t, err)
	require.ErrorContains(t, c.Run(context.Background(), nil), "needs a Handler")
	c.running.Store(true)
	require.ErrorIs(t, c.Run(context.Background(), func(context.Context, []string) error { return nil }), errRunning)
}

func TestClip(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short", "alice@example.com", "alice@example.com"},
		{"exactly the limit", strings.Repeat("a", 100), strings.Repeat("a", 100)},
		{"cut", strings.Repeat("a", 150), strings.Repeat("a", 100) + "…"},
		// 99 bytes of a then a 2-byte rune straddling the limit: cut before it.
		{"rune boundary", strings.Repeat("a", 99) + "éé", strings.Repeat("a", 99) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, clip(tt.in))
		})
	}
}

func TestParseAutoClaim(t *testing.T) {
	tests := []struct {
		name             string
		reply            []any
		next             string
		ids, deleted     []string
		wantErrSubstring string
	}{
		{"redis 7", []any{"0-0", []any{"1-0", "2-0"}, []any{"3-0"}}, "0-0", []string{"1-0", "2-0"}, []string{"3-0"}, ""},
		{"redis 6.2", []any{"5-0", []any{"1-0"}}, "5-0", []string{"1-0"}, nil, ""},
		{"nothing", []any{"0-0", []any{}, []any{}}, "0-0", []string{}, []string{}, ""},
		{"short", []any{"0-0"}, "", nil, nil, "2 or 3"},
		{"bad cursor", []any{int64(1), []any{}}, "", nil, nil, "cursor"},
		{"bad ids", []any{"0-0", "x"}, "", nil, nil, "claimed IDs"},
		{"bad deleted", []any{"0-0", []any{}, []any{int64(3)}}, "", nil, nil, "deleted IDs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, ids, deleted, err := parseAutoClaim(tt.reply)
			if tt.wantErrSubstring != "" {
				require.ErrorContains(t, err, tt.wantErrSubstring)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.next, next)
			require.Equal(t, tt.ids, ids)
			require.Equal(t, tt.deleted, deleted)
		})
	}
}
