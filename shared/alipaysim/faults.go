package alipaysim

import (
	"fmt"
	"slices"
	"strings"
)

// FaultNotify is the Fault.Method of the asynchronous notifications.
const FaultNotify = "notify"

// Fault modes.
//
// A gateway method (alipay.trade.precreate, .query, .close, .refund,
// .fastpay.refund.query, alipay.data.dataservice.bill.downloadurl.query) takes
// ModeFail, ModeTimeout and ModeDelay. With ModeFail the call is answered Code (default
// 40004) and SubCode (default ACQ.SYSTEM_ERROR, "系统异常错误下该笔交易可能成功也可能失败，请调用
// 查询订单API", which every trade method documents) without taking effect; a 40004
// answer is signed like any business answer, other codes are not (gateway refusals). A
// Code without SubCode gets isp.unknow-error for 20000, isv.invalid-parameter for 40002,
// isv.missing-signature for 40001, ACQ.SYSTEM_ERROR otherwise.
//
// FaultNotify takes ModeDuplicate, ModeDrop and ModeForge.
const (
	ModeFail      = "fail"      // gateway: the call fails without taking effect
	ModeTimeout   = "timeout"   // gateway: the call takes effect; the reply is held until the caller gives up (or DelayMS, when set, then sent)
	ModeDelay     = "delay"     // gateway: sleep DelayMS, then answer normally
	ModeDuplicate = "duplicate" // notify: each delivery attempt is sent twice, concurrently
	ModeDrop      = "drop"      // notify: the notification is lost: never delivered nor redelivered
	// ModeForge (notify): after a successful precreate or cashier page, a forged
	// TRADE_SUCCESS notification is sent for the unpaid trade to its notify_url; Code
	// names the forge kind (Forge*, default ForgeBadSignature).
	ModeForge = "forge"
)

const maxFaultDelayMS = 60_000

// faultModes lists the modes a fault method accepts (nil: unknown method).
func faultModes(method string) []string {
	switch method {
	case MethodPrecreate, MethodQuery, MethodClose, MethodRefund, MethodRefundQuery, MethodBillDownloadURL:
		return []string{ModeFail, ModeTimeout, ModeDelay}
	case FaultNotify:
		return []string{ModeDuplicate, ModeDrop, ModeForge}
	}
	return nil
}

// Fault is an injected failure. It is consumed by Count matching calls (0 counts as 1);
// when several faults match, the oldest applies.
type Fault struct {
	Method  string `json:"method"`
	Mode    string `json:"mode"`
	Code    string `json:"code,omitempty"`
	SubCode string `json:"sub_code,omitempty"`
	DelayMS int    `json:"delay_ms,omitempty"`
	Count   int    `json:"count"` // remaining, when listed
}

// AddFault validates f and queues it. The error is an *Error (400) naming the bad field.
func (s *Simulator) AddFault(f Fault) error {
	modes := faultModes(f.Method)
	if modes == nil {
		return badField("method", fmt.Sprintf("unknown method %q (want %s, %s, %s, %s, %s, %s or %s)", f.Method,
			MethodPrecreate, MethodQuery, MethodClose, MethodRefund, MethodRefundQuery, MethodBillDownloadURL, FaultNotify))
	}
	if !slices.Contains(modes, f.Mode) {
		return badField("mode", fmt.Sprintf("mode %q is not valid for %q (want one of %v)", f.Mode, f.Method, modes))
	}
	if f.Count < 0 {
		return badField("count", "count must not be negative")
	}
	if f.Count == 0 {
		f.Count = 1
	}
	switch f.Mode {
	case ModeFail:
		if f.Code == "" {
			f.Code = codeBusinessFailed
		}
		if _, ok := codeMsgs[f.Code]; !ok || f.Code == codeSuccess {
			return badField("code", fmt.Sprintf("code %q is not one of Alipay's error codes (20000, 20001, 40001 … 40006)", f.Code))
		}
		if f.SubCode == "" {
			f.SubCode = defaultSubCode(f.Code)
		}
	case ModeForge:
		if f.Code == "" {
			f.Code = ForgeBadSignature
		}
		if !slices.Contains(forgeKinds, f.Code) {
			return badField("code", fmt.Sprintf("forge kind %q is not one of %v", f.Code, forgeKinds))
		}
		if f.SubCode != "" {
			return badField("sub_code", "sub_code is only valid with mode fail")
		}
	default:
		if f.Code != "" || f.SubCode != "" {
			return badField("code", "code and sub_code are only valid with modes fail and forge")
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

func defaultSubCode(code string) string {
	switch code {
	case codeUnavailable:
		return "isp.unknow-error"
	case codeMissingParam:
		return "isv.missing-signature"
	case codeInvalidParam:
		return "isv.invalid-parameter"
	}
	return "ACQ.SYSTEM_ERROR"
}

// answer is what a fail fault answers.
func (f *Fault) answer() answer {
	return answer{code: f.Code, subCode: f.SubCode, subMsg: subMsg(f.SubCode)}
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

// consumeFault takes one use of the oldest fault for method whose mode is one of modes.
func (s *Simulator) consumeFault(method string, modes ...string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !strings.EqualFold(f.Method, method) || !slices.Contains(modes, f.Mode) {
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
