package alipaysim

// Daily trade bill (业务账单, bill_type trade), the Alipay twin of wechatsim's bills.
//
// alipay.data.dataservice.bill.downloadurl.query (查询对账单下载地址,
// https://opendocs.alipay.com/apis/api_15/alipay.data.dataservice.bill.downloadurl.query)
// answers, signed like every business answer, bill_download_url: a link shaped like
// Alipay's (http://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&userId=…
// &fileType=csv.zip&bizDates=yyyyMMdd&downloadFileName=…&timestamp=…&token=…) that points
// at this simulator, under the prefix the gateway was reached at. "获取连接后30秒后未下载，
// 链接地址失效" (the response parameter's description, quoted by
// https://developer.aliyun.com/article/707638): the link lives 30 seconds by Config.Now.
// The file is the ZIP Alipay serves (GBK 业务明细 and 业务明细(汇总), shared/bill), made of
// the simulator's trades and refunds of that Beijing day as they stand when the link is
// followed, with the plants applied.
//
// Plants make the bill disagree with what the merchant stored, for reconciliation
// tests: see BillPlant. Like faults they are test tooling, kept in memory only.

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// BillFilePath is the path of the bill links, Alipay's (downloadBillFile.resource). The
// simulator serves it at the root and under any prefix.
const BillFilePath = "/downloadBillFile.resource"

// SubCodeNotSimulated is the sub_code (with 40004) of a bill request for a bill the
// simulator does not make: the balance bill (bill_type signcustomer) and monthly bills
// (bill_date yyyy-MM). Alipay serves both; the code is the simulator's own.
const SubCodeNotSimulated = "SIM.BILL_NOT_SIMULATED"

// Bill types (bill_type): "trade指商户基于支付宝交易收单的业务账单；signcustomer是指基于商户支付宝
// 余额收入及支出等资金变动的帐务账单" (the method's page).
const (
	BillTypeTrade        = "trade"
	BillTypeSignCustomer = "signcustomer"
)

// Plant kinds (BillPlant.Kind).
const (
	PlantExtraPayment   = "extra_payment"   // a 交易 row the merchant never saw: out_trade_no, amount_fen
	PlantMissingPayment = "missing_payment" // the 交易 row of out_trade_no is left out
	PlantAmount         = "amount"          // the row of out_trade_no (交易) or out_request_no (退款) shows amount_fen
	PlantExtraRefund    = "extra_refund"    // a 退款 row the merchant never saw: out_trade_no, out_request_no, amount_fen
	PlantMissingRefund  = "missing_refund"  // the 退款 row of out_request_no is left out
)

var plantKinds = []string{PlantExtraPayment, PlantMissingPayment, PlantAmount, PlantExtraRefund, PlantMissingRefund}

const (
	// billLinkTTL: "获取连接后30秒后未下载，链接地址失效".
	billLinkTTL = 30 * time.Second
	// billReadyHour: "建议商户在次日10点以后下载前一日的账单" (对账说明,
	// https://opendocs.alipay.com/open/204/106262); before that the bill does not exist.
	billReadyHour = 10
	// billFeePerMille is the service fee (服务费) rate, 0.6%: the usual rate of 当面付 and
	// 手机网站支付. The real rate is each merchant's contract; the simulator's choice.
	billFeePerMille = 6
	billDateLayout  = "2006-01-02"
	billFileDate    = "20060102"
	// billAccountSuffix follows the merchant's PID in the bill's account and file name
	// (20881234567890120156_20190604.csv.zip, as Alipay names them).
	billAccountSuffix = "0156"
	// billLinkExpired is the page a dead link answers (HTTP 200, text): integrators report
	// "下载超时，请重新下载" for a link followed too late; an unknown token gets it too.
	billLinkExpired = "下载超时，请重新下载"
	// plantedSubject is the 商品名称 of a planted row whose trade the simulator does not know.
	plantedSubject = "planted"
)

