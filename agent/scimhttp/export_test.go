package scimhttp

import "time"

// SetClock replaces the clock the rate limits read, so tests can replay
// minutes of traffic in milliseconds.
func SetClock(s *Server, now func() time.Time) { s.now = now }
