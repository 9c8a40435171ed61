package redis

import (
	"encoding/binary"
	"errors"

	"github.com/dirsync/dirsync/state"
)

// entryFormat is the first byte of every stored entry. Entries use a small
// length-prefixed binary form rather than JSON: a 100k snapshot is read on every
// run, and JSON decoding alone made reading it three times slower than a raw
// HSCAN of the same hash.
//
//	0x01, then uvarint-length-prefixed Fingerprint, Kind, Address, Ref,
//	then varint Missing and one byte Gone (0 or 1)
const entryFormat = 0x01

var errBadEntry = errors.New("not a state entry of format 1")

// appendEntry appends e's stored form to buf.
func appendEntry(buf []byte, e state.Entry) []byte {
	buf = append(buf, entryFormat)
	for _, s := range [...]string{e.Fingerprint, e.Kind, e.Address, e.Ref} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.AppendVarint(buf, int64(e.Missing))
	if e.Gone {
		return append(buf, 1)
	}
	return append(buf, 0)
}

// decodeEntry parses a stored entry; anything else, including trailing bytes,
// is an error. The strings share v's memory.
func decodeEntry(v string) (state.Entry, error) {
	if len(v) == 0 || v[0] != entryFormat {
		return state.Entry{}, errBadEntry
	}
	rest := v[1:]
	var fields [4]string
	for i := range fields {
		n, w := binary.Uvarint([]byte(rest[:min(len(rest), binary.MaxVarintLen64)]))
		if w <= 0 || uint64(len(rest)-w) < n {
			return state.Entry{}, errBadEntry
		}
		fields[i], rest = rest[w:w+int(n)], rest[w+int(n):]
	}
	missing, w := binary.Varint([]byte(rest[:min(len(rest), binary.MaxVarintLen64)]))
	if w <= 0 || len(rest) != w+1 || rest[w] > 1 {
		return state.Entry{}, errBadEntry
	}
	return state.Entry{
		Fingerprint: fields[0], Kind: fields[1], Address: fields[2], Ref: fields[3],
		Missing: int(missing), Gone: rest[w] == 1,
	}, nil
}
