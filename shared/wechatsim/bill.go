package wechatsim

// Daily bills (docs/bills.md has the facts and their sources).
//
// API v3: GET /v3/bill/tradebill?bill_date=yyyy-MM-dd&bill_type=ALL|SUCCESS|REFUND&tar_type=GZIP
// and GET /v3/bill/fundflowbill?bill_date=…&account_type=BASIC&tar_type=GZIP answer, signed
// like every v3 answer, {"hash_type":"SHA1","hash_value","download_url"}; download_url is
// https://api.mch.weixin.qq.com/v3/billdownload/file?token=… as WeChat's is, so a client
// reaches it the way it reaches every other call (the channel's host-rewriting transport
// sends it to the simulator, under whatever prefix the simulator is mounted). That route
// wants a v3-signed GET, answers the file unsigned (WeChat does not sign it either),
// gzip-compressed when tar_type=GZIP, and hash_value is the SHA1 of the uncompressed file
// (原始账单（gzip需要解压缩）的摘要值). The link lives 5 minutes by Config.Now.
//
// Cloud Hosting: POST /_/pay/downloadbill {"bill_date":"yyyyMMdd","bill_type","sub_mch_id"?}
// answers the ALL/SUCCESS/REFUND trade bill itself as the respdata string; a refusal is a
// respdata object {"return_code":"FAIL","return_msg","error_code"?}: "No Bill Exist"
// (error_code 20002), "Bill Creating", "invalid bill_type", "data format error". There is
// no fund-flow bill and no hash on this channel; tar_type is ignored (a JSON string cannot
// carry gzip).
//
// A day's bill is made of the simulator's own orders and refunds of that Beijing day, as
// they stood at 09:00 the next day, when WeChat starts making it (a snapshot: later changes
// do not show), and is served from 10:00 the next day by Config.Now; before that the answer
// is STATEMENT_CREATING (v3) or "Bill Creating". A day with no row is NO_STATEMENT_EXIST
// (v3) or "No Bill Exist". A date after today or more than three months back is
// INVALID_REQUEST (v3) or "data format error".
//
// Trade bill rows: each paid order whose payment succeeded that day (交易状态 SUCCESS, at
// its time_end), each refund accepted that day (交易状态 REFUND, at its creation, with its
// status at the snapshot: SUCCESS, PROCESSING, REFUNDCLOSE or CHANGE). The fee is 0.60%
// of the amount rounded half up to the fen, printed with five decimals (WeChat rounds
// fees to the fen and pads three zeros); a refund row gives back 0.60% of the refund the
// same way, as a negative fee. An API v3 bill holds the orders of Config.MchID (商户号 the
// merchant, 特约商户号 0); a Cloud Hosting bill those of the sub_mch_id asked for, or every
// Cloud Hosting order without one (商户号 the service provider SPMchID, 特约商户号 the
// sub-merchant).
//
// Fund-flow bill (API v3, the basic account of Config.MchID): from the same rows of every
// day up to the bill's, a payment is 交易/交易 income and 交易/扣除交易手续费 expense of its
// fee, a refund 退款/退款 expense and 退款/退还交易手续费 income of the fee given back; the
// balance runs over all of them from an empty account. OPERATION and FEES accounts have no
// bill (NO_STATEMENT_EXIST).
//
// Plants make WeChat's bills disagree with what the merchant stored, for reconciliation
// tests: see BillPlant. They are test tooling, like faults: kept in memory only.
//
// Faults: api downloadbill (the v3 trade bill and the Cloud Hosting downloadbill),
// fundflowbill, and billfile (the v3 file download), with modes fail, timeout and delay;
// downloadbill and fundflowbill also take mode corrupt: on v3 the hash_value answered is
// not the file's; on Cloud Hosting the bill text loses its last line.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// API names of the bills, as used in the call log and in faults.
const (
	apiDownloadBill = "downloadbill" // POST /_/pay/downloadbill; also GET /v3/bill/tradebill
	apiFundFlowBill = "fundflowbill" // GET /v3/bill/fundflowbill
	apiBillFile     = "billfile"     // GET /v3/billdownload/file
)

// ModeCorrupt is the fault mode of downloadbill and fundflowbill: on API v3 the
// hash_value answered is not the SHA1 of the file served; on Cloud Hosting the bill
// text is cut before its last line.
const ModeCorrupt = "corrupt"

