package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFaultFlag(t *testing.T) {
	var l faultList
	require.NoError(t, l.Set("/v1.0/users:429:3:1s"))
	require.NoError(t, l.Set("/v1.0/groups:403"))
	require.NoError(t, l.Set("/v1.0:503:-1"))
	require.Equal(t, faultList{
		{Path: "/v1.0/users", Status: 429, Count: 3, RetryAfter: time.Second},
		{Path: "/v1.0/groups", Status: 403, Count: 1},
		{Path: "/v1.0", Status: 503, Count: -1},
	}, l)
	for _, bad := range []string{"users:429", "/v1.0/users", "/v1.0/users:200", "/v1.0/users:429:0", "/v1.0/users:429:1:soon", "/a:429:1:1s:x"} {
		require.Error(t, (&faultList{}).Set(bad), bad)
	}
}
