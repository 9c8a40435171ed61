# shellcheck shell=bash
# testenv-postfix.sh: Postfix for scripts/testenv.sh, which sources this file
# (it is not run on its own).
#
# The script only installs Debian's postfix and exports the path of its
# postfix command as DIRSYNC_TEST_POSTFIX; it starts no Postfix. Each test
# that needs one starts its own throwaway instance (internal/testenv,
# StartPostfix: its own configuration, queue and log in the test's temporary
# folder, SMTP on a free loopback port, every transport discard), so tests
# never share a mail system and never touch /etc/postfix.
#
# The package must not become a running system MTA on port 25: its postinst
# starts the service through invoke-rc.d, which the policy-rc.d of
# install_packages forbids, and the boot-time start it enables is disabled
# again right after the install.

POSTFIX=/usr/sbin/postfix

# postfix_missing_packages: append postfix to pkgs (install_packages' list)
# when it is not installed.
postfix_missing_packages() {
	local status
	status=$(dpkg-query -W -f='${db:Status-Status}' postfix 2>/dev/null) || status=
	[[ $status == installed && -x $POSTFIX ]] || pkgs+=(postfix)
}

# postfix_preseed SUDO...: answer the package's debconf question before
# apt-get: "Local only" writes a loopback-only main.cf and asks nothing else.
postfix_preseed() {
	echo "postfix postfix/main_mailer_type select Local only" | "$@" debconf-set-selections
}

# postfix_after_install SUDO...: when this run installed postfix, keep the
# system service from starting at boot (policy-rc.d only stopped the start
# during the install). Never touches a postfix that was installed before.
postfix_after_install() {
	[[ " ${pkgs[*]} " == *" postfix "* ]] || return 0
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
		"$@" systemctl disable --quiet postfix.service >/dev/null 2>&1 || true
	elif command -v update-rc.d >/dev/null; then
		"$@" update-rc.d postfix disable >/dev/null 2>&1 || true
	fi
}

# postfix_env_missing: a reused set's env.sh predates Postfix.
postfix_env_missing() { ! grep -q '^export DIRSYNC_TEST_POSTFIX=' "$ENV_FILE"; }