// Plant kinds (BillPlant.Kind).
const (
	PlantExtraPayment   = "extra_payment"   // a payment row the merchant never saw: out_trade_no, amount_fen
	PlantMissingPayment = "missing_payment" // the payment row of out_trade_no is left out
	PlantAmount         = "amount"          // the row of out_trade_no (payment) or out_refund_no (refund) shows amount_fen
	PlantStatus         = "status"          // that row shows status: 交易状态 of a payment, 退款状态 of a refund
	PlantExtraRefund    = "extra_refund"    // a refund row the merchant never saw: out_trade_no, out_refund_no, amount_fen
	PlantMissingRefund  = "missing_refund"  // the refund row of out_refund_no is left out
)

const (
	billFeeRate      = "0.60%"
	billFeePerMille  = 6 // 0.60%
	billDownloadTTL  = 5 * time.Minute
	billRetention    = 3 // months
	billDownloadURL  = "https://api.mch.weixin.qq.com/v3/billdownload/file"
	billSnapshotHour = 9  // WeChat starts making a day's bills at 09:00 the next day
	billReadyHour    = 10 // and serves them from 10:00
	billDateLayout   = "2006-01-02"
	chBillDateLayout = "20060102"
	chNoBill         = "No Bill Exist"
)

// respdataText is the key of a respdata that writeEnvelope writes as the string it
// holds, not as an object: downloadbill answers the bill itself.
const respdataText = "\x00text"

// BillPlant makes the bills of one Beijing day disagree with the simulator's orders and
// refunds (POST /bills/plant). Plants apply, in the order they were made, to every trade
// bill of Date (either channel) and, through it, to the fund-flow bill.
//
//   - extra_payment {out_trade_no, amount_fen}: a SUCCESS row at 12:00 with a new
//     transaction_id (and the order's appid, openid, body and attach if the simulator
//     has that order);
//   - missing_payment {out_trade_no}: the payment row is left out;
//   - amount {out_trade_no | out_refund_no, amount_fen}: the payment row's 应结订单金额
//     and 订单金额, or the refund row's 退款金额 and 申请退款金额, and the fee with them;
//   - status {out_trade_no | out_refund_no, status}: the payment row's 交易状态 (e.g.
//     REVOKED) or the refund row's 退款状态 (e.g. PROCESSING, REFUNDCLOSE, CHANGE);
//   - extra_refund {out_trade_no, out_refund_no, amount_fen}: a SUCCESS refund row at
//     12:00 with a new refund_id;
//   - missing_refund {out_refund_no}: the refund row is left out.
//
// A plant naming a row the day's bill does not have is a 404 (BILL_ROW_NOT_FOUND); one
// adding a row the day already has is a 409 (BILL_ROW_EXISTS).
type BillPlant struct {
	Date        string `json:"date"` // yyyy-MM-dd, Beijing
	Kind        string `json:"kind"`
	OutTradeNo  string `json:"out_trade_no,omitempty"`
	OutRefundNo string `json:"out_refund_no,omitempty"`
	AmountFen   int64  `json:"amount_fen,omitempty"`
	Status      string `json:"status,omitempty"`
	// Set by the simulator on extra rows.
	TransactionID string `json:"transaction_id,omitempty"`
	RefundID      string `json:"refund_id,omitempty"`
}

// billState is the simulator's bill tooling, guarded by Simulator.mu.
type billState struct {
	plants []BillPlant
	files  map[string]billFile // by download token
}

type billFile struct {
	data    []byte // as served
	gzip    bool
	expires time.Time // by Config.Now
}

// billAPIRoutes registers the bill APIs.
func (s *Simulator) billAPIRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_/pay/downloadbill", s.openAPI(apiDownloadBill, s.chDownloadBill))
	mux.HandleFunc("GET /v3/bill/tradebill", s.v3API(apiDownloadBill, s.v3TradeBill))
	mux.HandleFunc("GET /v3/bill/fundflowbill", s.v3API(apiFundFlowBill, s.v3FundFlowBill))
	mux.HandleFunc("GET /v3/billdownload/file", s.billFile)
}

