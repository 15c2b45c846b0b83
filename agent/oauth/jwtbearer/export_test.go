package jwtbearer

// SetTestHookWait sets a function that runs just before a caller joins or
// starts a JWKS fetch, and returns a function that removes it.
func SetTestHookWait(f func()) (reset func()) {
	testHookWait = f
	return func() { testHookWait = nil }
}
