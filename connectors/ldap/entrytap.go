package ldap

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"

	goldap "github.com/go-ldap/ldap/v3"
)

// A full read spends most of its CPU in go-ldap's BER decoding: every element of
// a message becomes a *ber.Packet with its own buffer, description and children,
// about 540 allocations for one entry. entryTap sits between go-ldap and the
// connection of a full read's search (after TLS) and decodes the one message type
// that matters, SearchResultEntry, itself: for the searches it was armed for,
// entries in the plain form servers send (definite lengths, OCTET STRING DN, type
// and values, no entry controls) become *goldap.Entry values with a handful of
// allocations and never reach go-ldap. Every other message (bind, search done and
// its paging cookie, referrals, errors, an entry in any other form) passes through
// byte for byte, so go-ldap decodes and classifies it exactly as before.

// Limits of what the tap takes apart; anything else passes through to go-ldap.
const (
	tapBufferSize = 64 << 10
	tapMaxMessage = 64 << 20 // a larger message turns the tap into a plain pipe
)

// BER identifiers of the LDAP messages the tap reads and writes.
const (
	berSequence      = 0x30
	berSet           = 0x31
	berInteger       = 0x02
	berOctetString   = 0x04
	opSearchRequest  = 0x63 // [APPLICATION 3] constructed
	opSearchEntry    = 0x64 // [APPLICATION 4] constructed
	opSearchDone     = 0x65 // [APPLICATION 5] constructed
	maxMessageIDSize = 4    // message IDs are 0..2^31-1
)

// entryTap wraps the net.Conn go-ldap reads from. Read is called only by
// go-ldap's reader goroutine, Write only by its message loop; arm by the search.
type entryTap struct {
	net.Conn
	in  *bufio.Reader
	msg []byte // the message being read, reused
	out []byte // what go-ldap has still to read of a forwarded message
	err error  // the read error to return once out is drained
	raw bool   // framing gave up: pass everything through

	decoded atomic.Int64 // entries the tap decoded itself (for tests)

	mu      sync.Mutex
	pending *entryQueue           // the queue for the next SearchRequest written
	byID    map[int64]*entryQueue // searches whose entries the tap decodes
}

// arm hands the entries of the next search request written on the connection to q.
func (t *entryTap) arm(q *entryQueue) {
	t.mu.Lock()
	t.pending = q
	t.mu.Unlock()
}

// disarm forgets q, whether or not its request was written.
func (t *entryTap) disarm(q *entryQueue) {
	t.mu.Lock()
	if t.pending == q {
		t.pending = nil
	}
	for id, x := range t.byID {
		if x == q {
			delete(t.byID, id)
		}
	}
	t.mu.Unlock()
}

// Write notes the message ID of the armed search request, then writes. go-ldap
// writes one whole message per call.
func (t *entryTap) Write(b []byte) (int, error) {
	t.mu.Lock()
	if t.pending != nil {
		if id, op, _, ok := messageHeader(b); ok && op == opSearchRequest {
			t.byID[id] = t.pending
			t.pending = nil
		}
	}
	t.mu.Unlock()
	return t.Conn.Write(b)
}

// Read hands go-ldap every message the tap does not keep.
func (t *entryTap) Read(p []byte) (int, error) {
	for len(t.out) == 0 {
		if t.err != nil {
			return 0, t.err
		}
		if t.raw {
			return t.in.Read(p)
		}
		msg, ok := t.next()
		if !ok {
			continue
		}
		if t.intercept(msg) {
			continue
		}
		t.out = msg
	}
	n := copy(p, t.out)
	t.out = t.out[n:]
	return n, nil
}

// next reads one whole LDAPMessage. It returns false when it switched to raw
// mode or hit a read error, leaving what it read in out for go-ldap.
func (t *entryTap) next() ([]byte, bool) {
	head, err := t.in.Peek(2)
	if err != nil || head[0] != berSequence {
		t.raw = true
		return nil, false
	}
	hdr, length := 2, int(head[1])
	if head[1]&0x80 != 0 {
		n := int(head[1] & 0x7f)
		if n == 0 || n > 4 {
			t.raw = true // indefinite or huge: go-ldap's business
			return nil, false
		}
		long, err := t.in.Peek(2 + n)
		if err != nil {
			t.raw = true
			return nil, false
		}
		length = 0
		for _, c := range long[2:] {
			length = length<<8 | int(c)
		}
		hdr = 2 + n
	}
	if length > tapMaxMessage {
		t.raw = true
		return nil, false
	}
	total := hdr + length
	if cap(t.msg) < total {
		t.msg = make([]byte, total)
	}
	t.msg = t.msg[:total]
	n, err := io.ReadFull(t.in, t.msg)
	if err != nil {
		// A cut connection: go-ldap gets the partial message, then the error,
		// as it would have without the tap.
		t.out, t.err = t.msg[:n], err
		return nil, false
	}
	return t.msg, true
}