// billControlRoutes registers the bills' control routes (seen without ControlPrefix).
func (s *Simulator) billControlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /bills/plant", s.handlePlantBill)
	mux.HandleFunc("GET /bills/plants", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"plants": s.BillPlants()})
	})
	mux.HandleFunc("DELETE /bills/plants", func(w http.ResponseWriter, r *http.Request) {
		s.ClearBillPlants()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /bills/{date}", s.handleViewBill)
}

// PlantBill records a plant (see BillPlant) and returns it as recorded.
func (s *Simulator) PlantBill(p BillPlant) (BillPlant, error) {
	day, err := time.ParseInLocation(billDateLayout, p.Date, s.loc)
	if err != nil || day.Format(billDateLayout) != p.Date {
		return p, badField("date", "date must be yyyy-MM-dd")
	}
	need := func(field string, ok bool) error {
		if !ok {
			return badField(field, field+" is required for kind "+p.Kind)
		}
		return nil
	}
	one := func() error {
		if (p.OutTradeNo == "") == (p.OutRefundNo == "") {
			return badField("out_trade_no", "give exactly one of out_trade_no (a payment row) and out_refund_no (a refund row)")
		}
		return nil
	}
	var errs []error
	switch p.Kind {
	case PlantExtraPayment:
		errs = []error{need("out_trade_no", p.OutTradeNo != ""), need("amount_fen", p.AmountFen > 0)}
	case PlantMissingPayment:
		errs = []error{need("out_trade_no", p.OutTradeNo != "")}
	case PlantAmount:
		errs = []error{one(), need("amount_fen", p.AmountFen > 0)}
	case PlantStatus:
		errs = []error{one(), need("status", p.Status != "")}
	case PlantExtraRefund:
		errs = []error{need("out_trade_no", p.OutTradeNo != ""), need("out_refund_no", p.OutRefundNo != ""),
			need("amount_fen", p.AmountFen > 0)}
	case PlantMissingRefund:
		errs = []error{need("out_refund_no", p.OutRefundNo != "")}
	default:
		return p, badField("kind", fmt.Sprintf("kind %q is not one of %s, %s, %s, %s, %s, %s", p.Kind, PlantExtraPayment,
			PlantMissingPayment, PlantAmount, PlantStatus, PlantExtraRefund, PlantMissingRefund))
	}
	for _, err := range errs {
		if err != nil {
			return p, err
		}
	}
	if p.AmountFen > maxBillFen {
		return p, badField("amount_fen", "amount_fen is too large")
	}
	if strings.ContainsAny(p.OutTradeNo+p.OutRefundNo+p.Status, ",`\r\n") {
		return p, badField("out_trade_no", "numbers and status must not hold a comma, a backtick or a line break")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// The row may be on either channel's bill.
	rows := append(s.dayRowsLocked(day, s.v3Merchant()), s.dayRowsLocked(day, s.chMerchant(""))...)
	payment := slices.IndexFunc(rows, func(r bill.TradeRow) bool { return !isRefundRow(r) && r.OutTradeNo == p.OutTradeNo })
	refundRow := slices.IndexFunc(rows, func(r bill.TradeRow) bool { return isRefundRow(r) && r.OutRefundNo == p.OutRefundNo })
	noRow := func(what, no string) error {
		return &Error{Status: http.StatusNotFound, Code: "BILL_ROW_NOT_FOUND",
			Message: fmt.Sprintf("the bill of %s has no %s row for %s", p.Date, what, no)}
	}
	rowExists := func(what, no string) error {
		return &Error{Status: http.StatusConflict, Code: "BILL_ROW_EXISTS",
			Message: fmt.Sprintf("the bill of %s already has a %s row for %s", p.Date, what, no)}
	}
	switch {
	case p.Kind == PlantExtraPayment && payment >= 0:
		return p, rowExists("payment", p.OutTradeNo)
	case p.Kind == PlantExtraRefund && refundRow >= 0:
		return p, rowExists("refund", p.OutRefundNo)
	case p.OutRefundNo != "" && p.Kind != PlantExtraRefund && refundRow < 0:
		return p, noRow("refund", p.OutRefundNo)
	case p.OutTradeNo != "" && p.OutRefundNo == "" && p.Kind != PlantExtraPayment && payment < 0:
		return p, noRow("payment", p.OutTradeNo)
	}
	noon := day.Add(12 * time.Hour)
	switch p.Kind {
	case PlantExtraPayment:
		p.TransactionID = s.newTransactionIDLocked(noon)
	case PlantExtraRefund:
		p.RefundID = s.newRefundIDLocked(noon)
	}
	s.bills.plants = append(s.bills.plants, p)
	return p, nil
}

// maxBillFen bounds a planted amount: 10,000,000 CNY.
const maxBillFen = 1_000_000_000

// BillPlants lists the plants in the order they were made.
func (s *Simulator) BillPlants() []BillPlant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]BillPlant{}, s.bills.plants...)
}

// ClearBillPlants removes every plant.
func (s *Simulator) ClearBillPlants() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bills.plants = nil
}

