package metrics_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/metrics"
)

// The messages are the repository's own, as a failed run reports them: the
// engine's read-failure prefix around the connectors' errors (connectors/ldap
// conn.go's hints over go-ldap's errors, connectors/entra errors.go), and the
// engine's and state backends' failures.
func TestMetricsClassify(t *testing.T) {
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"context deadline", "read source (after 0 records; nothing applied, nobody disabled): context deadline exceeded", metrics.KindTimeout},
		{"dial i/o timeout", `read source (after 0 records; nothing applied, nobody disabled): connect to ldaps://dc1.example.com:636: the server cannot be reached: check url (host and port), DNS and firewalls: LDAP Result Code 200 "Network Error": dial tcp 10.0.0.5:636: i/o timeout`, metrics.KindTimeout},
		{"ldap time limit", `read source (after 4000 records; nothing applied, nobody disabled): search "(objectClass=user)" under "DC=example,DC=com": LDAP Result Code 3 "Time Limit Exceeded": `, metrics.KindTimeout},
		{"graph client timeout", `read source (after 0 records; nothing applied, nobody disabled): graph users: Get "https://graph.microsoft.com/v1.0/users/delta": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, metrics.KindTimeout},
		{"ldap refused", `read source (after 0 records; nothing applied, nobody disabled): connect to ldaps://127.0.0.1:1: the server cannot be reached: check url (host and port), DNS and firewalls: LDAP Result Code 200 "Network Error": dial tcp 127.0.0.1:1: connect: connection refused`, metrics.KindUnreachable},
		{"connection reset mid-read", "read source (after 6 records; nothing applied, nobody disabled): connection reset", metrics.KindUnreachable},
		{"not TLS: EOF", `read source (after 0 records; nothing applied, nobody disabled): connect to ldaps://127.0.0.1:389: the server did not answer TLS: use ldap:// with start_tls: true, or the LDAPS port (636): LDAP Result Code 200 "Network Error": EOF`, metrics.KindUnreachable},
		{"redis down", "lock connector sample: dial tcp 127.0.0.1:6379: connect: connection refused", metrics.KindUnreachable},
		{"graph host unknown", `read source (after 0 records; nothing applied, nobody disabled): graph sign-in for users failed: Post "https://login.microsoftonline.com/t/oauth2/v2.0/token": dial tcp: lookup login.microsoftonline.com: no such host (check tenant_id, client_id and the client secret or certificate; a secret may have expired)`, metrics.KindUnreachable},
		{"ldap connection closed", `read source (after 1000 records; nothing applied, nobody disabled): search "(objectClass=person)" under "dc=example,dc=com": ldap: connection closed`, metrics.KindUnreachable},
		{"ldap invalid credentials", `read source (after 0 records; nothing applied, nobody disabled): bind to ldaps://dc1.example.com:636: invalid credentials: check bind_dn and the password behind bind_password (and that the account is enabled and not locked): LDAP Result Code 49 "Invalid Credentials": 80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 52e, v4563`, metrics.KindAuth},
		{"simple bind refused", `read source (after 0 records; nothing applied, nobody disabled): bind to ldap://ldap.example.com:389: the server refuses simple binds without TLS: use ldaps:// or start_tls: true: LDAP Result Code 13 "Confidentiality Required": `, metrics.KindAuth},
		{"entra sign-in", "read source (after 0 records; nothing applied, nobody disabled): graph sign-in for users failed: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID (check tenant_id, client_id and the client secret or certificate; a secret may have expired)", metrics.KindAuth},
		{"graph 401", "read source (after 0 records; nothing applied, nobody disabled): graph users answered 401 InvalidAuthenticationToken: Access token validation failure. (the token was refused: check the tenant and that the app registration still exists)", metrics.KindAuth},
		{"graph 403", "read source (after 0 records; nothing applied, nobody disabled): graph groups (page 2) answered 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (grant the app the User.Read.All, GroupMember.Read.All and RoleManagement.Read.Directory application permissions, with admin consent)", metrics.KindAuth},
		{"dirsync right", `read source (after 0 records; nothing applied, nobody disabled): dirsync: the bind account lacks the "Replicating Directory Changes" right on DC=example,DC=com (grant it, or use incremental: usn): LDAP Result Code 50 "Insufficient Access Rights": 00002105: LdapErr: DSID-0C0C0B5D`, metrics.KindAuth},
		{"ldap size limit", `read source (after 1000 records; nothing applied, nobody disabled): search "(objectClass=user)" under "DC=example,DC=com": LDAP Result Code 4 "Size Limit Exceeded": `, metrics.KindPartial},
		{"ldap admin limit", `read source (after 0 records; nothing applied, nobody disabled): search "(objectClass=user)" under "DC=example,DC=com": LDAP Result Code 11 "Admin Limit Exceeded": `, metrics.KindPartial},
		{"truncated page set", "read source (after 2000 records; nothing applied, nobody disabled): graph users (page 3): the page set was truncated", metrics.KindPartial},
		{"graph throttling", "read source (after 0 records; nothing applied, nobody disabled): graph users (page 3) answered 503 ServiceUnavailable: Service is busy (Graph kept throttling past max_retries or max_retry_wait; the run stops here and changes nothing)", metrics.KindOther},
		{"file missing", "read source (after 0 records; nothing applied, nobody disabled): open source file: open /srv/dirsync/sample-directory.ldif: no such file or directory", metrics.KindOther},
		{"ldif change record", "read source (after 2 records; nothing applied, nobody disabled): ldif /srv/dirsync/corp.ldif: entry 3 is a change record (changetype); export the directory with slapcat or ldifde instead", metrics.KindOther},
		{"401 records is no 401", "read source (after 401 records; nothing applied, nobody disabled): csv /srv/users.csv: row 402 is not UTF-8 (a character such as £ saved as Windows-1252?): save the file as UTF-8 and run again", metrics.KindOther},
		{"lock lost", "run lock lost: run lease is stale", metrics.KindOther},
		{"empty", "", metrics.KindOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, metrics.Classify(tc.msg))
		})
	}
}
