package bill

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// TradeBillType is which trade bill (bill_type): they differ in their rows
// and their columns.
type TradeBillType string

const (
	// All is every payment of the day (交易状态 SUCCESS, or REVOKED) and every
	// refund accepted that day (交易状态 REFUND).
	All TradeBillType = "ALL"
	// Success is the payments only, without the refund columns.
	Success TradeBillType = "SUCCESS"
	// Refund is the refunds only, with 退款申请时间 and 退款成功时间.
	Refund TradeBillType = "REFUND"
)

// Trade bill columns, as WeChat Pay names them in the header
// (format-trade.html §1).
const (
	colTradeTime        = "交易时间"
	colAppID            = "公众账号ID"
	colMchID            = "商户号"
	colSubMchID         = "特约商户号"
	colDeviceInfo       = "设备号"
	colTransactionID    = "微信订单号"
	colOutTradeNo       = "商户订单号"
	colOpenID           = "用户标识"
	colTradeType        = "交易类型"
	colTradeState       = "交易状态"
	colBankType         = "付款银行"
	colCurrency         = "货币种类"
	colSettlement       = "应结订单金额"
	colCoupon           = "代金券金额"
	colRefundRequested  = "退款申请时间"
	colRefundSucceeded  = "退款成功时间"
	colRefundID         = "微信退款单号"
	colOutRefundNo      = "商户退款单号"
	colRefund           = "退款金额"
	colRechargeRefund   = "充值券退款金额"
	colRefundType       = "退款类型"
	colRefundStatus     = "退款状态"
	colBody             = "商品名称"
	colAttach           = "商户数据包"
	colFee              = "手续费"
	colRate             = "费率"
	colTotal            = "订单金额"
	colRefundRequest    = "申请退款金额"
	colRateRemark       = "费率备注"
	colTotCount         = "总交易单数"
	colTotSettlement    = "应结订单总金额"
	colTotRefund        = "退款总金额"
	colTotRechargeRefnd = "充值券退款总金额"
	colTotFee           = "手续费总金额"
	colTotTotal         = "订单总金额"
	colTotRefundRequest = "申请退款总金额"
)

// tradeColumns are each trade bill's detail columns, in WeChat's order.
var tradeColumns = map[TradeBillType][]string{
	All: {colTradeTime, colAppID, colMchID, colSubMchID, colDeviceInfo, colTransactionID, colOutTradeNo,
		colOpenID, colTradeType, colTradeState, colBankType, colCurrency, colSettlement, colCoupon,
		colRefundID, colOutRefundNo, colRefund, colRechargeRefund, colRefundType, colRefundStatus,
		colBody, colAttach, colFee, colRate, colTotal, colRefundRequest, colRateRemark},
	Success: {colTradeTime, colAppID, colMchID, colSubMchID, colDeviceInfo, colTransactionID, colOutTradeNo,
		colOpenID, colTradeType, colTradeState, colBankType, colCurrency, colSettlement, colCoupon,
		colBody, colAttach, colFee, colRate, colTotal, colRateRemark},
	Refund: {colTradeTime, colAppID, colMchID, colSubMchID, colDeviceInfo, colTransactionID, colOutTradeNo,
		colOpenID, colTradeType, colTradeState, colBankType, colCurrency, colSettlement, colCoupon,
		colRefundRequested, colRefundSucceeded, colRefundID, colOutRefundNo, colRefund, colRechargeRefund,
		colRefundType, colRefundStatus, colBody, colAttach, colFee, colRate, colTotal, colRefundRequest,
		colRateRemark},
}

// tradeTotalsColumns are each trade bill's totals columns, in WeChat's
// order. A reader requires its type's, checks every known one present (one
// published SUCCESS bill carries all seven) and ignores others.
var tradeTotalsColumns = map[TradeBillType][]string{
	All:     {colTotCount, colTotSettlement, colTotRefund, colTotRechargeRefnd, colTotFee, colTotTotal, colTotRefundRequest},
	Success: {colTotCount, colTotSettlement, colTotFee, colTotTotal},
	Refund:  {colTotCount, colTotSettlement, colTotRefund, colTotRechargeRefnd, colTotFee, colTotTotal, colTotRefundRequest},
}