func (s *Simulator) handlePlantBill(w http.ResponseWriter, r *http.Request) {
	var p BillPlant
	if err := decodeControl(w, r, &p); err != nil {
		writeError(w, err)
		return
	}
	if p.TransactionID != "" || p.RefundID != "" {
		writeError(w, badField("transaction_id", "transaction_id and refund_id are set by the simulator"))
		return
	}
	p, err := s.PlantBill(p)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

// handleViewBill is GET /bills/{date}?kind=trade|fundflow&bill_type=&sub_mch_id=: the
// bill as it would be served, whatever the hour (text/plain), or a 404 NO_STATEMENT.
func (s *Simulator) handleViewBill(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	day, err := time.ParseInLocation(billDateLayout, r.PathValue("date"), s.loc)
	if err != nil {
		writeError(w, badField("date", "date must be yyyy-MM-dd"))
		return
	}
	var data []byte
	switch kind := q.Get("kind"); kind {
	case "", "trade":
		typ := bill.TradeBillType(q.Get("bill_type"))
		if typ == "" {
			typ = bill.All
		}
		if !validTradeBillType(typ) {
			writeError(w, badField("bill_type", "bill_type must be ALL, SUCCESS or REFUND"))
			return
		}
		m := s.v3Merchant()
		if sub := q.Get("sub_mch_id"); sub != "" || q.Get("channel") == ChannelCloudHosting {
			m = s.chMerchant(sub)
		}
		data = s.tradeBill(day, typ, m)
	case "fundflow":
		data = s.fundFlowBill(day)
	default:
		writeError(w, badField("kind", "kind must be trade or fundflow"))
		return
	}
	if data == nil {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "NO_STATEMENT", Message: "no bill for " + day.Format(billDateLayout)})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(data)
}

// billMerchant is whose orders a bill holds and how it names the merchant.
type billMerchant struct {
	match           func(o *order) bool
	mchID, subMchID func(o *order) string
}

// v3Merchant is the API v3 merchant, Config.MchID, a direct merchant.
func (s *Simulator) v3Merchant() billMerchant {
	id := s.cfg.MchID
	return billMerchant{
		match:    func(o *order) bool { return o.subMchID == id },
		mchID:    func(*order) string { return id },
		subMchID: func(*order) string { return "0" },
	}
}

// chMerchant is a Cloud Hosting sub-merchant (every Cloud Hosting order if sub is "").
func (s *Simulator) chMerchant(sub string) billMerchant {
	return billMerchant{
		match: func(o *order) bool {
			if sub == "" {
				return o.channel == ChannelCloudHosting
			}
			return o.subMchID == sub
		},
		mchID: func(*order) string { return SPMchID },
		subMchID: func(o *order) string {
			if o == nil {
				if sub != "" {
					return sub
				}
				return s.cfg.SubMchID
			}
			return o.subMchID
		},
	}
}

func validTradeBillType(t bill.TradeBillType) bool {
	return t == bill.All || t == bill.Success || t == bill.Refund
}

func isRefundRow(r bill.TradeRow) bool { return r.TradeState == stateRefund }

// billFee is the fee of amount fen: 0.60%, rounded half up to the fen.
func billFee(amount int64) bill.Fee {
	return bill.Fee((amount*billFeePerMille + 500) / 1000 * bill.FeeUnitsPerFen)
}

// dayRowsLocked is the day's trade rows (every type's columns filled) of merchant m,
// as they stood at the snapshot, with the plants applied, in time order.
func (s *Simulator) dayRowsLocked(day time.Time, m billMerchant) []bill.TradeRow {
	start, end := day, day.AddDate(0, 0, 1)
	snapshot := end.Add(billSnapshotHour * time.Hour)
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(start) && t.Before(end) }
	var rows []bill.TradeRow
	for _, o := range s.orders {
		if !m.match(o) {
			continue
		}
		if o.paid() && in(o.timeEnd) {
			rows = append(rows, s.paymentRow(o, m))
		}
		for _, r := range o.refunds {
			if in(r.createdAt) {
				rows = append(rows, s.refundRow(o, r, m, snapshot))
			}
		}
	}
	date := day.Format(billDateLayout)
	for _, p := range s.bills.plants {
		if p.Date == date {
			rows = s.applyPlantLocked(rows, p, day, m)
		}
	}
	slices.SortStableFunc(rows, func(a, b bill.TradeRow) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if ra, rb := isRefundRow(a), isRefundRow(b); ra != rb {
			if ra {
				return 1
			}
			return -1
		}
		return strings.Compare(a.OutTradeNo+a.OutRefundNo, b.OutTradeNo+b.OutRefundNo)
	})
	return rows
}

func (s *Simulator) paymentRow(o *order, m billMerchant) bill.TradeRow {
	return bill.TradeRow{
		Time: o.timeEnd.In(s.loc), AppID: o.subAppID, MchID: m.mchID(o), SubMchID: m.subMchID(o),
		TransactionID: o.transactionID, OutTradeNo: o.outTradeNo, OpenID: o.openID, TradeType: o.tradeType,
		TradeState: stateSuccess, BankType: "OTHERS", Currency: "CNY", SettlementFen: cloudpay.Fen(o.totalFee),
		Body: o.body, Attach: o.attach, Fee: billFee(o.totalFee), Rate: billFeeRate, TotalFen: cloudpay.Fen(o.totalFee),
	}
}

