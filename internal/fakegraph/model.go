package fakegraph

import (
	"fmt"
	"strconv"
	"strings"
)

// User is a user object of the fake tenant, with the properties the fake
// serves under their Graph names (userPrincipalName, mail, ...).
type User struct {
	ID                string   // object id (a GUID string); required
	UserPrincipalName string   // userPrincipalName
	Mail              string   // mail; served as null when empty
	ProxyAddresses    []string // "SMTP:primary@x", "smtp:alias@x"
	OtherMails        []string // otherMails
	DisplayName       string   // displayName
	GivenName         string   // givenName
	Surname           string   // surname
	BusinessPhones    []string // businessPhones
	MobilePhone       string   // mobilePhone
	Department        string   // department
	JobTitle          string   // jobTitle
	AccountEnabled    bool     // accountEnabled
	UserType          string   // "Member" or "Guest"
	// OnPremisesImmutableID is the base64 of the AD objectGUID bytes, or "".
	OnPremisesImmutableID string
	// AssignedLicenses are skuId GUID strings; empty means unlicensed.
	AssignedLicenses []string
}

// Group is a group of the fake tenant.
type Group struct {
	ID              string   // object id (a GUID string); required
	DisplayName     string   // displayName
	Mail            string   // mail; served as null when empty
	MailEnabled     bool     // mailEnabled
	SecurityEnabled bool     // securityEnabled
	ProxyAddresses  []string // proxyAddresses
	// Members are the object ids of member users or groups (nested groups allowed).
	Members []string
}

// A property index: userProp into userPropNames, groupProp into groupPropNames.
type (
	userProp  int
	groupProp int
)

// User properties, in the order they are written.
const (
	upUPN userProp = iota
	upMail
	upProxyAddresses
	upOtherMails
	upDisplayName
	upGivenName
	upSurname
	upBusinessPhones
	upMobilePhone
	upDepartment
	upJobTitle
	upAccountEnabled
	upUserType
	upImmutableID
	upAssignedLicenses
	numUserProps
)

var userPropNames = [numUserProps]string{
	"userPrincipalName", "mail", "proxyAddresses", "otherMails", "displayName", "givenName", "surname",
	"businessPhones", "mobilePhone", "department", "jobTitle", "accountEnabled", "userType",
	"onPremisesImmutableId", "assignedLicenses",
}

// Group properties, in the order they are written. members is not one of them:
// it is selected by its own flag (members@delta).
const (
	gpDisplayName groupProp = iota
	gpMail
	gpMailEnabled
	gpSecurityEnabled
	gpProxyAddresses
	numGroupProps
)

var groupPropNames = [numGroupProps]string{"displayName", "mail", "mailEnabled", "securityEnabled", "proxyAddresses"}

// propMask is a set of property indexes.
type propMask uint32

func maskOf[P ~int](props ...P) propMask {
	var m propMask
	for _, p := range props {
		m |= 1 << uint(p)
	}
	return m
}

func (m propMask) has(p int) bool { return m&(1<<uint(p)) != 0 }

// Graph's default properties of a user when $select is absent (those the fake models).
var defaultUserMask = maskOf(upBusinessPhones, upDisplayName, upGivenName, upJobTitle, upMail,
	upMobilePhone, upSurname, upUPN)

var allGroupMask = propMask(1<<uint(numGroupProps) - 1)

// encoded holds an object's property values pre-encoded as JSON, so that a
// page is written by copying bytes: value i is enc[off[i]:off[i+1]].
type encoded struct {
	enc []byte
	off []uint32
}

func (e *encoded) value(i int) []byte { return e.enc[e.off[i]:e.off[i+1]] }

// encoder writes property values one after the other, marking where each ends.
type encoder struct{ e encoded }

func newEncoder(n int) *encoder {
	return &encoder{e: encoded{enc: make([]byte, 0, 32*n), off: make([]uint32, 1, n+1)}}
}

func (w *encoder) mark() { w.e.off = append(w.e.off, uint32(len(w.e.enc))) }

// str writes a string Graph serves as null when empty.
func (w *encoder) str(s string) {
	if s == "" {
		w.e.enc = append(w.e.enc, "null"...)
	} else {
		w.e.enc = appendString(w.e.enc, s)
	}
	w.mark()
}

