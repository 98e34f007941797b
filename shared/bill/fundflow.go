package bill

import (
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Fund-flow bill columns (format-fundflow.html §1). WeChat's own samples
// write the (元) of two of them with ASCII or with full-width parentheses; a
// reader accepts both, the formatter writes ASCII.
const (
	colBookedAt      = "记账时间"
	colBusinessNo    = "微信支付业务单号"
	colFlowNo        = "资金流水单号"
	colBizName       = "业务名称"
	colBizType       = "业务类型"
	colDirection     = "收支类型"
	colAmount        = "收支金额(元)"
	colBalance       = "账户结余(元)"
	colApplicant     = "资金变更提交申请人"
	colRemark        = "备注"
	colVoucherNo     = "业务凭证号"
	colFlowCount     = "资金流水总笔数"
	colIncomeCount   = "收入笔数"
	colIncomeAmount  = "收入金额"
	colExpenseCount  = "支出笔数"
	colExpenseAmount = "支出金额"
)

var (
	fundFlowColumns = []string{colBookedAt, colBusinessNo, colFlowNo, colBizName, colBizType, colDirection,
		colAmount, colBalance, colApplicant, colRemark, colVoucherNo}
	fundFlowTotalsColumns = []string{colFlowCount, colIncomeCount, colIncomeAmount, colExpenseCount, colExpenseAmount}
	fullWidthParens       = strings.NewReplacer("（", "(", "）", ")")
)

// Direction is 收支类型: whether a movement added to the balance or took
// from it.
type Direction string

const (
	Income  Direction = "收入"
	Expense Direction = "支出"
)

// FundFlow is a fund-flow bill (资金账单) of one account.
type FundFlow struct {
	Rows   []FundFlowRow
	Totals FundFlowTotals
}

// FundFlowRow is one movement of the account.
type FundFlowRow struct {
	// Time (记账时间) is when the balance changed, in Beijing time.
	Time time.Time
	// BusinessNo (微信支付业务单号) is WeChat's number of the business: the
	// transaction_id of a payment, the refund_id of a refund.
	BusinessNo string
	FlowNo     string // 资金流水单号: the movement's own number
	// BizName (业务名称) is the business: 交易, 退款, 充值/提现, 企业付款…
	BizName string
	// BizType (业务类型) refines it: 交易, 扣除交易手续费, 退款, 退款关闭,
	// 退还交易手续费…
	BizType    string
	Direction  Direction    // 收支类型
	AmountFen  cloudpay.Fen // 收支金额(元): how much the balance changed, never negative
	BalanceFen cloudpay.Fen // 账户结余(元): the balance after it
	Applicant  string       // 资金变更提交申请人: system, <mchid>API, a user…
	Remark     string       // 备注
	// VoucherNo (业务凭证号) is usually the merchant's number: out_trade_no
	// of a payment, out_refund_no of a refund.
	VoucherNo string
}

// FundFlowTotals is a fund-flow bill's totals row.
type FundFlowTotals struct {
	Count        int          // 资金流水总笔数
	IncomeCount  int          // 收入笔数
	IncomeFen    cloudpay.Fen // 收入金额
	ExpenseCount int          // 支出笔数
	ExpenseFen   cloudpay.Fen // 支出金额
}

// FundFlowTotalsOf adds rows up as WeChat does in the totals row.
func FundFlowTotalsOf(rows []FundFlowRow) FundFlowTotals {
	t := FundFlowTotals{Count: len(rows)}
	for _, r := range rows {
		switch r.Direction {
		case Income:
			t.IncomeCount++
			t.IncomeFen += r.AmountFen
		case Expense:
			t.ExpenseCount++
			t.ExpenseFen += r.AmountFen
		}
	}
	return t
}

// NewFundFlow is a fund-flow bill of rows with their totals.
func NewFundFlow(rows []FundFlowRow) FundFlow {
	return FundFlow{Rows: rows, Totals: FundFlowTotalsOf(rows)}
}

// ParseFundFlow reads a fund-flow bill and checks its totals row against
// its rows.
func ParseFundFlow(data []byte) (FundFlow, error) {
	t, err := readTable(data, fullWidthParens.Replace)
	if err != nil {
		return FundFlow{}, err
	}
	idx := columns(t.cols)
	if err := requireColumns(t.header, idx, fundFlowColumns); err != nil {
		return FundFlow{}, err
	}
	var ff FundFlow
	ff.Rows = make([]FundFlowRow, 0, len(t.rows))
	for i, l := range t.rows {
		c := &cells{l: l, idx: idx, fields: t.fields[i]}
		r := FundFlowRow{
			Time: c.time(colBookedAt, false), BusinessNo: c.str(colBusinessNo), FlowNo: c.str(colFlowNo),
			BizName: c.str(colBizName), BizType: c.str(colBizType), Direction: Direction(c.str(colDirection)),
			AmountFen: c.fen(colAmount, int64(cloudpay.MaxFen)), BalanceFen: c.fen(colBalance, maxTotalFen),
			Applicant: c.str(colApplicant), Remark: c.str(colRemark), VoucherNo: c.str(colVoucherNo),
		}
		switch {
		case c.err != nil:
			return FundFlow{}, c.err
		case r.Direction != Income && r.Direction != Expense:
			return FundFlow{}, errorf(l.n, colDirection, "%q is neither %s nor %s", string(r.Direction), Income, Expense)
		case r.AmountFen < 0:
			return FundFlow{}, errorf(l.n, colAmount, "%s is negative: the direction says which way it went", r.AmountFen)
		}
		ff.Rows = append(ff.Rows, r)
	}

	tidx := columns(t.totalsCols)
	if err := requireColumns(t.totalsHeader, tidx, fundFlowTotalsColumns); err != nil {
		return FundFlow{}, err
	}
	sum := FundFlowTotalsOf(ff.Rows)
	c := &cells{l: t.totals, idx: tidx, fields: t.totalsFields}
	got := FundFlowTotals{
		Count: c.count(colFlowCount), IncomeCount: c.count(colIncomeCount),
		IncomeFen: c.fen(colIncomeAmount, maxTotalFen), ExpenseCount: c.count(colExpenseCount),
		ExpenseFen: c.fen(colExpenseAmount, maxTotalFen),
	}
	if c.err != nil {
		return FundFlow{}, c.err
	}
	for _, chk := range []struct {
		col       string
		got, want int64
		render    func(int64) string
	}{
		{colFlowCount, int64(got.Count), int64(sum.Count), countText},
		{colIncomeCount, int64(got.IncomeCount), int64(sum.IncomeCount), countText},
		{colIncomeAmount, int64(got.IncomeFen), int64(sum.IncomeFen), fenText},
		{colExpenseCount, int64(got.ExpenseCount), int64(sum.ExpenseCount), countText},
		{colExpenseAmount, int64(got.ExpenseFen), int64(sum.ExpenseFen), fenText},
	} {
		if err := checkSum(t.totals, chk.col, chk.got, chk.want, chk.render); err != nil {
			return FundFlow{}, err
		}
	}
	ff.Totals = sum
	return ff, nil
}

// FormatFundFlow writes f as WeChat Pay does: WeChat's columns and order,
// backticked rows, f.Totals as given (see NewFundFlow), counts as whole
// numbers, LF line ends.
func FormatFundFlow(f FundFlow) []byte {
	var w writer
	w.header(fundFlowColumns)
	for _, r := range f.Rows {
		w.row([]string{
			timeText(r.Time), text(r.BusinessNo), text(r.FlowNo), text(r.BizName), text(r.BizType),
			text(string(r.Direction)), r.AmountFen.String(), r.BalanceFen.String(), text(r.Applicant),
			text(r.Remark), text(r.VoucherNo),
		})
	}
	w.header(fundFlowTotalsColumns)
	t := f.Totals
	w.row([]string{
		countText(int64(t.Count)), countText(int64(t.IncomeCount)), t.IncomeFen.String(),
		countText(int64(t.ExpenseCount)), t.ExpenseFen.String(),
	})
	return w.b.Bytes()
}