// refundRow is a refund as the bill shows it: its status at the snapshot.
func (s *Simulator) refundRow(o *order, r *refund, m billMerchant, snapshot time.Time) bill.TradeRow {
	status := RefundProcessing
	var succeeded time.Time
	switch {
	case r.status == RefundSuccess && !r.successTime.IsZero() && !r.successTime.After(snapshot):
		status, succeeded = "SUCCESS", r.successTime.In(s.loc)
	case r.status == RefundClosed && !r.closedAt.IsZero() && !r.closedAt.After(snapshot):
		status = "REFUNDCLOSE"
	case r.status == RefundAbnormal && !r.settledAt.IsZero() && !r.settledAt.After(snapshot):
		status = "CHANGE"
	}
	return bill.TradeRow{
		Time: r.createdAt.In(s.loc), AppID: o.subAppID, MchID: m.mchID(o), SubMchID: m.subMchID(o),
		TransactionID: o.transactionID, OutTradeNo: o.outTradeNo, OpenID: o.openID, TradeType: o.tradeType,
		TradeState: stateRefund, BankType: "OTHERS", Currency: "CNY",
		RefundRequestedAt: r.createdAt.In(s.loc), RefundSucceededAt: succeeded,
		RefundID: r.refundID, OutRefundNo: r.outRefundNo, RefundFen: cloudpay.Fen(r.refundFee), RefundType: "ORIGINAL",
		RefundStatus: status, Body: o.body, Attach: o.attach, Fee: -billFee(r.refundFee), Rate: billFeeRate,
		RefundRequestFen: cloudpay.Fen(r.refundFee),
	}
}

// applyPlantLocked applies one plant to a day's rows.
func (s *Simulator) applyPlantLocked(rows []bill.TradeRow, p BillPlant, day time.Time, m billMerchant) []bill.TradeRow {
	noon := day.Add(12 * time.Hour)
	find := func() int {
		return slices.IndexFunc(rows, func(r bill.TradeRow) bool {
			if p.OutRefundNo != "" {
				return isRefundRow(r) && r.OutRefundNo == p.OutRefundNo
			}
			return !isRefundRow(r) && r.OutTradeNo == p.OutTradeNo
		})
	}
	o := s.orders[p.OutTradeNo]
	if o != nil && !m.match(o) {
		o = nil
	}
	switch p.Kind {
	case PlantExtraPayment:
		r := bill.TradeRow{
			Time: noon, AppID: s.cfg.AppID, MchID: m.mchID(nil), SubMchID: m.subMchID(nil),
			TransactionID: p.TransactionID, OutTradeNo: p.OutTradeNo, OpenID: "oPlanted0000000000000000000",
			TradeType: "JSAPI", TradeState: stateSuccess, BankType: "OTHERS", Currency: "CNY",
			SettlementFen: cloudpay.Fen(p.AmountFen), Body: "planted payment", Fee: billFee(p.AmountFen),
			Rate: billFeeRate, TotalFen: cloudpay.Fen(p.AmountFen),
		}
		if o != nil {
			r.AppID, r.OpenID, r.Body, r.Attach, r.SubMchID = o.subAppID, o.openID, o.body, o.attach, m.subMchID(o)
		}
		if find() < 0 {
			rows = append(rows, r)
		}
	case PlantExtraRefund:
		r := bill.TradeRow{
			Time: noon, AppID: s.cfg.AppID, MchID: m.mchID(nil), SubMchID: m.subMchID(nil), OutTradeNo: p.OutTradeNo,
			OpenID: "oPlanted0000000000000000000", TradeType: "JSAPI", TradeState: stateRefund, BankType: "OTHERS",
			Currency: "CNY", RefundRequestedAt: noon, RefundSucceededAt: noon, RefundID: p.RefundID,
			OutRefundNo: p.OutRefundNo, RefundFen: cloudpay.Fen(p.AmountFen), RefundType: "ORIGINAL", RefundStatus: "SUCCESS",
			Body: "planted refund", Fee: -billFee(p.AmountFen), Rate: billFeeRate, RefundRequestFen: cloudpay.Fen(p.AmountFen),
		}
		if o != nil {
			r.AppID, r.OpenID, r.Body, r.Attach, r.SubMchID = o.subAppID, o.openID, o.body, o.attach, m.subMchID(o)
			r.TransactionID = o.transactionID
		}
		if find() < 0 {
			rows = append(rows, r)
		}
	case PlantMissingPayment, PlantMissingRefund:
		if i := find(); i >= 0 {
			rows = slices.Delete(rows, i, i+1)
		}
	case PlantAmount:
		if i := find(); i >= 0 {
			r := &rows[i]
			if isRefundRow(*r) {
				r.RefundFen, r.RefundRequestFen, r.Fee = cloudpay.Fen(p.AmountFen), cloudpay.Fen(p.AmountFen), -billFee(p.AmountFen)
			} else {
				r.SettlementFen, r.TotalFen, r.Fee = cloudpay.Fen(p.AmountFen), cloudpay.Fen(p.AmountFen), billFee(p.AmountFen)
			}
		}
	case PlantStatus:
		if i := find(); i >= 0 {
			if isRefundRow(rows[i]) {
				rows[i].RefundStatus = p.Status
			} else {
				rows[i].TradeState = p.Status
			}
		}
	}
	return rows
}

