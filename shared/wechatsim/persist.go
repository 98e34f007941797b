package wechatsim

// Persistence (Config.StateFile).
//
// The state file is an append-only journal of JSON lines. The first line is a header;
// every other line is one commit: the full current records of the orders, refunds and
// transfer bills that changed since the previous commit. Replaying the lines in order,
// the last record of an entity wins.
//
// Every change marks the entity dirty under Simulator.mu. sync encodes the dirty entities
// as one line, appends it and fsyncs; the HTTP handler syncs before the first byte of any
// reply, and a callback or notification is synced before it is sent, so nothing the file
// does not hold is ever told. A commit is one line, so a crash cannot half-apply it: a
// line cut short by a crash was never answered and Open drops it. Concurrent requests
// share a commit (whoever takes the write lock next writes everything dirty by then).
//
// Open replays the file, rewrites it compacted (one line per entity, to a temporary file,
// fsync, rename, fsync of the directory) and resumes the timers from the persisted
// timestamps (see Open).

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

const (
	stateFormat  = "wechatsim-state"
	stateVersion = 1
)

// stateHeader is the first line of a state file.
type stateHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

// stateLine is one commit: the current records of what changed.
type stateLine struct {
	Orders    []orderRecord    `json:"orders,omitempty"`
	Refunds   []refundRecord   `json:"refunds,omitempty"`
	Transfers []transferRecord `json:"transfers,omitempty"`
}

// journal is the open state file.
type journal struct {
	path string
	// wmu is held through a commit's write and fsync. It is taken before Simulator.mu,
	// never while holding it.
	wmu  sync.Mutex
	f    *os.File // append-only; nil once closed
	lock *os.File // holds the lock on path+".lock"; nil once released
	// broken is the first write or fsync failure: from then on every sync fails, reads
	// included, since the file may have lost what memory holds.
	broken error

	// What changed since the last commit; guarded by Simulator.mu.
	orders    map[*order]bool
	refunds   map[*refund]bool
	transfers map[*transfer]bool
}

// close closes the file and releases its lock; later commits fail.
func (j *journal) close() {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if j.f != nil {
		_ = j.f.Close()
		j.f = nil
	}
	if j.lock != nil {
		_ = j.lock.Close() // closing the descriptor releases the lock
		j.lock = nil
	}
}

// saveOrderLocked, saveRefundLocked and saveTransferLocked mark an entity changed: the
// next sync writes its record as it is then.
func (s *Simulator) saveOrderLocked(o *order) {
	if s.j != nil && o != nil {
		s.j.orders[o] = true
	}
}

func (s *Simulator) saveRefundLocked(r *refund) {
	if s.j != nil && r != nil {
		s.j.refunds[r] = true
	}
}

func (s *Simulator) saveTransferLocked(t *transfer) {
	if s.j != nil && t != nil {
		s.j.transfers[t] = true
	}
}

// sync makes every change made so far durable. It must not be called holding s.mu.
// Without Config.StateFile it does nothing.
func (s *Simulator) sync() error {
	j := s.j
	if j == nil {
		return nil
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	s.mu.Lock()
	line := s.commitLineLocked()
	s.mu.Unlock()
	switch {
	case j.broken != nil:
		return j.broken
	case line == nil:
		return nil
	case j.f == nil:
		return fmt.Errorf("state file %s: the simulator is closed", j.path)
	}
	if _, err := j.f.Write(line); err != nil {
		j.broken = fmt.Errorf("write state file %s: %w", j.path, err)
		return j.broken
	}
	if err := j.f.Sync(); err != nil {
		j.broken = fmt.Errorf("fsync state file %s: %w", j.path, err)
		return j.broken
	}
	return nil
}

// commitLineLocked encodes and forgets the dirty entities; nil if there are none.
func (s *Simulator) commitLineLocked() []byte {
	j := s.j
	if len(j.orders)+len(j.refunds)+len(j.transfers) == 0 {
		return nil
	}
	var line stateLine
	for o := range j.orders {
		line.Orders = append(line.Orders, o.record())
	}
	for r := range j.refunds {
		line.Refunds = append(line.Refunds, r.record())
	}
	for t := range j.transfers {
		line.Transfers = append(line.Transfers, t.record())
	}
	clear(j.orders)
	clear(j.refunds)
	clear(j.transfers)
	slices.SortFunc(line.Orders, func(a, b orderRecord) int { return cmp.Compare(a.OutTradeNo, b.OutTradeNo) })
	slices.SortFunc(line.Refunds, func(a, b refundRecord) int { return a.Seq - b.Seq })
	slices.SortFunc(line.Transfers, func(a, b transferRecord) int { return a.Seq - b.Seq })
	raw, err := json.Marshal(line)
	if err != nil { // cannot happen: strings, numbers, times
		panic("wechatsim: encode state: " + err.Error())
	}
	return append(raw, '\n')
}

// openState takes the lock on path, loads the state it holds, rewrites it compacted and
// opens it for appending.
func (s *Simulator) openState(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	fail := func(err error) error {
		_ = lock.Close()
		return fmt.Errorf("state file %s: %w", path, err)
	}
	st, err := readState(path)
	if err != nil {
		return fail(err)
	}
	if err := s.restore(st); err != nil {
		return fail(err)
	}
	if err := s.writeCompacted(path); err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fail(err)
	}
	s.j = &journal{path: path, f: f, lock: lock,
		orders: map[*order]bool{}, refunds: map[*refund]bool{}, transfers: map[*transfer]bool{}}
	return nil
}

