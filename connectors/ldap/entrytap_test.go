package ldap

import (
	"bytes"
	"context"
	"testing"
	"unicode/utf8"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"
)

// The tap's decoder against go-ldap's, on every entry of the test directories:
// the same search over a plain go-ldap connection and over a tapped one must give
// the same entries, attribute for attribute and byte for byte, and the tap must
// have decoded every entry itself (else the comparison proves nothing).

func TestEntryTapMatchesGoLDAPOnOpenLDAP(t *testing.T) {
	srv := openLDAPServer(t)
	compareTapped(t, srv.config(t, "openldap", srv.suffix, nil), srv.suffix, []string{"*", "+"})
}

func TestEntryTapMatchesGoLDAPOnOpenLDAPStartTLS(t *testing.T) {
	srv := openLDAPServer(t)
	cfg := srv.config(t, "openldap", srv.suffix, func(c *Config) { c.URL, c.StartTLS = srv.url, true })
	compareTapped(t, cfg, srv.suffix, []string{"*", "+"})
}

func TestEntryTapMatchesGoLDAPOnAD(t *testing.T) {
	srv, _ := adServer(t)
	// Binary objectGUID/objectSid come with "*"; a range of member is asked for
	// so that groups with more than two members answer member;range=0-1.
	compareTapped(t, srv.config(t, "ad", srv.suffix, nil), srv.suffix, []string{"*", "+", "member;range=0-1"})
}

func compareTapped(t *testing.T, cfg *Config, base string, attrs []string) {
	t.Helper()
	ctx := context.Background()
	read := func(conn searcher) map[string]*goldap.Entry {
		got := map[string]*goldap.Entry{}
		err := pagedSearch(ctx, conn, 50, query{base: base, filter: "(objectClass=*)"}, attrs, func(e *goldap.Entry) error {
			require.NotContains(t, got, e.DN)
			got[e.DN] = e
			return nil
		})
		require.NoError(t, err)
		return got
	}
	plain, err := cfg.connect(ctx)
	require.NoError(t, err)
	defer plain.Close()
	tapped, err := cfg.connectTapped(ctx)
	require.NoError(t, err)
	defer tapped.Close()

	want, got := read(plain), read(tapped)
	require.Greater(t, len(want), 1, "the directory under %s holds entries", base)
	require.Equal(t, int64(len(want)), tapped.tap.decoded.Load(), "the tap decoded every entry itself")
	require.Equal(t, len(want), len(got))
	binary := 0
	for dn, w := range want {
		g, ok := got[dn]
		require.True(t, ok, "the tapped read lacks %s", dn)
		requireSameEntry(t, w, g)
		for _, a := range w.Attributes {
			for _, v := range a.ByteValues {
				if !utf8.Valid(v) {
					binary++
				}
			}
		}
	}
	t.Logf("%d entries compared, %d binary values", len(want), binary)
}

func requireSameEntry(t *testing.T, want, got *goldap.Entry) {
	t.Helper()
	require.Equal(t, want.DN, got.DN)
	require.Len(t, got.Attributes, len(want.Attributes), want.DN)
	for i, w := range want.Attributes {
		g := got.Attributes[i]
		require.Equal(t, w.Name, g.Name, want.DN)
		require.Equal(t, w.Values, g.Values, "%s %s", want.DN, w.Name)
		require.Len(t, g.ByteValues, len(w.ByteValues), "%s %s", want.DN, w.Name)
		for j := range w.ByteValues {
			require.True(t, bytes.Equal(w.ByteValues[j], g.ByteValues[j]), "%s %s value %d", want.DN, w.Name, j)
		}
	}
}

// The tap's decoder is given server bytes. Whatever it accepts, go-ldap's BER
// decoder must accept and read the same way; what it refuses goes to go-ldap.
func FuzzDecodeEntry(f *testing.F) {
	for _, seed := range entrySeeds() {
		f.Add(seed)
		f.Add(seed[:len(seed)/2])
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, ok := decodeEntry(msg)
		if !ok {
			return
		}
		want, err := goLDAPEntry(msg)
		require.NoError(t, err, "the tap accepted % x", msg)
		requireSameEntry(t, want, got)
		// Appending to one attribute's values must not touch the next one's.
		if len(got.Attributes) > 1 {
			before := append([]string(nil), got.Attributes[1].Values...)
			_ = append(got.Attributes[0].Values, "x")
			require.Equal(t, before, got.Attributes[1].Values)
		}
	})
}

