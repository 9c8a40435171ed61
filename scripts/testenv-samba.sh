# shellcheck shell=bash
# testenv-samba.sh: the Samba Active Directory domain controller of
# scripts/testenv.sh, which sources this file (it is not run on its own).
#
# A real AD DC (Samba 4.17, realm EXAMPLE.COM, domain EXAMPLE, host dc1),
# provisioned afresh into .testenv/samba at every start, serving LDAP only
# (server services = ldap, cldap, kdc; one process, -M single). Its LDAP ports
# are fixed by Samba, 389 (LDAP, StartTLS) and 636 (LDAPS), plus 3268/3269
# (global catalog) and 88/464 (Kerberos): so it needs root, and only one DC
# can run per machine. DIRSYNC_TESTENV_NO_SAMBA=1 skips it; the
# DIRSYNC_TEST_AD_* variables are then not written and the AD tests skip
# (or fail under CI=true). Its TLS certificate is signed by the test CA in
# .testenv/tls, like slapd's. Simple binds are allowed on plain LDAP too
# (ldap server require strong auth = no). Test only: ldb:nosync.
#
# Accounts (passwords random per start, in .testenv/env.sh):
#   CN=Administrator,CN=Users,DC=example,DC=com   domain admin (simple bind
#       with this DN works; so does Administrator@example.com)
#   CN=svc-dirsync,CN=Users,DC=example,DC=com     the sync account, not an
#       admin, set up like a real deployment: "Replicating Directory Changes"
#       on the domain (what `samba-tool dsacl set --car=get-changes` grants;
#       needed for DirSync) and read+list on CN=Deleted Objects (Samba, unlike
#       Windows, hides tombstones from non-admins even with the Show Deleted
#       control 1.2.840.113556.1.4.417; samba-tool cannot reach that
#       container, so both ACEs are added with Samba's Python samba.samdb API)
#   OU=dirsync-tests,DC=example,DC=com            empty; tests create their
#       own sub-OUs in it (as Administrator)
#
# Writing AD objects with a plain LDAP add (checked on this Samba, as
# Administrator over ldaps://):
#   Enabled user without a password:
#       objectClass: user            (or top/person/organizationalPerson/user)
#       sAMAccountName: NAME         (at most 20 characters; without it Samba
#                                     invents one like $F8031BB9-436DC915...)
#       userAccountControl: 544      (NORMAL_ACCOUNT 512 | PASSWD_NOTREQD 32)
#     Samba also accepts 512 without a password (add, or a later modify);
#     Windows AD refuses that while the password policy wants a password, so
#     use 544 to work on both.
#   Disabled user: userAccountControl: 546 (544 | ACCOUNTDISABLE 2). An add
#     without userAccountControl gives 546 too, as in Windows AD; 514 is kept
#     as given. pwdLastSet is 0 in every case.
#   A later modify (replace: userAccountControl 544 -> 546 and back) works;
#     the disabled filter is (userAccountControl:1.2.840.113556.1.4.803:=2).
#   givenName, sn, displayName, mail, proxyAddresses (multi-valued,
#     SMTP:primary / smtp:alias), telephoneNumber, department, title and
#     userPrincipalName can be set at add and modified later.
#   Group: objectClass: group, sAMAccountName: NAME, groupType: -2147483646
#     (global security, also the default when absent; 2 = global
#     distribution, -2147483640 = universal security), member: USER-DN (any
#     number, at add or with a later modify add/delete; groups nest). A
#     member DN that does not exist fails with noSuchObject (32), one already
#     there with entryAlreadyExists (68). memberOf appears on the members.

SAMBA=/usr/sbin/samba
SAMBA_TOOL=/usr/bin/samba-tool
# Samba's Python modules are Debian's: never a pyenv or venv python on PATH.
SAMBA_PYTHON=/usr/bin/python3
SAMBA_PACKAGES=(samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules
	winbind ldb-tools python3-ldb ldap-utils)
# Fixed by Samba's services ldap (389, 636, 3268, 3269), cldap (389/udp) and kdc.
SAMBA_PORTS=(389 636 3268 3269 88 464)
AD_BASE_DN=DC=example,DC=com
AD_ADMIN_DN=CN=Administrator,CN=Users,$AD_BASE_DN
AD_SVC_NAME=svc-dirsync
AD_BIND_DN=CN=$AD_SVC_NAME,CN=Users,$AD_BASE_DN
AD_TESTS_OU=OU=dirsync-tests,$AD_BASE_DN

