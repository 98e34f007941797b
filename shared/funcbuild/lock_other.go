//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package funcbuild

// lockMachine is a no-op where flock is not available: concurrent builds
// only compile shared packages twice.
func lockMachine() (unlock func()) { return func() {} }
