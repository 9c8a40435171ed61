package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/connectortest"
	"github.com/dirsync/dirsync/sync/engine"
)

func withAliases(r connectors.Record, aliases ...string) connectors.Record {
	r.Aliases = aliases
	return r
}

// aliasesOf reads an object's aliases from the store.
func (e *env) aliasesOf(t *testing.T, addr string) []string {
	t.Helper()
	u, err := e.store.User(context.Background(), addr)
	require.NoError(t, err)
	return u.Aliases
}

// TestSharedAliasNeverFailsTheRun: two users claiming one alias (in different
// case) used to make the second create fail at apply on every run (status
// partial, the user never created). Now both are created, the alias goes to one
// of them and stays there whatever the read order, the other is warned on every
// run, and gets the alias once its owner drops it.
func TestSharedAliasNeverFailsTheRun(t *testing.T) {
	e := newEnv(t)
	ann := withAliases(user(1), "Helpdesk@example.com")
	bob := withAliases(user(2), "helpdesk@EXAMPLE.com")
	const desk = "helpdesk@example.com"
	clash := func(rep *engine.Report) {
		t.Helper()
		require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
		require.Empty(t, rep.Errors)
		require.Empty(t, rep.Quarantined, "the user is synchronised; only the alias is withheld")
		require.Len(t, rep.Warnings, 1)
		require.Equal(t, "uid=u02", rep.Warnings[0].Record)
		require.Equal(t, "aliases", rep.Warnings[0].Field)
		require.Contains(t, rep.Warnings[0].Reason, desk)
		require.NotEmpty(t, rep.Warnings[0].Fix)
		require.Equal(t, []string{desk}, e.aliasesOf(t, "u01@example.com"))
		require.Empty(t, e.aliasesOf(t, "u02@example.com"))
	}

	first := e.run(t, &connectortest.Static{Records: []connectors.Record{ann, bob, user(3)}}, policy(), engine.Options{})
	clash(first)
	require.Equal(t, 3, first.Counts.Create)
	require.Contains(t, first.Warnings[0].Reason, "uid=u01", "the warning names the other owner")

	reversed := e.run(t, &connectortest.Static{Records: []connectors.Record{bob, ann, user(3)}}, policy(), engine.Options{})
	clash(reversed)
	require.Empty(t, reversed.Operations, "the owner keeps the alias when the other is read first")
	require.Contains(t, reversed.Warnings[0].Reason, "u01@example.com", "the warning names the store owner")

	pol := policy()
	pol.MaxDestructivePercent = 100 // one alias removal among three users
	drop := e.run(t, &connectortest.Static{Records: []connectors.Record{bob, user(1), user(3)}}, pol, engine.Options{})
	require.Equal(t, engine.StatusOK, drop.Status, drop.Errors)
	require.Empty(t, e.aliasesOf(t, "u01@example.com"))
	require.Len(t, drop.Warnings, 1, "the store still had the alias on u01 when this run was planned")

	gets := e.run(t, &connectortest.Static{Records: []connectors.Record{bob, user(1), user(3)}}, pol, engine.Options{})
	require.Equal(t, engine.StatusOK, gets.Status, gets.Errors)
	require.Empty(t, gets.Warnings)
	require.Equal(t, []string{desk}, e.aliasesOf(t, "u02@example.com"), "the other claimant gets the alias once it is free")
}

// TestQuarantinedKnownUserIsStillDisabled: a known user whose record turns
// invalid (mail moved to an external domain) and is disabled in the source is
// disabled; nothing else of the record is applied and its snapshot entry stays.
func TestQuarantinedKnownUserIsStillDisabled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pol := policy()
	pol.MaxDestructivePercent = 100
	require.Equal(t, engine.StatusOK, e.run(t, &connectortest.Static{Records: users(3)}, pol, engine.Options{}).Status)
	before, err := e.state.Snapshot(ctx, "dir")
	require.NoError(t, err)

	moved := user(1)
	moved.Mail, moved.DisplayName, moved.Disabled = "u01@partner.example", "Moved Away", true
	src := &connectortest.Static{Records: []connectors.Record{user(0), moved, user(2)}}
	rep := e.run(t, src, pol, engine.Options{})
	require.Equal(t, engine.StatusOK, rep.Status, rep.Errors)
	require.Len(t, rep.Quarantined, 1)
	require.Equal(t, 1, rep.Counts.Disable)
	require.False(t, e.enabled(t, "u01@example.com"), "the source's disable is applied")
	u, err := e.store.User(ctx, "u01@example.com")
	require.NoError(t, err)
	require.Equal(t, "User 1", u.DisplayName, "nothing else of the quarantined record is applied")
	after, err := e.state.Snapshot(ctx, "dir")
	require.NoError(t, err)
	require.Equal(t, before["a01"], after["a01"], "the snapshot entry stays")

	again := e.run(t, src, pol, engine.Options{})
	require.Equal(t, engine.StatusOK, again.Status, again.Errors)
	require.Zero(t, again.Counts.Disable, "already disabled: nothing to do")

	tight := e.run(t, &connectortest.Static{Records: []connectors.Record{moved2(), user(0), moved}}, config.Policy{BatchSize: 7, MaxDestructive: 0,
		MaxDestructivePercent: 100, MinSourcePercent: 50, MissingRuns: 2, SoftMatch: true}, engine.Options{})
	require.Equal(t, engine.StatusHeld, tight.Status, "a disable like any other: the brakes hold it")
	require.Len(t, tight.Held, 1)
	require.True(t, e.enabled(t, "u02@example.com"))
}

// moved2 is u02 moved to an external domain and disabled in the source.
func moved2() connectors.Record {
	r := user(2)
	r.Mail, r.Disabled = "u02@partner.example", true
	return r
}

// TestHealthGateCountsDistinctAnchors: a full read returning 40% of the
// objects, each twice, is not a complete read.
func TestHealthGateCountsDistinctAnchors(t *testing.T) {
	e := newEnv(t)
	pol := policy()
	pol.MaxDestructivePercent, pol.MissingRuns = 100, 1
	require.Equal(t, engine.StatusOK, e.run(t, &connectortest.Static{Records: users(10)}, pol, engine.Options{}).Status)
	twice := append(users(4), users(4)...)
	rep := e.run(t, &connectortest.Static{Records: twice}, pol, engine.Options{})
	require.Equal(t, engine.StatusHeld, rep.Status)
	require.Contains(t, rep.HoldReason, "4 distinct objects in 8 records")
	require.Zero(t, rep.Counts.Disable)
	require.True(t, e.enabled(t, "u09@example.com"), "nobody is disabled on the strength of a read with gaps")
}