samba_wanted() { [[ ${DIRSYNC_TESTENV_NO_SAMBA:-} != 1 ]]; }

# samba_missing_packages: append the Samba packages not installed to pkgs
# (install_packages' list). samba-ad-provision is only a Recommends of
# samba-ad-dc, and provisioning fails without it: test every package.
samba_missing_packages() {
	local p status
	for p in "${SAMBA_PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || status=
		[[ $status == installed ]] || pkgs+=("$p")
	done
}

# samba_preflight: fail early, before installing anything, when this machine
# cannot host the DC. Runs after stop_all, so no listener left is ours.
samba_preflight() {
	samba_wanted || return 0
	local skip="set DIRSYNC_TESTENV_NO_SAMBA=1 to start the other servers without it (the AD tests then skip, or fail under CI=true)"
	((EUID == 0)) || die "the Samba AD DC needs root: its LDAP ports 389/636 are fixed and privileged. Run as root, or $skip"
	local p filter=
	for p in "${SAMBA_PORTS[@]}"; do filter+="${filter:+ or }sport = :$p"; done
	local users
	users=$(ss -Hlntup "( $filter )" 2>/dev/null) || users=
	[[ -z $users ]] && return 0
	local pid owner=
	while read -r pid; do
		owner+=" pid $pid ($(readlink "/proc/$pid/exe" 2>/dev/null || echo '?'), stdout $(readlink "/proc/$pid/fd/1" 2>/dev/null || echo '?'))"
	done < <(grep -o 'pid=[0-9]*' <<<"$users" | cut -d= -f2 | sort -u)
	die "the Samba AD DC needs ports ${SAMBA_PORTS[*]} (fixed: one DC per machine), but something that is not ours listens:${owner:- see ss -ltnup}. If it is another checkout's testenv, run scripts/testenv.sh stop there; or $skip.
$users"
}

# samba_password: random, and meeting AD's complexity rules (upper, lower,
# digit, symbol), which provisioning and user creation enforce.
samba_password() { printf 'Aa1-%s' "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"; }

# samba_conf DIR: our [global] settings, as provision --options and as the
# lines samba_fix_conf puts into smb.conf (provision keeps most --options,
# but not `ldap server require strong auth`).
samba_conf() {
	local d=$1
	cat <<EOF
interfaces = lo
bind interfaces only = yes
server services = ldap, cldap, kdc
ldap server require strong auth = no
ldb:nosync = true
pid directory = $d/run
ncalrpc dir = $d/run/ncalrpc
winbindd socket directory = $d/run/winbindd
ntp signd socket directory = $d/run/ntp_signd
log file = $d/samba.log
tls enabled = yes
tls cafile = $STATE/tls/ca.crt
tls certfile = $STATE/tls/samba.crt
tls keyfile = $STATE/tls/samba.key
EOF
}

# samba_fix_conf DIR: make our settings the only ones of their names in
# [global] (a key is compared lower-case, blanks squeezed, as Samba does).
samba_fix_conf() {
	local d=$1 conf=$1/etc/smb.conf
	samba_conf "$d" >"$d/global.conf"
	awk -v ours="$d/global.conf" '
		function key(line) { sub(/=.*/, "", line); gsub(/[ \t]+/, "", line); return tolower(line) }
		BEGIN { while ((getline l <ours) > 0) { mine[key(l)] = 1; add = add "\t" l "\n" } }
		/^[ \t]*\[/ { global = tolower($0) ~ /^[ \t]*\[global\]/; print; if (global) printf "%s", add; next }
		global && /=/ && (key($0) in mine) { next }
		{ print }
	' "$conf" >"$conf.new" && mv "$conf.new" "$conf"
	rm -f "$d/global.conf"
}

# samba_setup DIR: with Samba stopped, through its Python API on sam.ldb
# directly (~0.2 s, against ~1 s per samba-tool call): Administrator's
# password, the sync account, its two ACEs, and the tests' OU. Passwords come
# through the environment, never a command line.
samba_setup() {
	local d=$1
	AD_SVC_PASSWORD=$AD_PASSWORD AD_ADMIN_PASSWORD=$AD_ADMIN_PASSWORD "$SAMBA_PYTHON" - "$d/etc/smb.conf" "$AD_SVC_NAME" "$AD_BIND_DN" "$AD_TESTS_OU" <<'EOF'
import os, sys
import ldb
from samba.auth import system_session
from samba.dcerpc import security
from samba.dcerpc.security import GUID_DRS_GET_CHANGES
from samba.ndr import ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.sd_utils import SDUtils

conf, name, dn, tests_ou = sys.argv[1:]
lp = LoadParm()
lp.load(conf)
samdb = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
base = str(samdb.domain_dn())
samdb.setpassword("(sAMAccountName=Administrator)", os.environ["AD_ADMIN_PASSWORD"])
samdb.newuser(name, os.environ["AD_SVC_PASSWORD"], userou="CN=Users")
res = samdb.search(dn, ldb.SCOPE_BASE, attrs=["objectSid"])
sid = str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))
sd = SDUtils(samdb)
# What `samba-tool dsacl set --car=get-changes --action=allow` adds.
sd.dacl_add_ace(base, "(OA;;CR;%s;;%s)" % (GUID_DRS_GET_CHANGES, sid))
# Read property + list children, as BUILTIN\Administrators has there.
sd.dacl_add_ace("CN=Deleted Objects," + base, "(A;;RPLC;;;%s)" % sid)
samdb.create_ou(tests_ou)
EOF
}