// loadedState is a replayed state file: the last record of each entity.
type loadedState struct {
	orders    map[string]orderRecord
	refunds   map[string]refundRecord
	transfers map[string]transferRecord
}

// readState replays the state file at path; a missing file is an empty state. Only an
// unterminated last line (a write cut short by a crash, never answered) is dropped.
func readState(path string) (loadedState, error) {
	st := loadedState{orders: map[string]orderRecord{}, refunds: map[string]refundRecord{}, transfers: map[string]transferRecord{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if len(data) == 0 {
		return st, nil
	}
	for n := 1; ; n++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if n == 1 { // not even a whole header: not a file this package wrote
				return st, fmt.Errorf("not a wechatsim state file (no header line)")
			}
			return st, nil // torn tail
		}
		raw := data[:i]
		data = data[i+1:]
		if n == 1 {
			var h stateHeader
			if err := json.Unmarshal(raw, &h); err != nil || h.Format != stateFormat {
				return st, fmt.Errorf("not a wechatsim state file (line 1 is not its header)")
			}
			if h.Version != stateVersion {
				return st, fmt.Errorf("state file version %d, this simulator reads version %d", h.Version, stateVersion)
			}
			continue
		}
		var line stateLine
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&line); err != nil {
			return st, fmt.Errorf("line %d: %w", n, err)
		}
		for _, r := range line.Orders {
			if r.OutTradeNo == "" {
				return st, fmt.Errorf("line %d: an order without out_trade_no", n)
			}
			st.orders[r.OutTradeNo] = r
		}
		for _, r := range line.Refunds {
			if r.OutRefundNo == "" {
				return st, fmt.Errorf("line %d: a refund without out_refund_no", n)
			}
			st.refunds[r.OutRefundNo] = r
		}
		for _, r := range line.Transfers {
			if r.OutBillNo == "" {
				return st, fmt.Errorf("line %d: a transfer bill without out_bill_no", n)
			}
			st.transfers[r.OutBillNo] = r
		}
	}
}

// restore fills the empty simulator with st.
func (s *Simulator) restore(st loadedState) error {
	for _, rec := range st.orders {
		o := rec.order()
		s.orders[o.outTradeNo] = o
		if o.transactionID != "" {
			s.byTxn[o.transactionID] = o
		}
	}
	refunds := make([]*refund, 0, len(st.refunds))
	for _, rec := range st.refunds {
		refunds = append(refunds, rec.refund())
	}
	slices.SortFunc(refunds, func(a, b *refund) int { return a.seq - b.seq })
	for _, r := range refunds {
		o := s.orders[r.outTradeNo]
		if o == nil {
			return fmt.Errorf("refund %s refunds order %s, which the file does not hold", r.outRefundNo, r.outTradeNo)
		}
		o.refunds = append(o.refunds, r)
		s.refunds[r.outRefundNo] = r
		s.refundsByID[r.refundID] = r
	}
	for _, rec := range st.transfers {
		t := rec.transfer()
		s.transfers[t.outBillNo] = t
		s.transfersByID[t.transferBillNo] = t
	}
	return nil
}