// intercept decodes msg into its search's queue when it is an entry of an
// armed search in the plain form; it reports whether it kept the message.
func (t *entryTap) intercept(msg []byte) bool {
	id, op, _, ok := messageHeader(msg)
	if !ok || (op != opSearchEntry && op != opSearchDone) {
		return false
	}
	t.mu.Lock()
	q := t.byID[id]
	if op == opSearchDone {
		delete(t.byID, id) // go-ldap reads the done (cookie, result code)
	}
	t.mu.Unlock()
	if q == nil || op != opSearchEntry {
		return false
	}
	e, ok := decodeEntry(msg)
	if !ok {
		return false
	}
	t.decoded.Add(1)
	q.push(e)
	return true
}

// messageHeader reads an LDAPMessage's ID and protocolOp identifier; body is
// where the protocolOp starts.
func messageHeader(b []byte) (id int64, op byte, body int, ok bool) {
	seq, _, ok := berElement(b, berSequence)
	if !ok {
		return 0, 0, 0, false
	}
	idb, after, ok := berElement(seq, berInteger)
	if !ok || len(idb) == 0 || len(idb) > maxMessageIDSize || len(after) == 0 {
		return 0, 0, 0, false
	}
	for _, c := range idb {
		id = id<<8 | int64(c)
	}
	if idb[0]&0x80 != 0 {
		id -= 1 << (8 * len(idb)) // two's complement, as go-ldap reads it
	}
	return id, after[0], len(b) - len(after), true
}

// berElement reads one definite-length element with identifier tag at the start
// of b: its content and what follows it.
func berElement(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	hdr, length := 2, int(b[1])
	if b[1]&0x80 != 0 {
		n := int(b[1] & 0x7f)
		if n == 0 || n > 4 || len(b) < 2+n {
			return nil, nil, false
		}
		length = 0
		for _, c := range b[2 : 2+n] {
			length = length<<8 | int(c)
		}
		hdr = 2 + n
	}
	if length > len(b)-hdr {
		return nil, nil, false
	}
	return b[hdr : hdr+length], b[hdr+length:], true
}

// decodeEntry decodes a whole LDAPMessage holding a SearchResultEntry in the
// plain form: SEQUENCE { INTEGER id, [APPLICATION 4] { OCTET STRING dn,
// SEQUENCE OF SEQUENCE { OCTET STRING type, SET OF OCTET STRING } } } with
// definite lengths and nothing after the entry (no controls). Anything else
// returns false and is left to go-ldap. The entry is what go-ldap would build:
// DN, and per attribute Name, Values and ByteValues.
func decodeEntry(msg []byte) (*goldap.Entry, bool) {
	seq, rest, ok := berElement(msg, berSequence)
	if !ok || len(rest) != 0 {
		return nil, false
	}
	_, seq, ok = berElement(seq, berInteger)
	if !ok {
		return nil, false
	}
	op, rest, ok := berElement(seq, opSearchEntry)
	if !ok || len(rest) != 0 {
		return nil, false // entry controls, or trailing bytes: go-ldap decodes those
	}
	dn, op, ok := berElement(op, berOctetString)
	if !ok {
		return nil, false
	}
	list, rest, ok := berElement(op, berSequence)
	if !ok || len(rest) != 0 {
		return nil, false
	}
	// First pass: check the form and count, so the second allocates once.
	nAttrs, nVals := 0, 0
	for p := list; len(p) > 0; {
		attr, next, ok := berElement(p, berSequence)
		if !ok {
			return nil, false
		}
		_, vals, ok := berElement(attr, berOctetString)
		if !ok {
			return nil, false
		}
		set, tail, ok := berElement(vals, berSet)
		if !ok || len(tail) != 0 {
			return nil, false
		}
		for v := set; len(v) > 0; {
			_, v, ok = berElement(v, berOctetString)
			if !ok {
				return nil, false
			}
			nVals++
		}
		nAttrs++
		p = next
	}
	// Second pass: one string and one byte copy of the message back every name
	// and value; offsets into msg are offsets into both.
	str := string(msg)
	raw := append([]byte(nil), msg...)
	at := func(b []byte) int { return cap(msg) - cap(b) } // every element is a subslice of msg
	sub := func(b []byte) (string, []byte) {
		o := at(b)
		return str[o : o+len(b)], raw[o : o+len(b) : o+len(b)]
	}
	attrs := make([]goldap.EntryAttribute, nAttrs)
	ptrs := make([]*goldap.EntryAttribute, nAttrs)
	values := make([]string, nVals)
	bytesValues := make([][]byte, nVals)
	e := &goldap.Entry{Attributes: ptrs}
	e.DN, _ = sub(dn)
	i, j := 0, 0
	for p := list; len(p) > 0; i++ {
		attr, next, _ := berElement(p, berSequence)
		name, vals, _ := berElement(attr, berOctetString)
		set, _, _ := berElement(vals, berSet)
		first := j
		for v := set; len(v) > 0; j++ {
			var val []byte
			val, v, _ = berElement(v, berOctetString)
			values[j], bytesValues[j] = sub(val)
		}
		a := &attrs[i]
		a.Name, _ = sub(name)
		// Full slice expressions: an append to one attribute's values (as
		// completeRanges does) must not run into the next attribute's.
		a.Values, a.ByteValues = values[first:j:j], bytesValues[first:j:j]
		ptrs[i] = a
		p = next
	}
	return e, true
}