// tradeBill is the day's trade bill of type typ for m, nil when it has no row.
func (s *Simulator) tradeBill(day time.Time, typ bill.TradeBillType, m billMerchant) []byte {
	s.mu.Lock()
	rows := s.dayRowsLocked(day, m)
	s.mu.Unlock()
	var keep []bill.TradeRow
	for _, r := range rows {
		switch {
		case typ == bill.Success && isRefundRow(r), typ == bill.Refund && !isRefundRow(r):
			continue
		}
		keep = append(keep, r)
	}
	if len(keep) == 0 {
		return nil
	}
	return bill.FormatTrade(bill.NewTrade(typ, keep))
}

// fundFlowBill is the day's fund-flow bill of the v3 merchant's basic account, nil when
// it has no row.
func (s *Simulator) fundFlowBill(day time.Time) []byte {
	m := s.v3Merchant()
	s.mu.Lock()
	// Every day that has a row, up to and including day: the balance runs over them all.
	days := map[string]time.Time{}
	for _, o := range s.orders {
		if !m.match(o) {
			continue
		}
		if o.paid() {
			d := s.beijingDay(o.timeEnd)
			days[d.Format(billDateLayout)] = d
		}
		for _, r := range o.refunds {
			d := s.beijingDay(r.createdAt)
			days[d.Format(billDateLayout)] = d
		}
	}
	for _, p := range s.bills.plants {
		if d, err := time.ParseInLocation(billDateLayout, p.Date, s.loc); err == nil {
			days[p.Date] = d
		}
	}
	var all []bill.TradeRow
	for _, d := range days {
		if !d.After(day) {
			all = append(all, s.dayRowsLocked(d, m)...)
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(all, func(a, b bill.TradeRow) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.OutTradeNo+a.OutRefundNo, b.OutTradeNo+b.OutRefundNo)
	})

	var balance int64
	var out []bill.FundFlowRow
	move := func(r bill.TradeRow, businessNo, voucherNo, bizName, bizType string, dir bill.Direction, amount int64, applicant, remark string) {
		if dir == bill.Income {
			balance += amount
		} else {
			balance -= amount
		}
		if s.beijingDay(r.Time).Equal(day) {
			out = append(out, bill.FundFlowRow{
				Time: r.Time, BusinessNo: businessNo, FlowNo: flowNo(s.cfg.MchID, bizType, businessNo),
				BizName: bizName, BizType: bizType, Direction: dir, AmountFen: cloudpay.Fen(amount),
				BalanceFen: cloudpay.Fen(balance), Applicant: applicant, Remark: remark, VoucherNo: voucherNo,
			})
		}
	}
	for _, r := range all {
		fee, _ := r.Fee.Fen()
		if isRefundRow(r) {
			back := int64(-fee)
			move(r, r.RefundID, r.OutRefundNo, "退款", "退款", bill.Expense, int64(r.RefundFen), s.cfg.MchID+"API",
				fmt.Sprintf("退款总金额%s元;含手续费%s元", r.RefundFen, cloudpay.Fen(back)))
			if back > 0 {
				move(r, r.RefundID, r.OutRefundNo, "退款", "退还交易手续费", bill.Income, back, "system", "")
			}
			continue
		}
		move(r, r.TransactionID, r.OutTradeNo, "交易", "交易", bill.Income, int64(r.SettlementFen), "system", "")
		if fee > 0 {
			move(r, r.TransactionID, r.OutTradeNo, "交易", "扣除交易手续费", bill.Expense, int64(fee), "system", "")
		}
	}
	if len(out) == 0 {
		return nil
	}
	return bill.FormatFundFlow(bill.NewFundFlow(out))
}