// Trade is a trade bill (交易账单).
type Trade struct {
	Type   TradeBillType
	Rows   []TradeRow
	Totals TradeTotals
}

// TradeRow is one row of a trade bill: a payment (TradeState SUCCESS) or a
// refund (TradeState REFUND). A column the bill's type lacks is zero.
type TradeRow struct {
	// Time (交易时间) is when the payment succeeded or the refund was accepted
	// (not when it succeeded), in Beijing time.
	Time          time.Time
	AppID         string // 公众账号ID: the appid of the order
	MchID         string // 商户号: the merchant (the service provider on Cloud Hosting)
	SubMchID      string // 特约商户号: the sub-merchant; "0" for a direct merchant
	DeviceInfo    string // 设备号
	TransactionID string // 微信订单号
	OutTradeNo    string // 商户订单号
	OpenID        string // 用户标识
	TradeType     string // 交易类型: JSAPI, NATIVE, APP, MICROPAY…
	TradeState    string // 交易状态: SUCCESS (a payment), REFUND (a refund), REVOKED
	BankType      string // 付款银行: OTHERS, CFT…
	Currency      string // 货币种类: CNY

	// SettlementFen (应结订单金额) is the order amount less non-recharge
	// coupons; 0 on refund rows.
	SettlementFen cloudpay.Fen
	CouponFen     cloudpay.Fen // 代金券金额

	RefundRequestedAt time.Time // 退款申请时间 (REFUND bills only)
	RefundSucceededAt time.Time // 退款成功时间 (REFUND bills only; zero while not succeeded)

	// RefundID (微信退款单号) and OutRefundNo (商户退款单号) are empty where
	// WeChat writes 0 (payment rows of an ALL bill).
	RefundID                string
	OutRefundNo             string
	RefundFen               cloudpay.Fen // 退款金额
	RechargeCouponRefundFen cloudpay.Fen // 充值券退款金额
	RefundType              string       // 退款类型: ORIGINAL, BALANCE
	// RefundStatus (退款状态) is the refund's status when the bill was made:
	// SUCCESS, PROCESSING, REFUNDCLOSE or CHANGE. It is not updated later.
	RefundStatus string

	Body   string // 商品名称
	Attach string // 商户数据包
	// Fee (手续费) is WeChat's fee; negative on refund rows (the fee given back).
	Fee              Fee
	Rate             string       // 费率, as WeChat prints it: "0.60%"
	TotalFen         cloudpay.Fen // 订单金额; 0 on refund rows
	RefundRequestFen cloudpay.Fen // 申请退款金额; 0 on payment rows
	RateRemark       string       // 费率备注
}

// TradeTotals is a trade bill's totals row.
type TradeTotals struct {
	Count                   int          // 总交易单数: the number of rows
	SettlementFen           cloudpay.Fen // 应结订单总金额
	RefundFen               cloudpay.Fen // 退款总金额
	RechargeCouponRefundFen cloudpay.Fen // 充值券退款总金额
	Fee                     Fee          // 手续费总金额
	TotalFen                cloudpay.Fen // 订单总金额
	RefundRequestFen        cloudpay.Fen // 申请退款总金额
}

// TradeTotalsOf adds rows up as WeChat does in the totals row.
func TradeTotalsOf(rows []TradeRow) TradeTotals {
	t := TradeTotals{Count: len(rows)}
	for _, r := range rows {
		t.SettlementFen += r.SettlementFen
		t.RefundFen += r.RefundFen
		t.RechargeCouponRefundFen += r.RechargeCouponRefundFen
		t.Fee += r.Fee
		t.TotalFen += r.TotalFen
		t.RefundRequestFen += r.RefundRequestFen
	}
	return t
}

