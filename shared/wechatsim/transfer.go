package wechatsim

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Transfer bill states (商家转账, facts §6.2). The simulator's bills move
//
//	new ─► WAIT_USER_CONFIRM ─┬─ ConfirmTransfer ─► TRANSFERING ─► SUCCESS
//	                          ├─ DeclineTransfer ─► FAIL (USER_REFUSED)
//	                          ├─ confirm window over ─► FAIL (OVERDUE_CLOSE)
//	                          └─ cancel call ─► CANCELING ─► CANCELLED
//	new with Config.TransferNoConfirm ─► PROCESSING ─► SUCCESS
//
// and SettleTransfer forces any bill that is not final to SUCCESS or FAIL. ACCEPTED is
// passed through at creation; TRANSFERING only inside ConfirmTransfer.
const (
	TransferAccepted        = "ACCEPTED"
	TransferProcessing      = "PROCESSING"
	TransferWaitUserConfirm = "WAIT_USER_CONFIRM"
	TransferTransfering     = "TRANSFERING" // sic: WeChat's spelling
	TransferSuccess         = "SUCCESS"
	TransferFail            = "FAIL"
	TransferCanceling       = "CANCELING"
	TransferCancelled       = "CANCELLED"
)

// fail_reason values the simulator sets on its own.
const (
	// TransferOverdueClose is WeChat's reason for a bill the user did not confirm within
	// the confirm window (Config.TransferConfirmWindow).
	TransferOverdueClose = "OVERDUE_CLOSE"
	// TransferUserRefused is the simulator's reason for a bill the user declined
	// (DeclineTransfer). It is invented: WeChat's published reasons have no such value.
	TransferUserRefused = "USER_REFUSED"
	// TransferOtherFail is the reason SettleTransfer uses for FAIL when none is given.
	TransferOtherFail = "OTHER_FAIL_REASON_TYPE"
)

// Transfer rules (facts §6.2).
const (
	transferNameRequiredFen = 200_000 // 2000 CNY and more need user_name
	defaultConfirmWindow    = 24 * time.Hour
)

func transferFinal(state string) bool {
	return state == TransferSuccess || state == TransferFail || state == TransferCancelled
}

type reportInfo struct {
	InfoType    string `json:"info_type"`
	InfoContent string `json:"info_content"`
}

type transfer struct {
	seq            int
	outBillNo      string
	transferBillNo string
	appID          string
	openID         string
	sceneID        string
	userName       string // decrypted
	amount         int64
	remark         string
	notifyURL      string
	perception     string
	reportInfos    []reportInfo
	state          string
	failReason     string
	packageInfo    string
	createdAt      time.Time
	updatedAt      time.Time
	finishedAt     time.Time // when it became final: its notification was first due
	requests       int
	acked          bool // a genuine notification of the final state was acknowledged
	attempted      bool // a genuine notification of the final state was attempted (or dropped by a fault)
}

