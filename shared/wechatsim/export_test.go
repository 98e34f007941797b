package wechatsim

import "errors"

// Crash stops s as kill -9 would stop its process: nothing more reaches its state file
// (changes not yet synced are lost; nothing is flushed or compacted), the lock on the
// file is released, and its goroutines stop without touching the file. Close is not
// called: a crash does not run it.
func Crash(s *Simulator) {
	if j := s.j; j != nil {
		j.wmu.Lock()
		if j.f != nil {
			_ = j.f.Close()
			j.f = nil
		}
		if j.lock != nil {
			_ = j.lock.Close()
			j.lock = nil
		}
		j.broken = errors.New("the simulator crashed")
		j.wmu.Unlock()
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Journaled reports whether s keeps a state file.
func Journaled(s *Simulator) bool { return s.j != nil }

// BreakStateFile makes every later write to s's state file fail, as a full disk would.
func BreakStateFile(s *Simulator) {
	s.j.wmu.Lock()
	defer s.j.wmu.Unlock()
	_ = s.j.f.Close() // j.f stays set: its next Write fails
}
