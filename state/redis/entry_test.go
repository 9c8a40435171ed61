package redis

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/state"
)

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range []state.Entry{
		{},
		{Fingerprint: "f", Kind: "user", Address: "x@example.org"},
		{Fingerprint: "ff", Kind: "group", Address: "ü@example.org", Ref: "CN=a\x00b,DC=x", Missing: 3, Gone: true},
		{Missing: -1},
	} {
		got, err := decodeEntry(string(appendEntry(nil, e)))
		require.NoError(t, err)
		require.Equal(t, e, got)
	}
}

func TestEntryRejectsGarbage(t *testing.T) {
	good := string(appendEntry(nil, state.Entry{Fingerprint: "f", Address: "a"}))
	for _, v := range []string{"", "\x00garbage", `{"f":"x"}`, good[:len(good)-1], good + "x", "\x01\xff", "\x01\x05ab"} {
		_, err := decodeEntry(v)
		require.Error(t, err, "%q", v)
	}
}
