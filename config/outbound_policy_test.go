package config_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync/dirsync/config"
)

func TestOutboundPolicyClients(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []netip.Prefix
		err  string
	}{
		{"unset means the default", nil, nil, ""},
		{"cidrs and addresses", []string{"192.0.2.0/24", " 10.1.2.3 ", "::1", "2001:db8::/32", "10.9.9.9/8"}, []netip.Prefix{
			netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("10.0.0.0/8")}, ""},
		{"garbage", []string{"mail.example.com"}, nil, `"mail.example.com" is neither a CIDR nor an address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.OutboundPolicy{AllowedClients: tt.in}.Clients()
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
