package daemon

import (
	"strings"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// sdNotify tells systemd (a Type=notify unit) what the daemon is doing:
// READY=1 once it serves, RELOADING=1 and READY=1 around a SIGHUP reload,
// STOPPING=1 when it drains, with a STATUS= line `systemctl status` shows.
// Outside systemd ($NOTIFY_SOCKET unset) it does nothing.
func sdNotify(log *zap.Logger, status string, states ...string) {
	if status != "" {
		states = append(states, "STATUS="+status)
	}
	if _, err := sd.SdNotify(false, strings.Join(states, "\n")); err != nil {
		log.Warn("systemd notification not sent", zap.Error(err))
	}
}