// strs writes a collection of strings; Graph serves an empty one as [].
func (w *encoder) strs(ss []string) {
	w.e.enc = append(w.e.enc, '[')
	for i, s := range ss {
		if i > 0 {
			w.e.enc = append(w.e.enc, ',')
		}
		w.e.enc = appendString(w.e.enc, s)
	}
	w.e.enc = append(w.e.enc, ']')
	w.mark()
}

func (w *encoder) boolean(b bool) {
	w.e.enc = strconv.AppendBool(w.e.enc, b)
	w.mark()
}

// licenses writes assignedLicenses: [{"disabledPlans":[],"skuId":"..."}].
func (w *encoder) licenses(skus []string) {
	w.e.enc = append(w.e.enc, '[')
	for i, sku := range skus {
		if i > 0 {
			w.e.enc = append(w.e.enc, ',')
		}
		w.e.enc = append(w.e.enc, `{"disabledPlans":[],"skuId":`...)
		w.e.enc = append(appendString(w.e.enc, sku), '}')
	}
	w.e.enc = append(w.e.enc, ']')
	w.mark()
}

func encodeUser(u *User) encoded {
	w := newEncoder(int(numUserProps))
	w.str(u.UserPrincipalName)
	w.str(u.Mail)
	w.strs(u.ProxyAddresses)
	w.strs(u.OtherMails)
	w.str(u.DisplayName)
	w.str(u.GivenName)
	w.str(u.Surname)
	w.strs(u.BusinessPhones)
	w.str(u.MobilePhone)
	w.str(u.Department)
	w.str(u.JobTitle)
	w.boolean(u.AccountEnabled)
	w.str(u.UserType)
	w.str(u.OnPremisesImmutableID)
	w.licenses(u.AssignedLicenses)
	return w.e
}

func encodeGroup(g *Group) encoded {
	w := newEncoder(int(numGroupProps))
	w.str(g.DisplayName)
	w.str(g.Mail)
	w.boolean(g.MailEnabled)
	w.boolean(g.SecurityEnabled)
	w.strs(g.ProxyAddresses)
	return w.e
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

func cloneUser(u User) User {
	u.ProxyAddresses = cloneStrings(u.ProxyAddresses)
	u.OtherMails = cloneStrings(u.OtherMails)
	u.BusinessPhones = cloneStrings(u.BusinessPhones)
	u.AssignedLicenses = cloneStrings(u.AssignedLicenses)
	return u
}

func cloneGroup(g Group) Group {
	g.ProxyAddresses = cloneStrings(g.ProxyAddresses)
	g.Members = cloneStrings(g.Members)
	return g
}

// selection is a parsed $select: the user and group properties asked for,
// and whether members (groups/delta's members@delta) was.
type selection struct {
	User    propMask `json:"u"`
	Group   propMask `json:"g"`
	Members bool     `json:"m,omitempty"`
	// Names are the selected names as the client spelt them, for @odata.context.
	Names []string `json:"n,omitempty"`
}

// errUnknownProperty is Graph's answer to a $select naming no property of the type.
type errUnknownProperty struct{ name, typ string }

func (e errUnknownProperty) Error() string {
	return fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", e.name, e.typ)
}

func lookupProp(names []string, name string) int {
	for i, n := range names {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

// parseSelect parses a comma-separated $select for objects of the given kinds
// (typ names the collection's type in errors). A name must be a property of at
// least one of them (id always is). With no $select, the default properties of
// each kind are selected.
func parseSelect(raw, typ string, users, groups, members bool) (selection, error) {
	var sel selection
	if strings.TrimSpace(raw) == "" {
		if users {
			sel.User = defaultUserMask
		}
		if groups {
			sel.Group = allGroupMask
		}
		return sel, nil
	}
	for _, name := range strings.Split(raw, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		sel.Names = append(sel.Names, name)
		found := strings.EqualFold(name, "id")
		if users {
			if i := lookupProp(userPropNames[:], name); i >= 0 {
				sel.User |= 1 << uint(i)
				found = true
			}
		}
		if groups {
			if i := lookupProp(groupPropNames[:], name); i >= 0 {
				sel.Group |= 1 << uint(i)
				found = true
			}
		}
		if members && strings.EqualFold(name, "members") {
			sel.Members = true
			found = true
		}
		if !found {
			return selection{}, errUnknownProperty{name: name, typ: typ}
		}
	}
	return sel, nil
}

// contextSuffix is the @odata.context's "(id,displayName)" part for a $select.
func (sel selection) contextSuffix() string {
	if len(sel.Names) == 0 {
		return ""
	}
	return "(" + strings.Join(sel.Names, ",") + ")"
}
