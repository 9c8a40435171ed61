package faultmatrix_test

// The file connector's row: an LDIF export read while it is still being
// written (cut mid-line), as when dirsync's schedule meets the export job.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ldifDir renders the same directory as newLDAPDir (people u0…u(n-1), every
// tenth disabled, aliases on u1 and u3, groups staff and ops) as slapcat
// would export it; changed adds sourceChanges' edits, during changeDuring's.
type ldifDir struct {
	tag             string
	n               int
	changed, during bool
}

func (f *ldifDir) addr(uid string) string { return uid + "." + f.tag + "@example.com" }

func (f *ldifDir) dn(rdn string) string {
	return rdn + ",ou=dir,ou=fm-file-" + f.tag + ",dc=example,dc=com"
}

// render writes the export; entryUUIDs are fixed per object, as a real
// directory's are.
func (f *ldifDir) render() []byte {
	var b strings.Builder
	uuid := func(i int) string { return fmt.Sprintf("%s-0000-4000-8000-%012x", f.tag, i) }
	person := func(i int, uid string) {
		disabled := i%10 == 9
		title := "Staff"
		aliases := map[string]bool{"u1": true, "u3": true}
		if f.changed {
			disabled = (disabled || uid == "u5") && uid != "u19"
			aliases["u4"] = true
			if uid == "u2" {
				title = "Lead"
			}
		}
		if f.during && uid == "u7" {
			title = "During"
		}
		fmt.Fprintf(&b, "dn: %s\nobjectClass: top\nobjectClass: inetOrgPerson\nentryUUID: %s\nuid: %s\ncn: Person %s\nsn: S%s\ngivenName: G%s\nmail: %s\ntitle: %s\n",
			f.dn("uid="+uid), uuid(i), uid, uid, uid, uid, f.addr(uid), title)
		if aliases[uid] {
			fmt.Fprintf(&b, "email: %s\n", f.addr("alias"+strings.TrimPrefix(uid, "u")))
		}
		if disabled {
			b.WriteString("employeeType: disabled\n")
		}
		b.WriteString("\n")
	}
	group := func(i int, cn string, members []string) {
		fmt.Fprintf(&b, "dn: %s\nobjectClass: groupOfNames\nentryUUID: %s\ncn: %s\nmail: %s\n", f.dn("cn="+cn), uuid(i), cn, f.addr(cn))
		for _, m := range members {
			fmt.Fprintf(&b, "member: %s\n", f.dn("uid="+m))
		}
		b.WriteString("\n")
	}
	for i := range f.n {
		person(i, fmt.Sprintf("u%d", i))
	}
	staff, ops := uids(0, 10), uids(10, 15)
	if f.changed {
		person(1001, "new1")
		person(1002, "new2")
		staff, ops = append(staff, "new1"), append(ops, "u20")
	}
	group(2001, "staff", staff)
	group(2002, "ops", ops)
	return []byte(b.String())
}

func uids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("u%d", i))
	}
	return out
}

// truncatedFileRow: the export is read half written (cut at 60 %, mid-line)
// by two full runs in a row (the default missing_runs), with every setting
// at its default; then it is complete again.
func truncatedFileRow(t *testing.T) outcome {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	f := &ldifDir{tag: hex.EncodeToString(b), n: 100}
	path := filepath.Join(t.TempDir(), "export.ldif")
	write := func(b []byte) { require.NoError(t, os.WriteFile(path, b, 0o644)) }
	write(f.render())
	cfg := baseConfig("", fmt.Sprintf(`  - name: corp
    type: file
    file:
      path: %s
      preset: openldap
      mapping: {aliases: [email], disabled: {attribute: employeeType, values: [disabled]}}
`, path))
	ref, subj := newInstance(t), newInstance(t)
	ref.writeConfig(cfg)
	subj.writeConfig(cfg)
	ref.mustSync(true, "ok")
	subj.mustSync(true, "ok")
	require.Empty(t, ref.listing().diff(subj.listing()), "both start from the same store")

	mustStay := stillEnabled(subj.listing(), f.addr("u5"))
	f.changed = true
	full := f.render()
	cut := len(full) * 6 / 10
	require.NotEqual(t, byte('\n'), full[cut-1], "the cut falls mid-line")
	write(full[:cut])
	runs := []runResult{subj.sync(true), subj.sync(true)}
	o := outcome{Status: joinStatuses(runs), WronglyDisabled: subj.listing().wronglyDisabled(mustStay)}

	f.during = true
	write(f.render())
	changes := append(expectedChanges(f.addr), duringChange(f.addr))
	ref.mustSync(true, "ok")
	o.RunsToConverge, o.Lost, o.Note = settle(t, subj, ref.listing(), true, changes)
	if o.Note == "" {
		o.Note = fmt.Sprintf("cut mid-line at %d of %d bytes; %d operations held", cut, len(full), runs[len(runs)-1].Counts["held"])
	}
	return o
}