// billEarliest: "最早可下载2016年1月1日开始的日账单" (bill_date, the method's page).
var billEarliest = time.Date(2016, 1, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))

// monthlyBillDate is a monthly bill_date ("月账单格式为yyyy-MM").
var monthlyBillDate = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)

// BillPlant makes the trade bill of one Beijing day disagree with the simulator's trades
// and refunds (POST /bills/plant). Plants apply in the order they were made:
//
//   - extra_payment {out_trade_no, amount_fen}: a 交易 row at 12:00 with a new trade_no
//     (the trade's subject if the simulator has that trade);
//   - missing_payment {out_trade_no}: the 交易 row is left out;
//   - amount {out_trade_no | out_request_no, amount_fen}: the 交易 row's 订单金额 and 商家实收,
//     or the 退款 row's (as -amount_fen), and the service fee with them;
//   - extra_refund {out_trade_no, out_request_no, amount_fen}: a 退款 row at 12:00 (the
//     trade's trade_no if the simulator has it, else a new one);
//   - missing_refund {out_request_no}: the 退款 row is left out.
//
// A plant naming a row the day's bill does not have is a 404 (BILL_ROW_NOT_FOUND); one
// adding a row the day already has is a 409 (BILL_ROW_EXISTS).
type BillPlant struct {
	Date         string `json:"date"` // yyyy-MM-dd, Beijing
	Kind         string `json:"kind"`
	OutTradeNo   string `json:"out_trade_no,omitempty"`
	OutRequestNo string `json:"out_request_no,omitempty"`
	AmountFen    int64  `json:"amount_fen,omitempty"`
	// TradeNo is set by the simulator on extra rows.
	TradeNo string `json:"trade_no,omitempty"`
}

// billState is the simulator's bill tooling, guarded by Simulator.mu.
type billState struct {
	plants []BillPlant
	links  map[string]billLink // by token
}

type billLink struct {
	day     time.Time
	expires time.Time // by Config.Now
}

// billControlRoutes registers the bills' control routes (seen without ControlPrefix).
func (s *Simulator) billControlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /bills/plant", func(w http.ResponseWriter, r *http.Request) {
		var p BillPlant
		if !decodeJSON(w, r, &p) {
			return
		}
		if p.TradeNo != "" {
			writeError(w, badField("trade_no", "trade_no is set by the simulator"))
			return
		}
		p, err := s.PlantBill(p)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, p)
	})
	mux.HandleFunc("GET /bills/plants", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"plants": s.BillPlants()})
	})
	mux.HandleFunc("DELETE /bills/plants", func(w http.ResponseWriter, r *http.Request) {
		s.ClearBillPlants()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /bills/{date}", func(w http.ResponseWriter, r *http.Request) {
		day, ok := s.parseBillDate(r.PathValue("date"))
		if !ok {
			writeError(w, badField("date", "date must be yyyy-MM-dd"))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(bill.FormatAlipayTrade(s.tradeBill(day)))
	})
}

