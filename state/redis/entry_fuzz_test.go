package redis

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/state"
)

func FuzzDecodeEntry(f *testing.F) {
	for _, e := range []state.Entry{
		{},
		{Fingerprint: "f", Kind: "user", Address: "x@example.org"},
		{Fingerprint: "ff", Kind: "group", Address: "ü@example.org", Ref: "CN=a\x00b,DC=x", Missing: 3, Gone: true},
		{Missing: -1},
	} {
		f.Add(string(appendEntry(nil, e)))
	}
	for _, v := range []string{"", "\x00garbage", `{"f":"x"}`, "\x01\xff", "\x01\x05ab",
		"\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
		"\x01\x00\x00\x00\x00\x00\x02", "\x01\x80\x00\x00\x00\x00\x00\x00"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		e, err := decodeEntry(v)
		if err != nil {
			require.Zero(t, e)
			return
		}
		// Decoding what we would write back gives the same entry (a varint may
		// have been spelled with more bytes than needed, so the bytes may differ).
		again, err := decodeEntry(string(appendEntry(nil, e)))
		require.NoError(t, err)
		require.Equal(t, e, again)
		require.LessOrEqual(t, len(e.Fingerprint)+len(e.Kind)+len(e.Address)+len(e.Ref), len(v))
	})
}

func FuzzEntryRoundTrip(f *testing.F) {
	f.Add("f", "user", "x@example.org", "cn=x", int64(0), false)
	f.Add("", "", "", "", int64(-1), true)
	f.Add("\x00", "\x01", "\xff", "", int64(1)<<40, false)
	f.Fuzz(func(t *testing.T, fp, kind, addr, ref string, missing int64, gone bool) {
		e := state.Entry{Fingerprint: fp, Kind: kind, Address: addr, Ref: ref, Missing: int(missing), Gone: gone}
		got, err := decodeEntry(string(appendEntry(nil, e)))
		require.NoError(t, err)
		require.Equal(t, e, got)
	})
}
