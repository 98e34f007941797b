package wechatsim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// Fault modes.
//
// An API fault (unifiedorder, queryorder, closeorder, refund, queryrefund) applies to the
// open-interface endpoint and to its API v3 counterpart alike, whichever is called next;
// unifiedorder covers all three v3 prepays (jsapi, native, h5).
// The transfer faults (transfer, querytransfer, canceltransfer) apply to the API v3
// transfer-bill create, query and cancel calls, with the same modes and codes.
// The bill faults (downloadbill, fundflowbill, billfile) apply to the daily bills (see
// bill.go), with the same modes and codes, and ModeCorrupt for downloadbill and fundflowbill.
// With mode fail, the open interface answers a numeric Code as the transport errcode and
// any other Code as result_code FAIL, err_code=Code; API v3 answers {"code":Code} with the
// HTTP status WeChat uses for it (SYSTEM_ERROR 500, FREQUENCY_LIMITED 429, NOT_ENOUGH,
// USER_ACCOUNT_ABNORMAL and NO_AUTH 403, PARAM_ERROR and INVALID_REQUEST 400,
// RESOURCE_NOT_EXISTS and NOT_FOUND 404, SIGN_ERROR 401, others 400; the v2 default SYSTEMERROR is
// answered as SYSTEM_ERROR 500), and a numeric Code as that HTTP status (400 to 599, else
// 500) with code SYSTEM_ERROR.
const (
	ModeFail      = "fail"      // API: the call fails without taking effect
	ModeTimeout   = "timeout"   // API: the call takes effect, the reply is held until the caller gives up (≤ 60 s, or DelayMS)
	ModeDelay     = "delay"     // API: sleep DelayMS, then answer normally
	ModeDuplicate = "duplicate" // callbacks: each delivery attempt is sent twice, concurrently
	ModeDrop      = "drop"      // callbacks: the callback is lost: never delivered nor redelivered
	ModeForge     = "forge"     // pay_callback: after a successful unifiedorder, a forged SUCCESS callback is sent for the unpaid order;
	// v3_notify: after a successful v3 prepay (jsapi, native, h5), a bad_signature TRANSACTION.SUCCESS notification is sent for the unpaid order
)

// faultAPIs is the error text listing the apis a fault can name.
const faultAPIs = "unifiedorder, queryorder, closeorder, refund, queryrefund, transfer, querytransfer, canceltransfer, downloadbill, fundflowbill, billfile, pay_callback, refund_callback or v3_notify"

// faultModes lists the modes a fault api accepts (nil: unknown api).
func faultModes(api string) []string {
	switch api {
	case apiUnifiedOrder, apiQueryOrder, apiCloseOrder, apiRefund, apiQueryRefund,
		apiTransfer, apiQueryTransfer, apiCancelTransfer:
		return []string{ModeFail, ModeTimeout, ModeDelay}
	case apiDownloadBill, apiFundFlowBill:
		return []string{ModeFail, ModeTimeout, ModeDelay, ModeCorrupt}
	case apiBillFile:
		return []string{ModeFail, ModeTimeout, ModeDelay}
	case KindPayCallback, KindV3Notify:
		return []string{ModeDuplicate, ModeDrop, ModeForge}
	case KindRefundCallback:
		return []string{ModeDuplicate, ModeDrop}
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
		return badField("api", fmt.Sprintf("unknown api %q (want %s)", f.API, faultAPIs))
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