// flowNo is a movement's 资金流水单号: the merchant and 18 digits derived from what moved.
func flowNo(mchID, bizType, businessNo string) string {
	sum := sha1.Sum([]byte(bizType + "/" + businessNo))
	var b strings.Builder
	b.WriteString(mchID)
	for _, c := range sum[:18] {
		b.WriteByte('0' + c%10)
	}
	return b.String()
}

func (s *Simulator) beijingDay(t time.Time) time.Time {
	y, mo, d := t.In(s.loc).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, s.loc)
}

// billDay checks a bill date against the clock: "" if the bill can be served,
// "creating" before 10:00 the next day, "invalid" for a future date or one more
// than three months back.
func (s *Simulator) billDay(day time.Time) string {
	now := s.now()
	today := s.beijingDay(now)
	switch {
	case day.After(today), day.Before(today.AddDate(0, -billRetention, 0)):
		return "invalid"
	case now.Before(day.AddDate(0, 0, 1).Add(billReadyHour * time.Hour)):
		return "creating"
	}
	return ""
}

// parseBillDate reads yyyy-MM-dd (v3) or yyyyMMdd (Cloud Hosting) strictly.
func (s *Simulator) parseBillDate(v, layout string) (time.Time, bool) {
	d, err := time.ParseInLocation(layout, v, s.loc)
	return d, err == nil && d.Format(layout) == v
}

// v3TradeBill is GET /v3/bill/tradebill.
func (s *Simulator) v3TradeBill(r *http.Request, _ []byte) (v3Reply, func()) {
	q := r.URL.Query()
	typ := bill.TradeBillType(q.Get("bill_type"))
	if typ == "" {
		typ = bill.All
	}
	if !validTradeBillType(typ) {
		return v3Err(http.StatusBadRequest, "PARAM_ERROR",
			fmt.Sprintf("bill_type %q: the simulator has ALL, SUCCESS and REFUND bills", typ)).reply(), nil
	}
	day, e := s.v3BillRequest(q)
	if e != nil {
		return e.reply(), nil
	}
	return s.v3ServeBill(apiDownloadBill, s.tradeBill(day, typ, s.v3Merchant()), q.Get("tar_type") == "GZIP"), nil
}

// v3FundFlowBill is GET /v3/bill/fundflowbill.
func (s *Simulator) v3FundFlowBill(r *http.Request, _ []byte) (v3Reply, func()) {
	q := r.URL.Query()
	account := q.Get("account_type")
	switch account {
	case "", "BASIC", "OPERATION", "FEES":
	default:
		return v3Err(http.StatusBadRequest, "PARAM_ERROR", fmt.Sprintf("account_type %q is not BASIC, OPERATION or FEES", account)).reply(), nil
	}
	day, e := s.v3BillRequest(q)
	if e != nil {
		return e.reply(), nil
	}
	var data []byte
	if account == "" || account == "BASIC" {
		data = s.fundFlowBill(day)
	}
	return s.v3ServeBill(apiFundFlowBill, data, q.Get("tar_type") == "GZIP"), nil
}

// v3BillRequest checks the query every bill request shares: bill_date and tar_type,
// and the clock.
func (s *Simulator) v3BillRequest(q map[string][]string) (time.Time, *v3Error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if t := get("tar_type"); t != "" && t != "GZIP" {
		return time.Time{}, v3Err(http.StatusBadRequest, "PARAM_ERROR", fmt.Sprintf("tar_type %q is not GZIP", t))
	}
	raw := get("bill_date")
	if raw == "" {
		return time.Time{}, v3Err(http.StatusBadRequest, "PARAM_ERROR", "missing bill_date")
	}
	day, ok := s.parseBillDate(raw, billDateLayout)
	if !ok {
		return time.Time{}, v3Err(http.StatusBadRequest, "PARAM_ERROR", "bill_date must be yyyy-MM-dd")
	}
	switch s.billDay(day) {
	case "invalid":
		return day, v3Err(http.StatusBadRequest, "INVALID_REQUEST", "参数错误: bill_date "+raw+" is in the future or more than three months back")
	case "creating":
		return day, v3Err(http.StatusBadRequest, "STATEMENT_CREATING", "账单生成中")
	}
	return day, nil
}

