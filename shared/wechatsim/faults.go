package wechatsim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// Fault modes.
const (
	ModeFail      = "fail"      // API: the call fails (numeric Code: transport errcode; else result_code FAIL, err_code=Code)
	ModeTimeout   = "timeout"   // API: the call takes effect, the reply is held until the caller gives up (≤ 60 s, or DelayMS)
	ModeDelay     = "delay"     // API: sleep DelayMS, then answer normally
	ModeDuplicate = "duplicate" // pay_callback: each delivery attempt is sent twice, concurrently
	ModeDrop      = "drop"      // pay_callback: the callback is lost: never delivered nor redelivered
	ModeForge     = "forge"     // pay_callback: after a successful unifiedorder, a forged SUCCESS callback is sent for the unpaid order
)

const apiPayCallback = "pay_callback"

// faultModes lists the modes a fault api accepts (nil: unknown api). The API v3 endpoints
// and the refund/notify callbacks get their cases when they are simulated.
func faultModes(api string) []string {
	switch api {
	case apiUnifiedOrder, apiQueryOrder, apiCloseOrder:
		return []string{ModeFail, ModeTimeout, ModeDelay}
	case apiPayCallback:
		return []string{ModeDuplicate, ModeDrop, ModeForge}
	}
	return nil
}

const maxFaultDelayMS = 60_000

// Fault is an injected failure. It is consumed by Count matching calls; when several
// faults match a call, the oldest applies.
type Fault struct {
	API     string `json:"api"`
	Mode    string `json:"mode"`
	Count   int    `json:"count"` // remaining when listed
	Code    string `json:"code,omitempty"`
	DelayMS int    `json:"delay_ms,omitempty"`
}

// AddFault validates f and queues it. The error is an *Error (400) naming the bad field.
func (s *Simulator) AddFault(f Fault) error {
	modes := faultModes(f.API)
	if modes == nil {
		return badField("api", fmt.Sprintf("unknown api %q (want unifiedorder, queryorder, closeorder or pay_callback)", f.API))
	}
	if !slices.Contains(modes, f.Mode) {
		return badField("mode", fmt.Sprintf("mode %q is not valid for api %q (want one of %v)", f.Mode, f.API, modes))
	}
	if f.Count < 1 {
		return badField("count", "count must be an integer of at least 1")
	}
	switch f.Mode {
	case ModeFail:
		if f.Code == "" {
			f.Code = "SYSTEMERROR"
		}
		if n, err := strconv.Atoi(f.Code); err == nil && n == 0 {
			return badField("code", "a numeric code must be non-zero")
		}
		if len(f.Code) > 64 {
			return badField("code", "code is longer than 64 characters")
		}
	default:
		if f.Code != "" {
			return badField("code", "code is only valid with mode fail")
		}
	}
	switch {
	case f.DelayMS < 0 || f.DelayMS > maxFaultDelayMS:
		return badField("delay_ms", fmt.Sprintf("delay_ms must be between 1 and %d", maxFaultDelayMS))
	case f.Mode == ModeDelay && f.DelayMS == 0:
		return badField("delay_ms", "delay_ms is required with mode delay")
	case f.DelayMS != 0 && f.Mode != ModeDelay && f.Mode != ModeTimeout:
		return badField("delay_ms", "delay_ms is only valid with modes delay and timeout")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// ClearFaults removes every queued fault.
func (s *Simulator) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Faults lists the queued faults with their remaining counts.
func (s *Simulator) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, *f)
	}
	return out
}

// consumeFault takes one use of the oldest fault for api whose mode is one of modes.
func (s *Simulator) consumeFault(api string, modes ...string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consumeFaultLocked(api, modes...)
}

func (s *Simulator) consumeFaultLocked(api string, modes ...string) *Fault {
	for i, f := range s.faults {
		if f.API != api || !slices.Contains(modes, f.Mode) {
			continue
		}
		used := *f
		f.Count--
		if f.Count <= 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return &used
	}
	return nil
}

func badField(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "INVALID_FIELD", Message: field + ": " + msg}
}
