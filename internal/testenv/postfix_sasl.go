package testenv

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
)

// dovecotAuth is the server side of Dovecot's authentication protocol
// (version 1, as Postfix's smtpd_sasl_type = dovecot client speaks it) for
// one account, over PLAIN and LOGIN: enough for Postfix to offer and check
// SMTP AUTH without a Dovecot or Cyrus installation.
//
//	postfix → VERSION 1 0, CPID n
//	server  → VERSION 1 2, MECH PLAIN plaintext, MECH LOGIN plaintext, SPID, CUID, COOKIE, DONE
//	postfix → AUTH id mech service=smtp ... [resp=base64]
//	server  → OK id user=name | CONT id base64 | FAIL id reason=...
//	postfix → CONT id base64 (the SMTP client's answer to a CONT)
//
// Fields are separated by tabs, lines end with \n.
type dovecotAuth struct {
	ln         net.Listener
	user, pass string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startDovecotAuth(user, pass string) (*dovecotAuth, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &dovecotAuth{ln: ln, user: user, pass: pass, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *dovecotAuth) addr() string { return s.ln.Addr().String() }

func (s *dovecotAuth) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *dovecotAuth) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handle(c)
	}
}

// loginState is a LOGIN exchange in progress: the username once given.
type loginState struct {
	user     string
	haveUser bool
}

func (s *dovecotAuth) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	if _, err := fmt.Fprint(c, "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"+
		"SPID\t1\nCUID\t1\nCOOKIE\t00000000000000000000000000000000\nDONE\n"); err != nil {
		return
	}
	logins := map[string]*loginState{}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Split(strings.TrimRight(line, "\n"), "\t")
		var reply string
		switch {
		case f[0] == "AUTH" && len(f) >= 3:
			reply = s.start(f[1], f[2], f[3:], logins)
		case f[0] == "CONT" && len(f) >= 2:
			resp := ""
			if len(f) >= 3 {
				resp = f[2]
			}
			reply = s.cont(f[1], resp, logins)
		default:
			continue // VERSION, CPID
		}
		if _, err := fmt.Fprint(c, reply+"\n"); err != nil {
			return
		}
	}
}

func (s *dovecotAuth) start(id, mech string, params []string, logins map[string]*loginState) string {
	resp, hasResp := "", false
	for _, p := range params {
		if v, ok := strings.CutPrefix(p, "resp="); ok {
			resp, hasResp = v, true
		}
	}
	switch strings.ToUpper(mech) {
	case "PLAIN":
		if !hasResp {
			logins[id] = nil // PLAIN waiting for its response
			return "CONT\t" + id + "\t"
		}
		return s.plain(id, resp)
	case "LOGIN":
		logins[id] = &loginState{}
		if hasResp && resp != "" {
			return s.cont(id, resp, logins)
		}
		return "CONT\t" + id + "\t" + base64.StdEncoding.EncodeToString([]byte("Username:"))
	default:
		return "FAIL\t" + id + "\treason=unsupported mechanism"
	}
}

func (s *dovecotAuth) cont(id, resp string, logins map[string]*loginState) string {
	st, ok := logins[id]
	if !ok {
		return "FAIL\t" + id + "\treason=unknown request"
	}
	if st == nil {
		delete(logins, id)
		return s.plain(id, resp)
	}
	b, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		delete(logins, id)
		return "FAIL\t" + id + "\treason=invalid base64"
	}
	if !st.haveUser {
		st.user, st.haveUser = string(b), true
		return "CONT\t" + id + "\t" + base64.StdEncoding.EncodeToString([]byte("Password:"))
	}
	delete(logins, id)
	return s.check(id, st.user, string(b))
}

// plain checks a PLAIN response: authzid NUL authcid NUL password.
func (s *dovecotAuth) plain(id, resp string) string {
	b, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return "FAIL\t" + id + "\treason=invalid base64"
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 {
		return "FAIL\t" + id + "\treason=malformed PLAIN response"
	}
	return s.check(id, string(parts[1]), string(parts[2]))
}

func (s *dovecotAuth) check(id, user, pass string) string {
	if user == s.user && pass == s.pass {
		return "OK\t" + id + "\tuser=" + user
	}
	return "FAIL\t" + id + "\tuser=" + user + "\treason=Authentication failed"
}
