package httpapi

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/recon"
)

type reconHandlers struct {
	svc *recon.Service
}

// list answers GET /admin/api/reconciliations: the latest days, newest first.
func (h reconHandlers) list(c *gin.Context) {
	reports, err := h.svc.List(c, 60)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, reconListView{Reports: mapSlice(reports, viewReconSummary)})
}

// get answers GET /admin/api/reconciliations/{date}: one day's report, as
// JSON, or as CSV with ?format=csv (one line per difference).
func (h reconHandlers) get(c *gin.Context) {
	r, err := h.svc.Get(c, c.Param("date"))
	if err != nil {
		fail(c, err)
		return
	}
	if c.Query("format") == "csv" {
		writeReconCSV(c, r)
		return
	}
	c.JSON(http.StatusOK, viewReport(r))
}

// run answers POST /admin/api/reconciliations/{date}: reconcile the day now.
func (h reconHandlers) run(c *gin.Context) {
	r, err := h.svc.Reconcile(c, c.Param("date"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewReport(r))
}

// csvHeader names the columns of a report's CSV.
var csvHeader = []string{"date", "channel", "kind", "out_trade_no", "transaction_id", "out_refund_no",
	"bill_yuan", "our_yuan", "bill_state", "our_state", "resolved", "note"}

func writeReconCSV(c *gin.Context, r recon.Report) {
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="reconciliation-`+r.Date+`.csv"`)
	c.Status(http.StatusOK)
	_, _ = c.Writer.WriteString("\uFEFF") // Excel reads UTF-8 with a BOM
	w := csv.NewWriter(c.Writer)
	_ = w.Write(csvHeader)
	for _, d := range r.Differences {
		_ = w.Write([]string{r.Date, channelOf(d), d.Kind, csvSafe(d.OutTradeNo), csvSafe(d.TransactionID), csvSafe(d.OutRefundNo),
			yuan(int64(d.BillFen)), yuan(int64(d.OurFen)), csvSafe(d.BillState), csvSafe(d.OurState), d.Resolved, csvSafe(d.Note)})
	}
	w.Flush()
}

// yuan formats fen as yuan with two decimals, exactly.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return sign + strconv.FormatInt(fen/100, 10) + "." + strconv.FormatInt(fen%100/10, 10) + strconv.FormatInt(fen%10, 10)
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}

// reconListView answers GET /admin/api/reconciliations.
type reconListView struct {
	Reports []reconSummaryView `json:"reports"`
}

type reconSummaryView struct {
	Date        string    `json:"date"`
	Status      string    `json:"status"`
	Differences int       `json:"differences"`
	Unresolved  int       `json:"unresolved"`
	CreatedAt   time.Time `json:"created_at"`
	// AlipayStatus is the status of the day against Alipay's bill, when
	// Alipay is configured.
	AlipayStatus string `json:"alipay_status,omitempty"`
}

func viewReconSummary(r recon.Report) reconSummaryView {
	v := reconSummaryView{Date: r.Date, Status: r.Status, Differences: len(r.Differences), CreatedAt: r.CreatedAt}
	if r.Alipay != nil {
		v.AlipayStatus = r.Alipay.Status
	}
	for _, d := range r.Differences {
		if d.Resolved == "" {
			v.Unresolved++
		}
	}
	return v
}

// reportView is one day's reconciliation: its own totals are WeChat's
// bill's, Alipay's are under alipay.
type reportView struct {
	Date string `json:"date"`
	reconTotalsView
	Alipay      *reconTotalsView `json:"alipay,omitempty"`
	Differences []differenceView `json:"differences"`
	CreatedAt   time.Time        `json:"created_at"`
}

// reconTotalsView is one channel's side of a day.
type reconTotalsView struct {
	Status         string `json:"status"`
	Payments       int    `json:"payments"`
	PaymentsFen    int64  `json:"payments_fen"`
	Refunds        int    `json:"refunds"`
	RefundsFen     int64  `json:"refunds_fen"`
	FeeUnits       int64  `json:"fee_units"`
	OurPayments    int    `json:"our_payments"`
	OurPaymentsFen int64  `json:"our_payments_fen"`
	OurRefunds     int    `json:"our_refunds"`
	OurRefundsFen  int64  `json:"our_refunds_fen"`
	Error          string `json:"error,omitempty"`
}

func viewTotals(t recon.Totals) reconTotalsView {
	return reconTotalsView{Status: t.Status, Payments: t.Payments, PaymentsFen: int64(t.PaymentsFen),
		Refunds: t.Refunds, RefundsFen: int64(t.RefundsFen), FeeUnits: t.FeeUnits,
		OurPayments: t.OurPayments, OurPaymentsFen: int64(t.OurPaymentsFen),
		OurRefunds: t.OurRefunds, OurRefundsFen: int64(t.OurRefundsFen), Error: t.Error}
}

type differenceView struct {
	Channel       string `json:"channel"`
	Kind          string `json:"kind"`
	OutTradeNo    string `json:"out_trade_no,omitempty"`
	TransactionID string `json:"transaction_id,omitempty"`
	OutRefundNo   string `json:"out_refund_no,omitempty"`
	BillFen       int64  `json:"bill_fen"`
	OurFen        int64  `json:"our_fen"`
	BillState     string `json:"bill_state,omitempty"`
	OurState      string `json:"our_state,omitempty"`
	Resolved      string `json:"resolved,omitempty"`
	Note          string `json:"note,omitempty"`
	// The bill's amount and state under their names from when WeChat's
	// was the only bill.
	WeChatFen   int64  `json:"wechat_fen"`
	WeChatState string `json:"wechat_state,omitempty"`
}

// channelOf names a difference's channel; reports made before Alipay's
// bill was read hold WeChat's only.
func channelOf(d recon.Difference) string {
	if d.Channel == "" {
		return recon.WeChat
	}
	return d.Channel
}

func viewReport(r recon.Report) reportView {
	v := reportView{
		Date: r.Date, reconTotalsView: viewTotals(r.Totals), CreatedAt: r.CreatedAt,
		Differences: mapSlice(r.Differences, func(d recon.Difference) differenceView {
			return differenceView{Channel: channelOf(d), Kind: d.Kind, OutTradeNo: d.OutTradeNo, TransactionID: d.TransactionID,
				OutRefundNo: d.OutRefundNo, BillFen: int64(d.BillFen), OurFen: int64(d.OurFen),
				BillState: d.BillState, OurState: d.OurState, Resolved: d.Resolved, Note: d.Note,
				WeChatFen: int64(d.BillFen), WeChatState: d.BillState}
		}),
	}
	if r.Alipay != nil {
		a := viewTotals(*r.Alipay)
		v.Alipay = &a
	}
	return v
}