// PlantBill records a plant (see BillPlant) and returns it as recorded. The error is an
// *Error: 400 naming the bad field, 404 or 409.
func (s *Simulator) PlantBill(p BillPlant) (BillPlant, error) {
	day, ok := s.parseBillDate(p.Date)
	if !ok {
		return p, badField("date", "date must be yyyy-MM-dd")
	}
	need := func(field string, ok bool) error {
		if !ok {
			return badField(field, field+" is required for kind "+p.Kind)
		}
		return nil
	}
	one := func() error {
		if (p.OutTradeNo == "") == (p.OutRequestNo == "") {
			return badField("out_trade_no", "give exactly one of out_trade_no (a 交易 row) and out_request_no (a 退款 row)")
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
	case PlantExtraRefund:
		errs = []error{need("out_trade_no", p.OutTradeNo != ""), need("out_request_no", p.OutRequestNo != ""),
			need("amount_fen", p.AmountFen > 0)}
	case PlantMissingRefund:
		errs = []error{need("out_request_no", p.OutRequestNo != "")}
	default:
		return p, badField("kind", fmt.Sprintf("kind %q is not one of %s", p.Kind, strings.Join(plantKinds, ", ")))
	}
	for _, err := range errs {
		if err != nil {
			return p, err
		}
	}
	switch {
	case p.AmountFen < 0 || p.AmountFen > MaxTotalFen:
		return p, badField("amount_fen", fmt.Sprintf("amount_fen must be between 1 and %d", MaxTotalFen))
	case p.OutTradeNo != "" && !outTradeNoPattern.MatchString(p.OutTradeNo):
		return p, badField("out_trade_no", "out_trade_no must be 1 to 64 letters, digits or _")
	case len(p.OutRequestNo) > 64 || strings.ContainsAny(p.OutRequestNo, ",\"\r\n"):
		return p, badField("out_request_no", "out_request_no must be at most 64 characters without a comma, a quote or a line break")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	rows := s.dayRowsLocked(day)
	payment := slices.IndexFunc(rows, func(r bill.AlipayRow) bool { return r.Type == bill.AlipayPayment && r.OutTradeNo == p.OutTradeNo })
	refundRow := slices.IndexFunc(rows, func(r bill.AlipayRow) bool { return r.Type == bill.AlipayRefund && r.OutRequestNo == p.OutRequestNo })
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
		return p, rowExists(bill.AlipayPayment, p.OutTradeNo)
	case p.Kind == PlantExtraRefund && refundRow >= 0:
		return p, rowExists(bill.AlipayRefund, p.OutRequestNo)
	case p.OutRequestNo != "" && p.Kind != PlantExtraRefund && refundRow < 0:
		return p, noRow(bill.AlipayRefund, p.OutRequestNo)
	case p.OutTradeNo != "" && p.OutRequestNo == "" && p.Kind != PlantExtraPayment && payment < 0:
		return p, noRow(bill.AlipayPayment, p.OutTradeNo)
	}
	noon := day.Add(12 * time.Hour)
	switch p.Kind {
	case PlantExtraPayment:
		p.TradeNo = s.newTradeNoLocked(noon)
	case PlantExtraRefund:
		if t := s.trades[p.OutTradeNo]; t != nil && t.scanned {
			p.TradeNo = t.tradeNo
		} else {
			p.TradeNo = s.newTradeNoLocked(noon)
		}
	}
	s.bills.plants = append(s.bills.plants, p)
	return p, nil
}

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

// billFee is the service fee of amount fen: 0.6%, rounded half up to the fen.
func billFee(amount int64) int64 { return (amount*billFeePerMille + 500) / 1000 }

// refundFeeBack is the service fee a refund gives back: the trade's fee in proportion
// to the refund (the simulator's model; how Alipay rounds it is not documented). It is
// computed on the running total, each refund getting the rounded share up to its end
// minus the share before it, so the refunds of a fully refunded trade give back exactly
// the fee charged, never a fen more.
func refundFeeBack(total, before, amount int64) int64 {
	fee := billFee(total)
	share := func(refunded int64) int64 { return (2*fee*refunded + total) / (2 * total) }
	return share(before+amount) - share(before)
}

// billAccount is the bill's account (账号): the merchant's PID and 0156.
func (s *Simulator) billAccount() string { return s.cfg.SellerID + billAccountSuffix }

func (s *Simulator) beijingDay(t time.Time) time.Time {
	y, mo, d := t.In(s.loc).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, s.loc)
}

// parseBillDate reads yyyy-MM-dd strictly, as a Beijing midnight.
func (s *Simulator) parseBillDate(v string) (time.Time, bool) {
	d, err := time.ParseInLocation(billDateLayout, v, s.loc)
	return d, err == nil && d.Format(billDateLayout) == v
}

// tradeBill is the day's bill as it stands now.
func (s *Simulator) tradeBill(day time.Time) bill.AlipayTrade {
	now := s.now()
	s.mu.Lock()
	rows := s.dayRowsLocked(day)
	s.mu.Unlock()
	return bill.AlipayTrade{Account: s.billAccount(), Day: day, Rows: rows, ExportedAt: now.In(s.loc)}
}

