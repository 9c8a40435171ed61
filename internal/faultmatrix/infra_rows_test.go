package faultmatrix_test

// infraRows are the faults of Graph, the state backend, the store, the
// process and the cluster.
func infraRows() []row {
	return []row{
		{Fault: "Graph 429 storm", Run: infraGraphStorm(429)},
		{Fault: "Graph 503 storm", Run: infraGraphStorm(503)},
		{Fault: "Graph delta link expired", Run: infraGraphExpiredDelta},
		{Fault: "Redis killed mid-run, restarted empty", Run: infraRedisRestart},
		{Fault: "PostgreSQL cut mid-apply", Run: infraPostgresCut},
		{Fault: "SIGKILL of dirsync sync mid-apply", Run: infraSigkill},
		{Fault: "two replicas racing", Run: infraReplicasRace},
		{Fault: "leader paused past its lease", Run: infraLeaderPaused},
	}
}