// NewTrade is a trade bill of rows with their totals.
func NewTrade(typ TradeBillType, rows []TradeRow) Trade {
	return Trade{Type: typ, Rows: rows, Totals: TradeTotalsOf(rows)}
}

// ParseTrade reads a trade bill of any type (ALL, SUCCESS or REFUND, told by
// its header) and checks its totals row against its rows.
func ParseTrade(data []byte) (Trade, error) {
	t, err := readTable(data, func(s string) string { return s })
	if err != nil {
		return Trade{}, err
	}
	idx := columns(t.cols)
	var tr Trade
	switch {
	case has(idx, colRefundRequested):
		tr.Type = Refund
	case has(idx, colRefundID):
		tr.Type = All
	default:
		tr.Type = Success
	}
	if err := requireColumns(t.header, idx, tradeColumns[tr.Type]); err != nil {
		return Trade{}, err
	}
	tr.Rows = make([]TradeRow, 0, len(t.rows))
	for i, l := range t.rows {
		c := &cells{l: l, idx: idx, fields: t.fields[i]}
		lim := int64(cloudpay.MaxFen)
		r := TradeRow{
			Time: c.time(colTradeTime, false), AppID: c.str(colAppID), MchID: c.str(colMchID),
			SubMchID: c.str(colSubMchID), DeviceInfo: c.str(colDeviceInfo), TransactionID: c.str(colTransactionID),
			OutTradeNo: c.str(colOutTradeNo), OpenID: c.str(colOpenID), TradeType: c.str(colTradeType),
			TradeState: c.str(colTradeState), BankType: c.str(colBankType), Currency: c.str(colCurrency),
			SettlementFen: c.fen(colSettlement, lim), CouponFen: c.fen(colCoupon, lim),
			RefundRequestedAt: c.time(colRefundRequested, true), RefundSucceededAt: c.time(colRefundSucceeded, true),
			RefundID: c.id(colRefundID), OutRefundNo: c.id(colOutRefundNo), RefundFen: c.fen(colRefund, lim),
			RechargeCouponRefundFen: c.fen(colRechargeRefund, lim), RefundType: c.str(colRefundType),
			RefundStatus: c.str(colRefundStatus), Body: c.str(colBody), Attach: c.str(colAttach),
			Fee: c.fee(colFee, lim), Rate: c.str(colRate), TotalFen: c.fen(colTotal, lim),
			RefundRequestFen: c.fen(colRefundRequest, lim), RateRemark: c.str(colRateRemark),
		}
		if c.err != nil {
			return Trade{}, c.err
		}
		tr.Rows = append(tr.Rows, r)
	}

	tidx := columns(t.totalsCols)
	if err := requireColumns(t.totalsHeader, tidx, tradeTotalsColumns[tr.Type]); err != nil {
		return Trade{}, err
	}
	sum := TradeTotalsOf(tr.Rows)
	c := &cells{l: t.totals, idx: tidx, fields: t.totalsFields}
	got := TradeTotals{
		Count: c.count(colTotCount), SettlementFen: c.fen(colTotSettlement, maxTotalFen),
		RefundFen: c.fen(colTotRefund, maxTotalFen), RechargeCouponRefundFen: c.fen(colTotRechargeRefnd, maxTotalFen),
		Fee: c.fee(colTotFee, maxTotalFen), TotalFen: c.fen(colTotTotal, maxTotalFen),
		RefundRequestFen: c.fen(colTotRefundRequest, maxTotalFen),
	}
	if c.err != nil {
		return Trade{}, c.err
	}
	for _, chk := range []struct {
		col       string
		got, want int64
		render    func(int64) string
	}{
		{colTotCount, int64(got.Count), int64(sum.Count), countText},
		{colTotSettlement, int64(got.SettlementFen), int64(sum.SettlementFen), fenText},
		{colTotRefund, int64(got.RefundFen), int64(sum.RefundFen), fenText},
		{colTotRechargeRefnd, int64(got.RechargeCouponRefundFen), int64(sum.RechargeCouponRefundFen), fenText},
		{colTotFee, int64(got.Fee), int64(sum.Fee), feeText},
		{colTotTotal, int64(got.TotalFen), int64(sum.TotalFen), fenText},
		{colTotRefundRequest, int64(got.RefundRequestFen), int64(sum.RefundRequestFen), fenText},
	} {
		if !has(tidx, chk.col) {
			continue // not in this bill: the rows' sum stands
		}
		if err := checkSum(t.totals, chk.col, chk.got, chk.want, chk.render); err != nil {
			return Trade{}, err
		}
	}
	tr.Totals = sum
	return tr, nil
}

