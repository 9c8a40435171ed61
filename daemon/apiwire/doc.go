// Package apiwire adapts the daemon's parts (the engine, the runner) to the
// interfaces the admin API serves, converting engine types into API types so
// that no engine struct crosses the wire.
package apiwire
