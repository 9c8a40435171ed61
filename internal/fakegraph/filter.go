package fakegraph

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// The $filter subset served on the users and groups collections: comparisons
// `prop eq 'value'` on string properties and `prop/any(x:x eq 'value')` on
// string collections (proxyAddresses, otherMails, businessPhones), joined by
// and/or, with parentheses. Strings compare case-insensitively, as Graph's do on
// directory objects. These are all filters Graph serves by default (without the
// advanced query parameters); operators Graph serves only as advanced queries
// (ne, not, endsWith, in, le, ge) are refused as Graph refuses them without
// ConsistencyLevel: eventual and $count=true, and as not implemented with them.

// objectFilter decides whether an object is in a filtered collection.
type objectFilter func(dirObject) bool

// advancedOps are the operators and functions Graph serves only with the
// advanced query parameters.
var advancedOps = map[string]bool{"ne": true, "not": true, "endswith": true, "in": true, "le": true, "ge": true}

// filterError is a $filter the fake refuses: Graph's status, code and message.
type filterError struct {
	status        int
	code, message string
}

func (e *filterError) Error() string { return e.message }

// advancedQuery reports whether a request carries Graph's advanced query
// parameters: the ConsistencyLevel: eventual header and $count=true.
func advancedQuery(r *http.Request) (header, count bool) {
	header = strings.EqualFold(strings.TrimSpace(r.Header.Get("ConsistencyLevel")), "eventual")
	count = strings.EqualFold(queryValue(r.URL.Query(), "count"), "true")
	return header, count
}

// parseObjectFilter compiles a $filter for a collection of typ ("user" or
// "group"). advanced says whether the advanced query parameters were sent.
func parseObjectFilter(raw, typ string, advanced bool) (objectFilter, error) {
	toks, err := tokenize(raw)
	if err != nil {
		return nil, &filterError{http.StatusBadRequest, "BadRequest", "Invalid filter clause: " + err.Error()}
	}
	p := &filterParser{toks: toks, typ: typ, advanced: advanced}
	f, err := p.or()
	if err != nil {
		return nil, err
	}
	if !p.done() {
		return nil, p.syntax()
	}
	return f, nil
}

type filterParser struct {
	toks     []string
	i        int
	typ      string
	advanced bool
}

func (p *filterParser) done() bool { return p.i >= len(p.toks) }

func (p *filterParser) peek() string {
	if p.done() {
		return ""
	}
	return p.toks[p.i]
}

func (p *filterParser) next() string {
	t := p.peek()
	p.i++
	return t
}

func (p *filterParser) expect(want string) error {
	if !strings.EqualFold(p.next(), want) {
		return p.syntax()
	}
	return nil
}

func (p *filterParser) syntax() error {
	return &filterError{http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid filter clause: syntax error at token %d.", p.i)}
}

func (p *filterParser) or() (objectFilter, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.next()
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(o dirObject) bool { return l(o) || right(o) }
	}
	return left, nil
}

func (p *filterParser) and() (objectFilter, error) {
	left, err := p.factor()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.next()
		right, err := p.factor()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(o dirObject) bool { return l(o) && right(o) }
	}
	return left, nil
}

func (p *filterParser) factor() (objectFilter, error) {
	if p.peek() == "(" {
		p.next()
		f, err := p.or()
		if err != nil {
			return nil, err
		}
		return f, p.expect(")")
	}
	prop := p.next()
	if advancedOps[strings.ToLower(prop)] {
		return nil, p.unsupported(prop)
	}
	if !isIdent(prop) {
		return nil, p.syntax()
	}
	if p.peek() == "/" { // prop/any(x:x eq 'v')
		p.next()
		if err := p.expect("any"); err != nil {
			return nil, err
		}
		if err := p.expect("("); err != nil {
			return nil, err
		}
		v := p.next()
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		if !strings.EqualFold(p.next(), v) {
			return nil, p.syntax()
		}
		want, err := p.eqValue()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		get, ok := multiValued(p.typ, prop)
		if !ok {
			return nil, p.invalidProperty(prop)
		}
		return func(o dirObject) bool {
			for _, v := range get(o) {
				if strings.EqualFold(v, want) {
					return true
				}
			}
			return false
		}, nil
	}
	want, err := p.eqValue()
	if err != nil {
		return nil, err
	}
	get, ok := singleValued(p.typ, prop)
	if !ok {
		return nil, p.invalidProperty(prop)
	}
	return func(o dirObject) bool { return get(o) != "" && strings.EqualFold(get(o), want) }, nil
}

