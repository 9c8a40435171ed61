package main

import (
	"golang.org/x/time/rate"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/config"
)

// loginOptions are the API's sign-in bounds from server.login (rates there
// are per minute, the limiter's per second).
func loginOptions(c config.Login) api.LoginOptions {
	c = c.WithDefaults()
	return api.LoginOptions{
		MaxConcurrentVerifications: c.MaxConcurrentVerifications,
		MaxWaiting:                 c.MaxWaiting,
		MaxWait:                    c.MaxWait,
		PerClient:                  rate.Limit(c.PerClientRate / 60),
		PerClientBurst:             c.PerClientBurst,
		PerAccount:                 rate.Limit(c.PerAccountRate / 60),
		PerAccountBurst:            c.PerAccountBurst,
		Tracked:                    c.Tracked,
		TrustedProxies:             c.Proxies(),
	}
}
