package config

import "time"

// Holds configures the operations runs hold for approval (brakes, protected
// accounts). A pending hold is a decision taken on what the source said when
// it was held; after MaxAge it expires instead of waiting for ever, and an
// operation the source still asks for is planned, and held, afresh.
//
//	holds:
//	  max_age: 168h   # the default, a week; 0 keeps holds until decided
type Holds struct {
	MaxAge time.Duration `yaml:"max_age"`
}

func defaultHolds() Holds {
	return Holds{MaxAge: 7 * 24 * time.Hour}
}

func (h Holds) validate() []Problem {
	if h.MaxAge < 0 {
		return []Problem{{Path: "holds.max_age", Message: h.MaxAge.String() +
			": must not be negative: a duration such as 168h (a week), or 0 to keep holds until they are decided"}}
	}
	return nil
}