// entryQueue carries one search page's entries from the tap (and the entries and
// outcome go-ldap reports) to the goroutine that maps them.
type entryQueue struct {
	mu       sync.Mutex
	items    []*goldap.Entry
	finished bool
	controls []goldap.Control
	err      error
	wake     chan struct{}
}

func newEntryQueue() *entryQueue { return &entryQueue{wake: make(chan struct{}, 1)} }

func (q *entryQueue) push(e *goldap.Entry) {
	q.mu.Lock()
	q.items = append(q.items, e)
	q.mu.Unlock()
	q.signal()
}

func (q *entryQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// finish records go-ldap's end of the search: the done's controls and its error.
func (q *entryQueue) finish(controls []goldap.Control, err error) {
	q.mu.Lock()
	q.finished, q.controls, q.err = true, controls, err
	q.mu.Unlock()
	q.signal()
}

// take returns the queued entries (reusing spare, the previous batch, for the
// next ones) and whether the search has finished. The tap queues a page's
// entries before it passes the page's done to go-ldap, so once finished is
// true every entry is in the batch.
func (q *entryQueue) take(spare []*goldap.Entry) (batch []*goldap.Entry, finished bool) {
	clear(spare)
	q.mu.Lock()
	defer q.mu.Unlock()
	batch, q.items = q.items, spare[:0]
	return batch, q.finished
}

// tappedConn is a connection whose searches' entries an entryTap can decode.
type tappedConn struct {
	*goldap.Conn
	tap *entryTap
}

// searchPage runs one page of a search with the tap armed: entries come from the
// tap (and from go-ldap, for any the tap left to it), the done's controls and
// any error from go-ldap. each runs on this goroutine; once it fails, cancel
// stops the search and the rest is drained unseen.
func (c *tappedConn) searchPage(ctx context.Context, cancel context.CancelFunc, req *goldap.SearchRequest, bufferSize int,
	each func(*goldap.Entry) error) (controls []goldap.Control, failed, err error) {
	q := newEntryQueue()
	c.tap.arm(q)
	defer c.tap.disarm(q)
	resp := c.SearchAsync(ctx, req, bufferSize)
	go func() {
		var done []goldap.Control
		for resp.Next() {
			if e := resp.Entry(); e != nil {
				q.push(e)
				continue
			}
			if cs := resp.Controls(); len(cs) > 0 {
				done = cs
			}
		}
		q.finish(done, resp.Err())
	}()
	var batch []*goldap.Entry
	for {
		var finished bool
		batch, finished = q.take(batch)
		for _, e := range batch {
			if failed == nil {
				if failed = each(e); failed != nil {
					cancel()
				}
			}
		}
		if finished && len(batch) == 0 {
			q.mu.Lock()
			defer q.mu.Unlock()
			return q.controls, failed, q.err
		}
		if len(batch) == 0 {
			<-q.wake // go-ldap ends the search on cancel, timeout or a closed connection
		}
	}
}