// v3ServeBill answers a bill request: NO_STATEMENT_EXIST for no bill, else the hash and
// a download link to the file (gzip-compressed if asked).
func (s *Simulator) v3ServeBill(api string, data []byte, gz bool) v3Reply {
	if data == nil {
		return v3Err(http.StatusBadRequest, "NO_STATEMENT_EXIST", "请求的账单文件不存在").reply()
	}
	sum := sha1.Sum(data)
	hash := hex.EncodeToString(sum[:])
	if s.consumeFault(api, ModeCorrupt) != nil {
		other := sha1.Sum(append(slices.Clone(data), '\n'))
		hash = hex.EncodeToString(other[:])
	}
	served := data
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(data)
		_ = zw.Close()
		served = b.Bytes()
	}
	token := randString(alnum, 48)
	url := billDownloadURL + "?token=" + token
	if gz {
		url += "&tartype=gzip"
	}
	now := s.now()
	s.mu.Lock()
	if s.bills.files == nil {
		s.bills.files = map[string]billFile{}
	}
	for k, f := range s.bills.files {
		if !now.Before(f.expires) {
			delete(s.bills.files, k)
		}
	}
	s.bills.files[token] = billFile{data: served, gzip: gz, expires: now.Add(billDownloadTTL)}
	s.mu.Unlock()
	return v3OK(map[string]string{"hash_type": "SHA1", "hash_value": hash, "download_url": url})
}

// billFile is GET /v3/billdownload/file?token=: a v3-signed GET, answered with the file
// itself and no signature (as WeChat answers it).
func (s *Simulator) billFile(w http.ResponseWriter, r *http.Request) {
	s.logCall(apiBillFile, r.URL.RequestURI(), nil)
	if e := s.verifyV3Request(r, nil); e != nil {
		s.writeV3(w, e.reply())
		return
	}
	f := s.consumeFault(apiBillFile, ModeFail, ModeTimeout, ModeDelay)
	if f != nil {
		switch f.Mode {
		case ModeDelay:
			sleep(s.ctx, time.Duration(f.DelayMS)*time.Millisecond)
		case ModeFail:
			s.writeV3(w, v3FaultError(f.Code).reply())
			return
		case ModeTimeout:
			hold := 60 * time.Second
			if f.DelayMS > 0 {
				hold = time.Duration(f.DelayMS) * time.Millisecond
			}
			t := time.NewTimer(hold)
			defer t.Stop()
			select {
			case <-r.Context().Done():
				return
			case <-s.ctx.Done():
			case <-t.C:
			}
		}
	}
	now := s.now()
	s.mu.Lock()
	file, ok := s.bills.files[r.URL.Query().Get("token")]
	s.mu.Unlock()
	if !ok || !now.Before(file.expires) {
		s.writeV3(w, v3Err(http.StatusBadRequest, "INVALID_REQUEST",
			"参数错误: 请按第一步申请账单的API指引，重新获取账单地址后再请求 (unknown or expired token)").reply())
		return
	}
	h := w.Header()
	h.Set("Request-ID", randString(hexLow, 32))
	if file.gzip {
		h.Set("Content-Type", "application/x-gzip")
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(file.data)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, bytes.NewReader(file.data))
}

// chBillFail is a refused Cloud Hosting downloadbill: the v2 downloadbill error.
func chBillFail(msg, code string) map[string]any {
	m := map[string]any{"return_code": "FAIL", "return_msg": msg}
	if code != "" {
		m["error_code"] = code
	}
	return m
}

// chDownloadBill is POST /_/pay/downloadbill.
func (s *Simulator) chDownloadBill(p params) (map[string]any, func()) {
	sub, err := p.str("sub_mch_id", false, 32)
	if err != nil {
		return chBillFail("invalid sub_mch_id", ""), nil
	}
	if sub != "" && !s.merchantOK(sub) {
		return chBillFail("invalid sub_mch_id: "+s.mchNotExist(sub), ""), nil
	}
	if _, ok := p.raw("bill_date"); !ok {
		return chBillFail("missing parameter", ""), nil
	}
	raw, err := p.str("bill_date", true, 0)
	if err != nil {
		return chBillFail("data format error", ""), nil
	}
	typ := bill.All
	if v, err := p.str("bill_type", false, 16); err != nil || (v != "" && !validTradeBillType(bill.TradeBillType(v))) {
		return chBillFail("invalid bill_type", ""), nil
	} else if v != "" {
		typ = bill.TradeBillType(v)
	}
	day, ok := s.parseBillDate(raw, chBillDateLayout)
	if !ok {
		return chBillFail("data format error", ""), nil
	}
	switch s.billDay(day) {
	case "invalid":
		return chBillFail("data format error", ""), nil
	case "creating":
		return chBillFail("Bill Creating", ""), nil
	}
	data := s.tradeBill(day, typ, s.chMerchant(sub))
	if data == nil {
		return chBillFail(chNoBill, "20002"), nil
	}
	if s.consumeFault(apiDownloadBill, ModeCorrupt) != nil {
		trimmed := bytes.TrimSuffix(data, []byte("\n"))
		data = trimmed[:bytes.LastIndexByte(trimmed, '\n')+1]
	}
	return map[string]any{respdataText: string(data)}, nil
}