// dayRowsLocked is the day's rows, with the plants applied, ordered by finished time:
// a 交易 row for each trade paid that day (by gmt_payment), a 退款 row for each refund
// made that day (refunds settle at once here).
func (s *Simulator) dayRowsLocked(day time.Time) []bill.AlipayRow {
	start, end := day, day.AddDate(0, 0, 1)
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(start) && t.Before(end) }
	var rows []bill.AlipayRow
	for _, t := range s.trades {
		if t.paid() && in(t.paidAt) {
			rows = append(rows, s.paymentRow(t))
		}
		var before int64
		for _, r := range t.refunds {
			if in(r.at) {
				rows = append(rows, s.refundRow(t, r, before))
			}
			before += r.fen
		}
	}
	date := day.Format(billDateLayout)
	for _, p := range s.bills.plants {
		if p.Date == date {
			rows = s.applyPlantLocked(rows, p, day)
		}
	}
	slices.SortStableFunc(rows, func(a, b bill.AlipayRow) int {
		if c := a.FinishedAt.Compare(b.FinishedAt); c != 0 {
			return c
		}
		if ra, rb := a.Type == bill.AlipayRefund, b.Type == bill.AlipayRefund; ra != rb {
			if ra {
				return 1
			}
			return -1
		}
		return strings.Compare(a.OutTradeNo+"\x00"+a.OutRequestNo, b.OutTradeNo+"\x00"+b.OutRequestNo)
	})
	return rows
}

// gmtCreate is when the trade came to exist at Alipay (the scan), else its first call.
func (t *trade) gmtCreate() time.Time {
	if !t.scannedAt.IsZero() {
		return t.scannedAt
	}
	return t.createdAt
}

// paymentRow is a paid trade's 交易 row. 对方账户 is the buyer's masked logon id, as
// alipay.trade.query answers it.
func (s *Simulator) paymentRow(t *trade) bill.AlipayRow {
	return bill.AlipayRow{
		TradeNo: t.tradeNo, OutTradeNo: t.outTradeNo, Type: bill.AlipayPayment, Subject: t.subject,
		CreatedAt: t.gmtCreate().In(s.loc), FinishedAt: t.paidAt.In(s.loc), Buyer: buyerLogonID,
		TotalFen: cloudpay.Fen(t.totalFen), ReceivedFen: cloudpay.Fen(t.totalFen),
		ServiceFeeFen: -cloudpay.Fen(billFee(t.totalFen)),
	}
}

// refundRow is a refund's 退款 row: the trade's creation time, the refund's as finished
// time, negative amounts, the fee given back (positive); before is what the trade's
// earlier refunds took.
func (s *Simulator) refundRow(t *trade, r *refund, before int64) bill.AlipayRow {
	return bill.AlipayRow{
		TradeNo: t.tradeNo, OutTradeNo: t.outTradeNo, Type: bill.AlipayRefund, Subject: t.subject,
		CreatedAt: t.gmtCreate().In(s.loc), FinishedAt: r.at.In(s.loc), Buyer: buyerLogonID,
		TotalFen: -cloudpay.Fen(r.fen), ReceivedFen: -cloudpay.Fen(r.fen), OutRequestNo: r.outRequestNo,
		ServiceFeeFen: cloudpay.Fen(refundFeeBack(t.totalFen, before, r.fen)),
	}
}

