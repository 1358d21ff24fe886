package main

// cleanups runs what the demo started, newest first, when the demo ends.
type cleanups []func()

// Cleanup registers f to run when the demo ends.
func (c *cleanups) Cleanup(f func()) { *c = append(*c, f) }

// close runs the cleanups, newest first.
func (c *cleanups) close() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}
