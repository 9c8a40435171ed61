package daemon

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder makes components that log their starts and stops.
type recorder struct{ events []string }

func (r *recorder) component(name string, startErr error) component {
	return component{name: name,
		start: func(context.Context) error {
			r.events = append(r.events, "start "+name)
			return startErr
		},
		stop: func(context.Context) error {
			r.events = append(r.events, "stop "+name)
			return nil
		}}
}

func TestLifecycleStartsInOrderAndStopsInReverse(t *testing.T) {
	r := &recorder{}
	l := &lifecycle{components: []component{r.component("http", nil), r.component("runs", nil), r.component("leader", nil)}}
	require.NoError(t, l.start(context.Background()))
	require.NoError(t, l.stop(context.Background()))
	require.Equal(t, []string{"start http", "start runs", "start leader", "stop leader", "stop runs", "stop http"}, r.events)

	require.NoError(t, l.stop(context.Background()), "a second stop stops nothing")
	require.Len(t, r.events, 6)
}

func TestLifecycleFailedStartStopsWhatStarted(t *testing.T) {
	r := &recorder{}
	boom := errors.New("address in use")
	l := &lifecycle{components: []component{r.component("http", nil), r.component("runs", boom), r.component("leader", nil)}}
	err := l.start(context.Background())
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "start runs")
	require.Equal(t, []string{"start http", "start runs", "stop http"}, r.events, "leader never starts; runs did not start, so only http stops")
}