// applyPlantLocked applies one plant to a day's rows. Planted amounts carry the fee of
// the amount itself (0.6%, charged on a 交易 row, given back on a 退款 row).
func (s *Simulator) applyPlantLocked(rows []bill.AlipayRow, p BillPlant, day time.Time) []bill.AlipayRow {
	noon := day.Add(12 * time.Hour)
	find := func() int {
		return slices.IndexFunc(rows, func(r bill.AlipayRow) bool {
			if p.OutRequestNo != "" {
				return r.Type == bill.AlipayRefund && r.OutRequestNo == p.OutRequestNo
			}
			return r.Type == bill.AlipayPayment && r.OutTradeNo == p.OutTradeNo
		})
	}
	subject, created := plantedSubject, noon
	if t := s.trades[p.OutTradeNo]; t != nil {
		subject = t.subject
		if p.Kind == PlantExtraRefund && t.scanned {
			created = t.gmtCreate().In(s.loc)
		}
	}
	amount := cloudpay.Fen(p.AmountFen)
	fee := cloudpay.Fen(billFee(p.AmountFen))
	switch p.Kind {
	case PlantExtraPayment:
		if find() < 0 {
			rows = append(rows, bill.AlipayRow{
				TradeNo: p.TradeNo, OutTradeNo: p.OutTradeNo, Type: bill.AlipayPayment, Subject: subject,
				CreatedAt: noon, FinishedAt: noon, Buyer: buyerLogonID, TotalFen: amount, ReceivedFen: amount,
				ServiceFeeFen: -fee,
			})
		}
	case PlantExtraRefund:
		if find() < 0 {
			rows = append(rows, bill.AlipayRow{
				TradeNo: p.TradeNo, OutTradeNo: p.OutTradeNo, Type: bill.AlipayRefund, Subject: subject,
				CreatedAt: created, FinishedAt: noon, Buyer: buyerLogonID, TotalFen: -amount, ReceivedFen: -amount,
				OutRequestNo: p.OutRequestNo, ServiceFeeFen: fee,
			})
		}
	case PlantMissingPayment, PlantMissingRefund:
		if i := find(); i >= 0 {
			rows = slices.Delete(rows, i, i+1)
		}
	case PlantAmount:
		if i := find(); i >= 0 {
			r := &rows[i]
			if r.Type == bill.AlipayRefund {
				r.TotalFen, r.ReceivedFen, r.ServiceFeeFen = -amount, -amount, fee
			} else {
				r.TotalFen, r.ReceivedFen, r.ServiceFeeFen = amount, amount, -fee
			}
		}
	}
	return rows
}

// billDownloadURLQuery is alipay.data.dataservice.bill.downloadurl.query (查询对账单下载地址,
// https://opendocs.alipay.com/apis/api_15/alipay.data.dataservice.bill.downloadurl.query):
//
//   - bill_type "trade" is served; "signcustomer" (the balance bill) and monthly
//     bill_date "yyyy-MM" are Alipay's but not simulated: 40004 SubCodeNotSimulated;
//     anything else, or a bill_date that is neither, 40004 isv.invalid-parameter;
//   - the bill is T+1: "不能查询当日或者是当月的账单,如果日期是当天或者是当月的会返回“参数不合法”"
//     (integrators' reports, https://blog.csdn.net/weixin_30729609/article/details/101444448),
//     so today or later in Beijing by Config.Now is 40004 isv.invalid-parameter, as is a
//     day before "最早可下载2016年1月1日开始的日账单";
//   - "建议商户在次日10点以后下载前一日的账单" (https://opendocs.alipay.com/open/204/106262):
//     before 10:00 the next day the bill is 40004 isp.bill_not_exist (账单不存在);
//   - otherwise bill_download_url, valid billLinkTTL; a day without any trade has a bill
//     with no rows (a choice: the pages do not say).
func (s *Simulator) billDownloadURLQuery(req *gatewayRequest) answer {
	invalid := func(msg string) answer { return bizFailure("isv.invalid-parameter", "参数无效:"+msg) }
	switch typ := req.text("bill_type"); typ {
	case BillTypeTrade:
	case BillTypeSignCustomer:
		return bizFailure(SubCodeNotSimulated, "模拟器不提供 signcustomer（账务明细）账单，只提供 trade 业务账单")
	case "":
		return invalid("bill_type 不能为空")
	default:
		return invalid("bill_type 须为 trade 或 signcustomer")
	}
	raw := req.text("bill_date")
	if monthlyBillDate.MatchString(raw) {
		return bizFailure(SubCodeNotSimulated, "模拟器不提供月账单（bill_date yyyy-MM），只提供日账单（yyyy-MM-dd）")
	}
	day, ok := s.parseBillDate(raw)
	if !ok {
		return invalid("bill_date 须为 yyyy-MM-dd（日账单）")
	}
	now := s.now()
	switch {
	case day.Before(billEarliest):
		return invalid("最早可下载2016年1月1日开始的日账单")
	case !day.Before(s.beijingDay(now)):
		return invalid("不能查询当日账单")
	case now.Before(day.AddDate(0, 0, 1).Add(billReadyHour * time.Hour)):
		return bizFailure("isp.bill_not_exist", "")
	}
	token := randString(hexLow, 32)
	s.mu.Lock()
	if s.bills.links == nil {
		s.bills.links = map[string]billLink{}
	}
	for k, l := range s.bills.links {
		if !now.Before(l.expires) {
			delete(s.bills.links, k)
		}
	}
	s.bills.links[token] = billLink{day: day, expires: now.Add(billLinkTTL)}
	s.mu.Unlock()
	return success(field{"bill_download_url", s.billDownloadURL(req.base, day, now, token)})
}