// eqValue reads `eq 'value'`.
func (p *filterParser) eqValue() (string, error) {
	op := p.next()
	if advancedOps[strings.ToLower(op)] {
		return "", p.unsupported(op)
	}
	if !strings.EqualFold(op, "eq") {
		return "", p.syntax()
	}
	lit := p.next()
	if len(lit) < 2 || lit[0] != '\'' {
		return "", p.syntax()
	}
	return strings.ReplaceAll(lit[1:len(lit)-1], "''", "'"), nil
}

func (p *filterParser) unsupported(op string) error {
	if !p.advanced {
		return &filterError{http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf(
			"Operator '%s' is not supported because the required parameters might be missing. Try adding $count with a value of true and the ConsistencyLevel header with a value of eventual.", op)}
	}
	return &filterError{http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("fakegraph does not implement the advanced operator '%s'.", op)}
}

func (p *filterParser) invalidProperty(prop string) error {
	res := map[string]string{"user": "User", "group": "Group"}[p.typ]
	return &filterError{http.StatusBadRequest, "Request_UnsupportedQuery",
		fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", prop, res)}
}

// singleValued returns the getter of a string property.
func singleValued(typ, prop string) (func(dirObject) string, bool) {
	if typ == "user" {
		get, ok := map[string]func(*User) string{
			"id": func(u *User) string { return u.ID }, "userprincipalname": func(u *User) string { return u.UserPrincipalName },
			"mail": func(u *User) string { return u.Mail }, "displayname": func(u *User) string { return u.DisplayName },
			"givenname": func(u *User) string { return u.GivenName }, "surname": func(u *User) string { return u.Surname },
			"department": func(u *User) string { return u.Department }, "jobtitle": func(u *User) string { return u.JobTitle },
			"usertype": func(u *User) string { return u.UserType }, "mobilephone": func(u *User) string { return u.MobilePhone },
			"onpremisesimmutableid": func(u *User) string { return u.OnPremisesImmutableID },
		}[strings.ToLower(prop)]
		return func(o dirObject) string {
			if o.user == nil {
				return ""
			}
			return get(&o.user.user)
		}, ok
	}
	get, ok := map[string]func(*Group) string{
		"id": func(g *Group) string { return g.ID }, "displayname": func(g *Group) string { return g.DisplayName },
		"mail": func(g *Group) string { return g.Mail },
	}[strings.ToLower(prop)]
	return func(o dirObject) string {
		if o.group == nil {
			return ""
		}
		return get(&o.group.group)
	}, ok
}

// multiValued returns the getter of a string collection property.
func multiValued(typ, prop string) (func(dirObject) []string, bool) {
	if typ == "user" {
		get, ok := map[string]func(*User) []string{
			"proxyaddresses": func(u *User) []string { return u.ProxyAddresses },
			"othermails":     func(u *User) []string { return u.OtherMails },
			"businessphones": func(u *User) []string { return u.BusinessPhones },
		}[strings.ToLower(prop)]
		return func(o dirObject) []string {
			if o.user == nil {
				return nil
			}
			return get(&o.user.user)
		}, ok
	}
	if strings.EqualFold(prop, "proxyAddresses") {
		return func(o dirObject) []string {
			if o.group == nil {
				return nil
			}
			return o.group.group.ProxyAddresses
		}, true
	}
	return nil, false
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '.' {
			return false
		}
	}
	return true
}

// tokenize splits a $filter into identifiers, quoted strings (quotes kept, ”
// inside) and the punctuation ( ) / : ,.
func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case strings.IndexByte("()/:,", c) >= 0:
			toks = append(toks, string(c))
			i++
		case c == '\'':
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated string starting at %d", i)
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			toks = append(toks, s[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t()/:,'", s[j]) < 0 {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}
