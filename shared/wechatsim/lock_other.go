//go:build !unix

package wechatsim

import "os"

// lockFile opens (creating it) path; without flock, nothing keeps a second simulator off
// the state file.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