// writeCompacted replaces the file at path with a header and one line per entity:
// temporary file, fsync, rename, fsync of the directory.
func (s *Simulator) writeCompacted(path string) error {
	var b bytes.Buffer
	head, _ := json.Marshal(stateHeader{Format: stateFormat, Version: stateVersion})
	b.Write(head)
	b.WriteByte('\n')
	put := func(line stateLine) {
		raw, err := json.Marshal(line)
		if err != nil { // cannot happen
			panic("wechatsim: encode state: " + err.Error())
		}
		b.Write(raw)
		b.WriteByte('\n')
	}
	orders := slices.SortedFunc(maps.Values(s.orders), func(a, b *order) int { return cmp.Compare(a.outTradeNo, b.outTradeNo) })
	for _, o := range orders {
		put(stateLine{Orders: []orderRecord{o.record()}})
	}
	refunds := slices.SortedFunc(maps.Values(s.refunds), func(a, b *refund) int { return a.seq - b.seq })
	for _, r := range refunds {
		put(stateLine{Refunds: []refundRecord{r.record()}})
	}
	transfers := slices.SortedFunc(maps.Values(s.transfers), func(a, b *transfer) int { return a.seq - b.seq })
	for _, t := range transfers {
		put(stateLine{Transfers: []transferRecord{t.record()}})
	}

	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // best effort: not every platform syncs directories
		_ = d.Close()
	}
	return nil
}

// durable wraps the simulator's handler so that every reply waits for the changes made
// so far to be durable. If they cannot be written, the reply becomes a 500 and the
// simulator answers nothing else from then on: it must not tell what it may forget.
func (s *Simulator) durable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &syncWriter{ResponseWriter: w, s: s}
		h.ServeHTTP(sw, r)
		sw.commit() // a handler that wrote nothing (the caller went away) changed state too
	})
}

// syncWriter syncs the state before the first byte of a reply leaves.
type syncWriter struct {
	http.ResponseWriter
	s      *Simulator
	done   bool
	failed bool
}

func (w *syncWriter) commit() bool {
	if w.done {
		return !w.failed
	}
	w.done = true
	if err := w.s.sync(); err != nil {
		w.failed = true
		h := w.ResponseWriter.Header()
		clear(h)
		h.Set("Content-Type", "application/json; charset=utf-8")
		w.ResponseWriter.WriteHeader(http.StatusInternalServerError)
		msg := "WeChat's state could not be persisted: " + err.Error()
		raw, _ := json.Marshal(map[string]any{
			"code": "SYSTEM_ERROR", "message": msg, // API v3 readers
			"error": &Error{Code: "STATE_NOT_PERSISTED", Message: msg}, // control route readers
		})
		_, _ = w.ResponseWriter.Write(append(raw, '\n'))
	}
	return !w.failed
}