# samba_search URL BIND_DN PWFILE: read the base entry; with LDAPTLS_* set by
# the caller for ldaps://.
samba_search() {
	ldapsearch -x -LLL -o nettimeout=2 -H "$1" -D "$2" -y "$3" -b "$AD_BASE_DN" -s base dn
}

start_samba() {
	local dir=$STATE/samba pid provision_opts=() line
	mkdir -p "$dir"
	make_server_cert "$STATE/tls" samba DNS:dc1.example.com
	AD_ADMIN_PASSWORD=$(samba_password)
	AD_PASSWORD=$(samba_password)
	(umask 077 && printf '%s' "$AD_ADMIN_PASSWORD" >"$dir/admin-password" &&
		printf '%s' "$AD_PASSWORD" >"$dir/password")
	while IFS= read -r line; do provision_opts+=("--option=$line"); done < <(samba_conf "$dir")
	# Without --adminpass (it would show in ps) provision sets a random
	# Administrator password; samba_setup replaces it with ours.
	"$SAMBA_TOOL" domain provision --targetdir="$dir" --realm=EXAMPLE.COM --domain=EXAMPLE \
		--host-name=dc1 --host-ip=127.0.0.1 --server-role=dc --dns-backend=NONE --use-rfc2307 \
		"${provision_opts[@]}" >"$dir/provision.log" 2>&1 ||
		fail_server samba "$dir/provision.log" "samba-tool domain provision failed"
	samba_fix_conf "$dir"
	mkdir -p "$dir/run"
	samba_setup "$dir" >"$dir/setup.log" 2>&1 ||
		fail_server samba "$dir/setup.log" "setting Administrator's password, creating $AD_BIND_DN, its ACEs or $AD_TESTS_OU failed"

	# -F: no fork, so spawn's PID is samba's; --no-process-group: stay in
	# spawn's session; --debug-stdout: errors go to spawn's log.
	pid=$(spawn "$dir/samba.log" "$SAMBA" -s "$dir/etc/smb.conf" -F --no-process-group --debug-stdout \
		-M single --option="server services=ldap, cldap, kdc")
	echo "$pid" >"$dir/pid"
	AD_URL=ldap://127.0.0.1:389
	ADS_URL=ldaps://127.0.0.1:636
	AD_CA_FILE=$STATE/tls/ca.crt
	# Ready when the sync account can bind over LDAPS with the test CA.
	LDAPTLS_CACERT=$AD_CA_FILE LDAPTLS_REQCERT=demand \
		wait_until samba "$dir/samba.log" "$pid" samba_search "$ADS_URL" "$AD_BIND_DN" "$dir/password"
	local out
	if ! out=$(samba_search "$AD_URL" "$AD_ADMIN_DN" "$dir/admin-password" 2>&1); then
		printf '%s\n' "$out" >>"$dir/samba.log"
		fail_server samba "$dir/samba.log" "simple bind as $AD_ADMIN_DN on $AD_URL failed: $out"
	fi
	# shellcheck disable=SC2034 # read by write_env in testenv.sh
	SAMBA_STARTED=1
}