// FormatTrade writes t as WeChat Pay does: t.Type's columns in WeChat's
// order, backticked rows, t.Totals as given (see NewTrade), LF line ends.
// An empty t.Type is ALL.
func FormatTrade(t Trade) []byte {
	typ := t.Type
	if _, ok := tradeColumns[typ]; !ok {
		typ = All
	}
	var w writer
	cols := tradeColumns[typ]
	w.header(cols)
	fields := make([]string, len(cols))
	for _, r := range t.Rows {
		for i, col := range cols {
			fields[i] = tradeField(r, col)
		}
		w.row(fields)
	}
	tcols := tradeTotalsColumns[typ]
	w.header(tcols)
	tot := t.Totals
	fields = fields[:len(tcols)]
	for i, col := range tcols {
		switch col {
		case colTotCount:
			fields[i] = countText(int64(tot.Count))
		case colTotSettlement:
			fields[i] = tot.SettlementFen.String()
		case colTotRefund:
			fields[i] = tot.RefundFen.String()
		case colTotRechargeRefnd:
			fields[i] = tot.RechargeCouponRefundFen.String()
		case colTotFee:
			fields[i] = tot.Fee.String()
		case colTotTotal:
			fields[i] = tot.TotalFen.String()
		case colTotRefundRequest:
			fields[i] = tot.RefundRequestFen.String()
		}
	}
	w.row(fields)
	return w.b.Bytes()
}

func tradeField(r TradeRow, col string) string {
	switch col {
	case colTradeTime:
		return timeText(r.Time)
	case colAppID:
		return text(r.AppID)
	case colMchID:
		return text(r.MchID)
	case colSubMchID:
		return text(r.SubMchID)
	case colDeviceInfo:
		return text(r.DeviceInfo)
	case colTransactionID:
		return text(r.TransactionID)
	case colOutTradeNo:
		return text(r.OutTradeNo)
	case colOpenID:
		return text(r.OpenID)
	case colTradeType:
		return text(r.TradeType)
	case colTradeState:
		return text(r.TradeState)
	case colBankType:
		return text(r.BankType)
	case colCurrency:
		return text(r.Currency)
	case colSettlement:
		return r.SettlementFen.String()
	case colCoupon:
		return r.CouponFen.String()
	case colRefundRequested:
		return timeText(r.RefundRequestedAt)
	case colRefundSucceeded:
		return timeText(r.RefundSucceededAt)
	case colRefundID:
		return idText(r.RefundID)
	case colOutRefundNo:
		return idText(r.OutRefundNo)
	case colRefund:
		return r.RefundFen.String()
	case colRechargeRefund:
		return r.RechargeCouponRefundFen.String()
	case colRefundType:
		return text(r.RefundType)
	case colRefundStatus:
		return text(r.RefundStatus)
	case colBody:
		return text(r.Body)
	case colAttach:
		return text(r.Attach)
	case colFee:
		return r.Fee.String()
	case colRate:
		return text(r.Rate)
	case colTotal:
		return r.TotalFen.String()
	case colRefundRequest:
		return r.RefundRequestFen.String()
	case colRateRemark:
		return text(r.RateRemark)
	}
	return ""
}

func has(idx map[string]int, col string) bool {
	_, ok := idx[col]
	return ok
}