func (w *syncWriter) WriteHeader(status int) {
	if w.commit() {
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *syncWriter) Write(b []byte) (int, error) {
	if !w.commit() {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *syncWriter) Flush() {
	if w.commit() {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

func (w *syncWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// resume restarts, after Open loaded a state file, what was under way (see Open).
func (s *Simulator) resume() {
	type pending struct {
		cb        callback
		since     time.Time // when it was first due
		attempted bool      // its first delivery attempt was made before the crash
	}
	var settle []string
	var settleDelays []time.Duration
	type finishing struct{ outBillNo, state string }
	var finish []finishing
	var cbs []pending
	now := s.now()
	s.mu.Lock()
	for _, r := range s.refunds {
		switch {
		case r.status == RefundProcessing && s.cfg.RefundSettleDelay >= 0:
			settle = append(settle, r.outRefundNo)
			settleDelays = append(settleDelays, s.cfg.RefundSettleDelay-now.Sub(r.createdAt))
		case r.status != RefundProcessing && !r.acked[r.status]:
			since := r.settledAt
			if since.IsZero() {
				since = r.createdAt
			}
			cbs = append(cbs, pending{s.refundCallbackLocked(r, r.status), since, r.attempted[r.status]})
		}
	}
	for _, o := range s.orders {
		if o.paid() && !o.acked && !o.outside { // a payment made outside has no pay callback
			cbs = append(cbs, pending{s.payCallbackLocked(o), o.timeEnd, o.attempted})
		}
	}
	for _, t := range s.transfers {
		switch {
		case t.state == TransferProcessing || t.state == TransferCanceling:
			finish = append(finish, finishing{t.outBillNo, t.state})
		case transferFinal(t.state) && !t.acked:
			since := t.finishedAt
			if since.IsZero() {
				since = t.updatedAt
			}
			cbs = append(cbs, pending{s.transferNotifyLocked(t, false), since, t.attempted})
		}
	}
	s.mu.Unlock()

	for i, no := range settle {
		delay := settleDelays[i]
		s.spawn(func() {
			if sleep(s.ctx, delay) {
				_, _ = s.settle(s.ctx, no, RefundSuccess, true)
			}
		})
	}
	for _, f := range finish {
		s.spawn(func() {
			if f.state == TransferProcessing {
				_, _ = s.settleTransfer(s.ctx, f.outBillNo, TransferSuccess, "", TriggerSettle, TransferProcessing)
			} else {
				_, _ = s.settleTransfer(s.ctx, f.outBillNo, TransferCancelled, "", TriggerCancel, TransferCanceling)
			}
		})
	}
	for _, p := range cbs {
		elapsed := now.Sub(p.since)
		s.spawn(func() { s.redeliverFrom(p.cb, elapsed, p.attempted) })
	}
}

// redeliverFrom resumes the delivery of a genuine callback first due elapsed ago. A
// callback whose first attempt the crash prevented is delivered now, whatever the
// schedule. Otherwise, if an attempt of Config.RetryDelays is still ahead, it delivers
// once now (as the attempt most recently due, which the downtime may have swallowed);
// if none is, WeChat had given up. Then it keeps to the schedule.
func (s *Simulator) redeliverFrom(cb callback, elapsed time.Duration, attempted bool) {
	var at time.Duration // when attempt next+2 is due
	next := -1
	for i, d := range s.cfg.RetryDelays {
		at += d
		if at > elapsed {
			next = i
			break
		}
	}
	switch {
	case !attempted:
		if s.attempt(s.ctx, cb, TriggerResume, 1).OK {
			return
		}
	case next >= 0:
		if s.attempt(s.ctx, cb, TriggerResume, next+1).OK {
			return
		}
	}
	if next < 0 {
		return
	}
	for i := next; i < len(s.cfg.RetryDelays); i++ {
		wait := s.cfg.RetryDelays[i]
		if i == next {
			wait = at - elapsed
		}
		if !sleep(s.ctx, wait) {
			return
		}
		s.mu.Lock()
		acked := s.ackedLocked(cb)
		s.mu.Unlock()
		if acked {
			return
		}
		if s.attempt(s.ctx, cb, TriggerRetry, i+2).OK {
			return
		}
	}
}

// Records: what the state file holds of each entity.

type orderRecord struct {
	OutTradeNo    string    `json:"out_trade_no"`
	Channel       string    `json:"channel"`
	NotifyURL     string    `json:"notify_url,omitempty"`
	SubMchID      string    `json:"sub_mch_id"`
	SubAppID      string    `json:"sub_appid"`
	Body          string    `json:"body"`
	Attach        string    `json:"attach,omitempty"`
	OpenID        string    `json:"openid"`
	SpbillIP      string    `json:"spbill_create_ip,omitempty"`
	EnvID         string    `json:"env_id,omitempty"`
	TradeType     string    `json:"trade_type"`
	CallbackType  int64     `json:"callback_type,omitempty"`
	Container     Container `json:"container,omitzero"`
	FunctionName  string    `json:"function_name,omitempty"`
	TotalFee      int64     `json:"total_fee"`
	TimeExpire    time.Time `json:"time_expire,omitzero"`
	PrepayID      string    `json:"prepay_id"`
	State         string    `json:"state"`
	TransactionID string    `json:"transaction_id,omitempty"`
	TimeEnd       time.Time `json:"time_end,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	ClosedAt      time.Time `json:"closed_at,omitzero"`
	Acked         bool      `json:"acked,omitempty"`
	Attempted     bool      `json:"attempted,omitempty"`
	Outside       bool      `json:"outside,omitempty"`
	PayURL        string    `json:"pay_url,omitempty"` // absent in files written before Native and H5
	H5Type        string    `json:"h5_type,omitempty"`

	// A payment with a coupon (PayWithCoupon); absent in files written before coupons.
	CouponFee  int64  `json:"coupon_fee,omitempty"`
	CouponType string `json:"coupon_type,omitempty"`
	CouponID   string `json:"coupon_id,omitempty"`
}

func (o *order) record() orderRecord {
	return orderRecord{
		OutTradeNo: o.outTradeNo, Channel: o.channel, NotifyURL: o.notifyURL, SubMchID: o.subMchID,
		SubAppID: o.subAppID, Body: o.body, Attach: o.attach, OpenID: o.openID, SpbillIP: o.spbillIP,
		EnvID: o.envID, TradeType: o.tradeType, CallbackType: o.callbackType, Container: o.container,
		FunctionName: o.functionName, TotalFee: o.totalFee, TimeExpire: o.timeExpire, PrepayID: o.prepayID,
		State: o.state, TransactionID: o.transactionID, TimeEnd: o.timeEnd, CreatedAt: o.createdAt,
		ClosedAt: o.closedAt, Acked: o.acked, Attempted: o.attempted, Outside: o.outside,
		PayURL: o.payURL, H5Type: o.h5Type,
		CouponFee: o.couponFee, CouponType: o.couponType, CouponID: o.couponID,
	}
}

func (r orderRecord) order() *order {
	return &order{
		outTradeNo: r.OutTradeNo, channel: r.Channel, notifyURL: r.NotifyURL, subMchID: r.SubMchID,
		subAppID: r.SubAppID, body: r.Body, attach: r.Attach, openID: r.OpenID, spbillIP: r.SpbillIP,
		envID: r.EnvID, tradeType: r.TradeType, callbackType: r.CallbackType, container: r.Container,
		functionName: r.FunctionName, totalFee: r.TotalFee, timeExpire: r.TimeExpire, prepayID: r.PrepayID,
		state: r.State, transactionID: r.TransactionID, timeEnd: r.TimeEnd, createdAt: r.CreatedAt,
		closedAt: r.ClosedAt, acked: r.Acked, attempted: r.Attempted, outside: r.Outside,
		payURL: r.PayURL, h5Type: r.H5Type,
		couponFee: r.CouponFee, couponType: r.CouponType, couponID: r.CouponID,
	}
}

type refundRecord struct {
	Seq           int             `json:"seq"`
	OutRefundNo   string          `json:"out_refund_no"`
	Channel       string          `json:"channel"`
	Source        string          `json:"source,omitempty"`
	RefundID      string          `json:"refund_id"`
	OutTradeNo    string          `json:"out_trade_no"`
	TransactionID string          `json:"transaction_id"`
	SubMchID      string          `json:"sub_mch_id"`
	SubAppID      string          `json:"sub_appid"`
	Status        string          `json:"status"`
	RefundFee     int64           `json:"refund_fee"`
	TotalFee      int64           `json:"total_fee"`
	Reason        string          `json:"reason,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	SuccessTime   time.Time       `json:"success_time,omitzero"`
	ClosedAt      time.Time       `json:"closed_at,omitzero"`
	SettledAt     time.Time       `json:"settled_at,omitzero"`
	Requests      int             `json:"requests"`
	EnvID         string          `json:"env_id,omitempty"`
	CallbackType  int64           `json:"callback_type,omitempty"`
	Container     Container       `json:"container,omitzero"`
	FunctionName  string          `json:"function_name,omitempty"`
	NotifyURL     string          `json:"notify_url,omitempty"`
	FundsAccount  string          `json:"funds_account,omitempty"`
	Acked         map[string]bool `json:"acked,omitempty"`
	Attempted     map[string]bool `json:"attempted,omitempty"`

	// The coupon's part of a refund of a coupon payment; absent in files written before coupons.
	CouponRefundFee int64 `json:"coupon_refund_fee,omitempty"`
}

func (r *refund) record() refundRecord {
	return refundRecord{
		Seq: r.seq, OutRefundNo: r.outRefundNo, Channel: r.channel, Source: r.source, RefundID: r.refundID,
		OutTradeNo: r.outTradeNo, TransactionID: r.transactionID, SubMchID: r.subMchID, SubAppID: r.subAppID,
		Status: r.status, RefundFee: r.refundFee, TotalFee: r.totalFee, Reason: r.reason,
		CreatedAt: r.createdAt, SuccessTime: r.successTime, ClosedAt: r.closedAt, SettledAt: r.settledAt,
		Requests: r.requests, EnvID: r.envID, CallbackType: r.callbackType, Container: r.container,
		FunctionName: r.functionName, NotifyURL: r.notifyURL, FundsAccount: r.fundsAccount,
		Acked: maps.Clone(r.acked), Attempted: maps.Clone(r.attempted), CouponRefundFee: r.couponRefundFee,
	}
}

func (r refundRecord) refund() *refund {
	acked, attempted := maps.Clone(r.Acked), maps.Clone(r.Attempted)
	if acked == nil {
		acked = map[string]bool{}
	}
	if attempted == nil {
		attempted = map[string]bool{}
	}
	return &refund{
		seq: r.Seq, outRefundNo: r.OutRefundNo, channel: r.Channel, source: r.Source, refundID: r.RefundID,
		outTradeNo: r.OutTradeNo, transactionID: r.TransactionID, subMchID: r.SubMchID, subAppID: r.SubAppID,
		status: r.Status, refundFee: r.RefundFee, totalFee: r.TotalFee, reason: r.Reason,
		createdAt: r.CreatedAt, successTime: r.SuccessTime, closedAt: r.ClosedAt, settledAt: r.SettledAt,
		requests: r.Requests, envID: r.EnvID, callbackType: r.CallbackType, container: r.Container,
		functionName: r.FunctionName, notifyURL: r.NotifyURL, fundsAccount: r.FundsAccount, acked: acked,
		attempted: attempted, couponRefundFee: r.CouponRefundFee,
	}
}

type transferRecord struct {
	Seq            int          `json:"seq"`
	OutBillNo      string       `json:"out_bill_no"`
	TransferBillNo string       `json:"transfer_bill_no"`
	AppID          string       `json:"appid"`
	OpenID         string       `json:"openid"`
	SceneID        string       `json:"transfer_scene_id"`
	UserName       string       `json:"user_name,omitempty"` // decrypted
	Amount         int64        `json:"transfer_amount"`
	Remark         string       `json:"transfer_remark"`
	NotifyURL      string       `json:"notify_url,omitempty"`
	Perception     string       `json:"user_recv_perception,omitempty"`
	ReportInfos    []reportInfo `json:"transfer_scene_report_infos,omitempty"`
	State          string       `json:"state"`
	FailReason     string       `json:"fail_reason,omitempty"`
	PackageInfo    string       `json:"package_info,omitempty"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	FinishedAt     time.Time    `json:"finished_at,omitzero"`
	Requests       int          `json:"requests"`
	Acked          bool         `json:"acked,omitempty"`
	Attempted      bool         `json:"attempted,omitempty"`
}

func (t *transfer) record() transferRecord {
	return transferRecord{
		Seq: t.seq, OutBillNo: t.outBillNo, TransferBillNo: t.transferBillNo, AppID: t.appID, OpenID: t.openID,
		SceneID: t.sceneID, UserName: t.userName, Amount: t.amount, Remark: t.remark, NotifyURL: t.notifyURL,
		Perception: t.perception, ReportInfos: slices.Clone(t.reportInfos), State: t.state,
		FailReason: t.failReason, PackageInfo: t.packageInfo, CreatedAt: t.createdAt, UpdatedAt: t.updatedAt,
		FinishedAt: t.finishedAt, Requests: t.requests, Acked: t.acked, Attempted: t.attempted,
	}
}

func (r transferRecord) transfer() *transfer {
	return &transfer{
		seq: r.Seq, outBillNo: r.OutBillNo, transferBillNo: r.TransferBillNo, appID: r.AppID, openID: r.OpenID,
		sceneID: r.SceneID, userName: r.UserName, amount: r.Amount, remark: r.Remark, notifyURL: r.NotifyURL,
		perception: r.Perception, reportInfos: r.ReportInfos, state: r.State, failReason: r.FailReason,
		packageInfo: r.PackageInfo, createdAt: r.CreatedAt, updatedAt: r.UpdatedAt, finishedAt: r.FinishedAt,
		requests: r.Requests, acked: r.Acked, attempted: r.Attempted,
	}
}