// goLDAPEntry is go-ldap's reading of a SearchResultEntry message: ber's decoder,
// then the walk of decodeSearchResultEntry and unpackAttributes (unexported).
func goLDAPEntry(msg []byte) (*goldap.Entry, error) {
	p, err := ber.DecodePacketErr(msg)
	if err != nil {
		return nil, err
	}
	if len(p.Children) < 2 || p.Children[1].Tag != goldap.ApplicationSearchResultEntry || p.Children[1].ClassType != ber.ClassApplication {
		return nil, errString("not a SearchResultEntry")
	}
	if _, ok := p.Children[0].Value.(int64); !ok {
		return nil, errString("message ID is not an integer")
	}
	op := p.Children[1]
	if len(op.Children) < 2 {
		return nil, errString("short entry")
	}
	dn, ok := op.Children[0].Value.(string)
	if !ok {
		return nil, errString("DN is not a string")
	}
	e := &goldap.Entry{DN: dn}
	for _, a := range op.Children[1].Children {
		if len(a.Children) < 2 {
			return nil, errString("short attribute")
		}
		name, ok := a.Children[0].Value.(string)
		if !ok {
			return nil, errString("type is not a string")
		}
		ea := &goldap.EntryAttribute{Name: name, Values: []string{}, ByteValues: [][]byte{}}
		for _, v := range a.Children[1].Children {
			s, ok := v.Value.(string)
			if !ok {
				return nil, errString("value is not a string")
			}
			ea.Values, ea.ByteValues = append(ea.Values, s), append(ea.ByteValues, v.ByteValue)
		}
		e.Attributes = append(e.Attributes, ea)
	}
	return e, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// entrySeeds are SearchResultEntry messages as go-ldap encodes them and as
// OpenLDAP does (four-byte long-form lengths), with binary and empty values.
func entrySeeds() [][]byte {
	entry := func(id int64, dn string, attrs [][2]any) *ber.Packet {
		p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultEntry, nil, "")
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
		list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		for _, a := range attrs {
			pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
			pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a[0].(string), ""))
			set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
			for _, v := range a[1].([]string) {
				set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
			}
			pa.AppendChild(set)
			list.AppendChild(pa)
		}
		op.AppendChild(list)
		p.AppendChild(op)
		return p
	}
	user := entry(7, "uid=u000001,ou=people,dc=example,dc=com", [][2]any{
		{"objectClass", []string{"top", "inetOrgPerson"}}, {"mail", []string{"u1@example.com"}},
		{"objectGUID", []string{"\x00\xff\x10\x80binary\x00"}}, {"description", []string{""}},
		{"member;range=0-1", []string{"cn=a", "cn=b"}}, {"empty", []string{}},
	})
	long := make([]string, 300)
	for i := range long {
		long[i] = "uid=member,ou=people,dc=example,dc=com"
	}
	group := entry(300, "cn=g,ou=groups,dc=example,dc=com", [][2]any{{"member", long}})
	withControls := entry(2, "cn=c", nil)
	withControls.AppendChild(ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, ""))
	return [][]byte{user.Bytes(), group.Bytes(), entry(1, "", nil).Bytes(), withControls.Bytes(), longForm(user.Bytes())}
}

// longForm re-encodes every constructed element's length in the four-byte long
// form OpenLDAP's liblber uses.
func longForm(msg []byte) []byte {
	p, err := ber.DecodePacketErr(msg)
	if err != nil {
		panic(err)
	}
	var enc func(p *ber.Packet) []byte
	enc = func(p *ber.Packet) []byte {
		id := []byte{byte(p.ClassType) | byte(p.TagType) | byte(p.Tag)} // every tag here is < 31
		if p.TagType != ber.TypeConstructed {
			return p.Bytes()
		}
		var content []byte
		for _, c := range p.Children {
			content = append(content, enc(c)...)
		}
		n := len(content)
		return append(append(id, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n)), content...)
	}
	return enc(p)
}
