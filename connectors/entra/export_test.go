package entra

// UserFields exposes the $select of user reads to the benchmark's raw baseline.
func UserFields() []string { return userFields }
