package config

// Defaults for connectors that set no schedule. They are applied where the
// schedule is used (Schedules), not written into Connector, so that a reload
// compares what the file says.
const (
	DefaultSchedule     = "@every 15m"
	DefaultFullSchedule = "@every 24h"
)

// Schedules returns the connector's effective regular and full schedules.
func (c Connector) Schedules() (spec, full string) {
	spec, full = c.Schedule, c.FullSchedule
	if spec == "" {
		spec = DefaultSchedule
	}
	if full == "" {
		full = DefaultFullSchedule
	}
	return spec, full
}
