package daemon

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/internal/testenv"
)

// TestSenderLoggersAreNamedOnce: the policy service names itself "policy"
// under the "outbound" logger it is given, never "outbound.policy.policy".
func TestSenderLoggersAreNamedOnce(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	oc := config.Defaults().Outbound
	oc.Policy.Listen = "127.0.0.1:0"
	s, err := openSenders(oc, testenv.SQLiteStore(t, "example.com"), testenv.LocalState(t), zap.New(core))
	require.NoError(t, err)
	t.Cleanup(s.close)
	require.NoError(t, s.start(context.Background()))
	t.Cleanup(func() { _ = s.stop(context.Background()) })

	c, err := net.DialTimeout("tcp", s.policy.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Write([]byte("request=smtpd_access_policy\nprotocol_state=RCPT\nsender=x@other.org\nrecipient=y@example.com\n\n"))
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "action=DUNNO", strings.TrimSpace(line))

	names := map[string]bool{}
	for _, e := range logs.All() {
		names[e.LoggerName] = true
	}
	require.True(t, names["outbound.policy"], "the policy request is logged by outbound.policy; got %v", names)
	for name := range names {
		segs := strings.Split(name, ".")
		for i := 1; i < len(segs); i++ {
			require.NotEqual(t, segs[i-1], segs[i], "logger %q repeats a segment", name)
		}
	}
}