// TransferView is WeChat's side of the truth about a transfer bill.
type TransferView struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	AmountFen      int64  `json:"transfer_amount"`
	OpenID         string `json:"openid"`
	Remark         string `json:"transfer_remark"`
	SceneID        string `json:"transfer_scene_id"`
	// UserName is the decrypted real name the request carried, "" if none.
	UserName   string `json:"user_name,omitempty"`
	FailReason string `json:"fail_reason,omitempty"`
	// PackageInfo is what wx.requestMerchantTransfer takes; set only while WAIT_USER_CONFIRM.
	PackageInfo string `json:"package_info,omitempty"`
	NotifyURL   string `json:"notify_url,omitempty"`
	// Requests counts the create calls that named this out_bill_no (the first included).
	Requests  int       `json:"requests"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// CallbackAcked reports whether a genuine notification of the final state was
	// acknowledged.
	CallbackAcked bool `json:"callback_acked"`
	// Callback is set only in what ConfirmTransfer, DeclineTransfer and SettleTransfer
	// return: the first delivery attempt of the notification they sent.
	Callback *Delivery `json:"callback,omitempty"`
}

func (s *Simulator) transferViewLocked(t *transfer) TransferView {
	v := TransferView{
		OutBillNo: t.outBillNo, TransferBillNo: t.transferBillNo, State: t.state, AmountFen: t.amount,
		OpenID: t.openID, Remark: t.remark, SceneID: t.sceneID, UserName: t.userName,
		FailReason: t.failReason, NotifyURL: t.notifyURL, Requests: t.requests,
		CreatedAt: t.createdAt.UTC(), UpdatedAt: t.updatedAt.UTC(), CallbackAcked: t.acked,
	}
	if t.state == TransferWaitUserConfirm {
		v.PackageInfo = t.packageInfo
	}
	return v
}

func transferNotFound(outBillNo string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "TRANSFER_NOT_FOUND",
		Message: fmt.Sprintf("transfer bill %s does not exist at WeChat", outBillNo)}
}

// confirmWindow is how long a bill waits for the user; 0 or less: forever.
func (s *Simulator) confirmWindow() time.Duration {
	return s.cfg.TransferConfirmWindow
}

// overdueLocked closes t with OVERDUE_CLOSE if it waited for the user through the whole
// confirm window (by Config.Now). It returns the notification to send, if it closed t.
func (s *Simulator) overdueLocked(t *transfer) *callback {
	w := s.confirmWindow()
	if t == nil || t.state != TransferWaitUserConfirm || w <= 0 {
		return nil
	}
	deadline := t.createdAt.Add(w)
	if s.now().Before(deadline) {
		return nil
	}
	t.state, t.failReason, t.updatedAt, t.finishedAt = TransferFail, TransferOverdueClose, deadline, s.now()
	s.saveTransferLocked(t)
	cb := s.transferNotifyLocked(t, false)
	return &cb
}

// lookTransferLocked returns the bill outBillNo after applying the confirm window, and
// the notification an overdue close owes (send it with sendLater once unlocked).
func (s *Simulator) lookTransferLocked(outBillNo string) (*transfer, *callback) {
	t := s.transfers[outBillNo]
	return t, s.overdueLocked(t)
}

// sendLater delivers genuine notifications in the background, with redelivery.
func (s *Simulator) sendLater(trigger string, cbs ...*callback) {
	for _, cb := range cbs {
		if cb == nil {
			continue
		}
		c := *cb
		s.spawn(func() { s.deliverGenuine(s.ctx, c, trigger, true) })
	}
}

// Transfer returns WeChat's view of a transfer bill. Looking at a bill that waited for
// the user through the confirm window closes it (FAIL, OVERDUE_CLOSE) and sends its
// notification in the background.
func (s *Simulator) Transfer(outBillNo string) (TransferView, bool) {
	s.mu.Lock()
	t, cb := s.lookTransferLocked(outBillNo)
	if t == nil {
		s.mu.Unlock()
		return TransferView{}, false
	}
	v := s.transferViewLocked(t)
	s.mu.Unlock()
	_ = s.sync()
	s.sendLater(TriggerOverdue, cb)
	return v, true
}

// Transfers returns the transfer bills to openid ("" for all) in creation order, closing
// overdue ones as Transfer does.
func (s *Simulator) Transfers(openid string) []TransferView {
	s.mu.Lock()
	list := make([]*transfer, 0, len(s.transfers))
	for _, t := range s.transfers {
		if openid == "" || t.openID == openid {
			list = append(list, t)
		}
	}
	slices.SortFunc(list, func(a, b *transfer) int { return a.seq - b.seq })
	out := make([]TransferView, 0, len(list))
	var cbs []*callback
	for _, t := range list {
		cbs = append(cbs, s.overdueLocked(t))
		out = append(out, s.transferViewLocked(t))
	}
	s.mu.Unlock()
	_ = s.sync()
	s.sendLater(TriggerOverdue, cbs...)
	return out
}

// TransferDeliveries returns every logged delivery attempt of the notifications of the
// transfer bill outBillNo, in the order the attempts finished.
func (s *Simulator) TransferDeliveries(outBillNo string) []Delivery {
	return s.deliveriesWhere(func(d *Delivery) bool { return d.OutBillNo == outBillNo })
}

// ConfirmTransfer acts as the user confirming the receipt in the mini program
// (wx.requestMerchantTransfer): a WAIT_USER_CONFIRM bill goes TRANSFERING, then SUCCESS,
// and its MCHTRANSFER.BILL.FINISHED notification is sent: the first attempt
// synchronously, redeliveries in the background. A bill in any other state (including
// one the confirm window just closed) is a 409 error.
func (s *Simulator) ConfirmTransfer(ctx context.Context, outBillNo string) (TransferView, error) {
	return s.userAction(ctx, outBillNo, TransferSuccess, "", TriggerConfirm)
}

// DeclineTransfer acts as the user declining the receipt: a WAIT_USER_CONFIRM bill
// becomes FAIL with fail_reason USER_REFUSED (TransferUserRefused, invented by the
// simulator), and its notification is sent as ConfirmTransfer sends it. A bill in any
// other state is a 409 error.
func (s *Simulator) DeclineTransfer(ctx context.Context, outBillNo string) (TransferView, error) {
	return s.userAction(ctx, outBillNo, TransferFail, TransferUserRefused, TriggerDecline)
}

func (s *Simulator) userAction(ctx context.Context, outBillNo, state, reason, trigger string) (TransferView, error) {
	s.mu.Lock()
	t, overdue := s.lookTransferLocked(outBillNo)
	if t == nil {
		s.mu.Unlock()
		return TransferView{}, transferNotFound(outBillNo)
	}
	if t.state != TransferWaitUserConfirm {
		msg := fmt.Sprintf("transfer bill %s is %s, not WAIT_USER_CONFIRM", outBillNo, t.state)
		if t.failReason != "" {
			msg += " (" + t.failReason + ")"
		}
		s.mu.Unlock()
		s.sendLater(TriggerOverdue, overdue)
		return TransferView{}, &Error{Status: http.StatusConflict, Code: "TRANSFER_NOT_WAITING", Message: msg}
	}
	if state == TransferSuccess {
		t.state = TransferTransfering
	}
	cb := s.finishTransferLocked(t, state, reason)
	v := s.transferViewLocked(t)
	s.mu.Unlock()
	d := s.deliverGenuine(ctx, cb, trigger, true)
	v.Callback, v.CallbackAcked = &d, d.OK
	return v, nil
}

// finishTransferLocked moves t to a final state and returns its notification.
func (s *Simulator) finishTransferLocked(t *transfer, state, reason string) callback {
	t.state, t.failReason, t.updatedAt = state, reason, s.now()
	t.finishedAt = t.updatedAt
	s.saveTransferLocked(t)
	return s.transferNotifyLocked(t, false)
}

func settleTransferArgs(state, reason string) error {
	switch state {
	case TransferSuccess:
		if reason != "" {
			return badField("fail_reason", "fail_reason is only valid with state FAIL")
		}
	case TransferFail:
		if len(reason) > 64 {
			return badField("fail_reason", "fail_reason is longer than 64 characters")
		}
	default:
		return badField("state", fmt.Sprintf("state %q is not SUCCESS or FAIL", state))
	}
	return nil
}

// SettleTransfer forces a bill that is not final (WAIT_USER_CONFIRM, PROCESSING,
// CANCELING, ...) to SUCCESS or FAIL (with failReason, default OTHER_FAIL_REASON_TYPE)
// and sends its notification as ConfirmTransfer does. A final bill is a 409 error,
// except that settling it to the state it has changes and sends nothing.
func (s *Simulator) SettleTransfer(ctx context.Context, outBillNo, state, failReason string) (TransferView, error) {
	if err := settleTransferArgs(state, failReason); err != nil {
		return TransferView{}, err
	}
	if state == TransferFail && failReason == "" {
		failReason = TransferOtherFail
	}
	return s.settleTransfer(ctx, outBillNo, state, failReason, TriggerSettle, "")
}

// settleTransfer is SettleTransfer; with only set, it acts only on a bill in that state
// (the work scheduled after a create or cancel reply).
func (s *Simulator) settleTransfer(ctx context.Context, outBillNo, state, reason, trigger, only string) (TransferView, error) {
	s.mu.Lock()
	t, overdue := s.lookTransferLocked(outBillNo)
	if t == nil {
		s.mu.Unlock()
		return TransferView{}, transferNotFound(outBillNo)
	}
	if state == t.state || only != "" && t.state != only {
		v := s.transferViewLocked(t)
		s.mu.Unlock()
		s.sendLater(TriggerOverdue, overdue)
		return v, nil
	}
	if transferFinal(t.state) {
		msg := fmt.Sprintf("transfer bill %s is %s, which is final", outBillNo, t.state)
		s.mu.Unlock()
		s.sendLater(TriggerOverdue, overdue)
		return TransferView{}, &Error{Status: http.StatusConflict, Code: "TRANSFER_FINAL", Message: msg}
	}
	cb := s.finishTransferLocked(t, state, reason)
	v := s.transferViewLocked(t)
	s.mu.Unlock()
	d := s.deliverGenuine(ctx, cb, trigger, true)
	v.Callback, v.CallbackAcked = &d, d.OK
	return v, nil
}

// NotifyTransfer sends the genuine, correctly signed MCHTRANSFER.BILL.FINISHED
// notification of a final bill again, now, without background redelivery. A bill that
// is not final is a 409 error: WeChat only notifies final bills.
func (s *Simulator) NotifyTransfer(ctx context.Context, outBillNo string) (Delivery, error) {
	s.mu.Lock()
	t, overdue := s.lookTransferLocked(outBillNo)
	if t == nil {
		s.mu.Unlock()
		return Delivery{}, transferNotFound(outBillNo)
	}
	if !transferFinal(t.state) {
		s.mu.Unlock()
		return Delivery{}, &Error{Status: http.StatusConflict, Code: "TRANSFER_NOT_FINAL",
			Message: fmt.Sprintf("transfer bill %s is %s: WeChat only notifies final bills", outBillNo, t.state)}
	}
	cb := s.transferNotifyLocked(t, false)
	s.mu.Unlock()
	s.sendLater(TriggerOverdue, overdue)
	return s.deliverGenuine(ctx, cb, TriggerNotify, false), nil
}

// Control routes.

func (s *Simulator) handleTransfer(w http.ResponseWriter, r *http.Request) {
	v, ok := s.Transfer(r.PathValue("out_bill_no"))
	if !ok {
		writeError(w, transferNotFound(r.PathValue("out_bill_no")))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Simulator) handleTransfers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"transfers": s.Transfers(r.URL.Query().Get("openid"))})
}

// decodeOptional decodes a control body strictly into v; an empty body is {}.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := readControl(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	return decodeStrict(raw, v)
}

func (s *Simulator) handleTransferAction(act func(context.Context, string) (TransferView, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := decodeOptional(w, r, &struct{}{}); err != nil {
			writeError(w, err)
			return
		}
		v, err := act(r.Context(), r.PathValue("out_bill_no"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *Simulator) handleSettleTransfer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		State      string `json:"state"`
		FailReason string `json:"fail_reason"`
	}
	if err := decodeControl(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	v, err := s.SettleTransfer(r.Context(), r.PathValue("out_bill_no"), req.State, req.FailReason)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Simulator) handleNotifyTransfer(w http.ResponseWriter, r *http.Request) {
	if err := decodeOptional(w, r, &struct{}{}); err != nil {
		writeError(w, err)
		return
	}
	d, err := s.NotifyTransfer(r.Context(), r.PathValue("out_bill_no"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