// billDownloadURL is a link shaped like Alipay's
// (http://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&userId=
// 20881234567890120156&fileType=csv.zip&bizDates=20190604&downloadFileName=
// 20881234567890120156_20190604.csv.zip&timestamp=…&token=…, its parameters in that
// order) at base, where the gateway was reached.
func (s *Simulator) billDownloadURL(base string, day, now time.Time, token string) string {
	account, date := s.billAccount(), day.Format(billFileDate)
	params := [][2]string{
		{"bizType", BillTypeTrade}, {"userId", account}, {"fileType", "csv.zip"}, {"bizDates", date},
		{"downloadFileName", account + "_" + date + ".csv.zip"},
		{"timestamp", strconv.FormatInt(now.UnixMilli(), 10)}, {"token", token},
	}
	var b strings.Builder
	b.WriteString(base + BillFilePath)
	for i, p := range params {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p[0] + "=" + url.QueryEscape(p[1]))
	}
	return b.String()
}

// requestBase is the scheme, host and path prefix the gateway was reached at: the
// request's (X-Forwarded-Proto and X-Forwarded-Host when a proxy set them) and the
// original request path without GatewayPath (RequestURI: http.StripPrefix, as
// functions/local mounts the simulator under /alipay, leaves it as received).
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Proto")))); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Host"))); h != "" && !strings.ContainsAny(h, "/?#@ ") {
		host = h
	}
	path := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		path = u.Path
	}
	prefix, _ := strings.CutSuffix(path, GatewayPath)
	if prefix == path { // reached some other way: the root
		prefix = ""
	}
	return scheme + "://" + host + strings.TrimSuffix(prefix, "/")
}

// firstValue is the first of a header's comma-separated values (a proxy chain's first).
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return first
}

// handleBillFile serves BillFilePath: the day's ZIP, built now, for a live token whose
// link is followed unaltered; anything else is the page Alipay shows for a dead link
// (HTTP 200, text). A link may be followed more than once while it lives (not
// documented either way).
func (s *Simulator) handleBillFile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	now := s.now()
	s.mu.Lock()
	link, ok := s.bills.links[q.Get("token")]
	s.mu.Unlock()
	if !ok || !now.Before(link.expires) || q.Get("bizDates") != link.day.Format(billFileDate) ||
		q.Get("userId") != s.billAccount() || q.Get("bizType") != BillTypeTrade {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(billLinkExpired))
		return
	}
	data, err := bill.FormatAlipayTradeZip(s.tradeBill(link.day))
	if err != nil {
		http.Error(w, "alipaysim: formatting the bill: "+err.Error(), http.StatusInternalServerError)
		return
	}
	name := s.billAccount() + "_" + link.day.Format(billFileDate) + ".csv.zip"
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}
