// Package bill reads and writes WeChat Pay's daily bills: the trade bill
// (交易账单: every payment and refund of a Beijing day) and the fund-flow
// bill (资金账单: every movement of the merchant's basic account). See
// docs/bills.md for the facts and their sources.
//
// Both files have the same shape (sources: the 下载账单 page,
// https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter7_3_9.shtml, and
// https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html):
//
//	a header row of Chinese column names, separated by commas
//	one data row per payment, refund or movement: every field is prefixed
//	    with a backtick (`) so that Excel keeps long numbers intact
//	a totals header row (总交易单数,… or 资金流水总笔数,…)
//	one totals row, its fields backticked too
//
// Amounts are yuan with two decimals and are read exactly into
// cloudpay.Fen, never through a float. Fees (手续费) are printed with five
// decimals ("0.04000") and are read exactly into Fee, a count of
// 0.00001 yuan. Times are Beijing time (Asia/Shanghai, cloudpay.Beijing).
//
// The parsers map columns by name, not position (the three kinds of trade
// bill order their columns differently), ignore columns they do not know,
// accept a UTF-8 byte-order mark, CRLF line ends and blank lines, and check
// the totals row against the rows: a bill whose totals disagree with its
// rows is an error. Every error is a *ParseError naming the line (and the
// column) at fault; no input makes them panic.
//
// A field cannot contain the sequence ",`" (nor a line break): WeChat does
// not escape it, so neither can a reader. The fund-flow bill documents its
// escaping (\x01 becomes a space, CR and LF become the two characters \r and
// \n); the formatters apply that rule to every text field of both bills.
package bill

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// ParseError is a malformed bill: the 1-based line of the input and, where
// one is at fault, the column (by its name in the header).
type ParseError struct {
	Line   int
	Column string
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("bill: line %d: %s: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("bill: line %d: %s", e.Line, e.Msg)
}

func errorf(line int, column, format string, args ...any) *ParseError {
	return &ParseError{Line: line, Column: column, Msg: fmt.Sprintf(format, args...)}
}

// Fee is an amount in units of 0.00001 yuan (a thousandth of a fen): the
// precision WeChat Pay prints fees (手续费) with, e.g. "0.04000". It is
// negative on refund rows (the fee WeChat gives back).
type Fee int64

// FeeUnitsPerFen is how many Fee units make one fen.
const FeeUnitsPerFen = 1000

// FeeOf is f fen as a Fee.
func FeeOf(f cloudpay.Fen) Fee { return Fee(f) * FeeUnitsPerFen }

// Fen returns the fee in fen and whether it is a whole number of fen (WeChat
// rounds fees to the fen and pads them with three zeros).
func (f Fee) Fen() (cloudpay.Fen, bool) {
	return cloudpay.Fen(f / FeeUnitsPerFen), f%FeeUnitsPerFen == 0
}

// String is WeChat's rendering: yuan with five decimals.
func (f Fee) String() string {
	sign := ""
	v := int64(f)
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s%d.%05d", sign, v/100000, v%100000)
}

// timeLayout is the bills' time format, in Beijing time.
const timeLayout = "2006-01-02 15:04:05"

// Bounds on what a bill may hold: one amount at most cloudpay.MaxFen (far
// above any single WeChat payment), a total at most maxTotalFen, a count at
// most maxCount. They keep every sum far from int64 overflow.
const (
	maxTotalFen = 1_000_000_000_000_000 // 10^13 yuan
	maxCount    = 1_000_000_000
)

// line is one line of the input: its 1-based number and its text without
// the line end.
type line struct {
	n    int
	text string
}

// table is a bill cut into its four parts; fields are without their
// backticks.
type table struct {
	header       line
	cols         []string
	rows         []line
	fields       [][]string
	totalsHeader line
	totalsCols   []string
	totals       line
	totalsFields []string
}

// readTable cuts a bill into header, rows, totals header and totals. norm
// maps a header cell to the name the caller knows it by.
func readTable(data []byte, norm func(string) string) (*table, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		return nil, errorf(1, "", "the bill is gzip-compressed: gunzip it first")
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var lines []line
	for n := 1; len(data) > 0; n++ {
		raw := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		raw = bytes.TrimSuffix(raw, []byte("\r"))
		if !utf8.Valid(raw) {
			return nil, errorf(n, "", "the line is not UTF-8")
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		lines = append(lines, line{n, string(raw)})
	}
	if len(lines) == 0 {
		return nil, errorf(1, "", "the bill is empty")
	}
	t := &table{header: lines[0]}
	if strings.HasPrefix(t.header.text, "`") {
		return nil, errorf(t.header.n, "", "the header row is missing: the first line is a data row")
	}
	var err error
	if t.cols, err = headerCells(t.header, norm); err != nil {
		return nil, err
	}
	i := 1
	for ; i < len(lines) && strings.HasPrefix(lines[i].text, "`"); i++ {
		f, err := dataCells(lines[i], len(t.cols), "the header")
		if err != nil {
			return nil, err
		}
		t.rows = append(t.rows, lines[i])
		t.fields = append(t.fields, f)
	}
	last := lines[len(lines)-1].n
	if i >= len(lines) {
		return nil, errorf(last+1, "", "the totals rows are missing: the bill ends after %d data rows", len(t.rows))
	}
	t.totalsHeader = lines[i]
	if t.totalsCols, err = headerCells(t.totalsHeader, norm); err != nil {
		return nil, err
	}
	i++
	if i >= len(lines) {
		return nil, errorf(last+1, "", "the totals row is missing after the totals header")
	}
	t.totals = lines[i]
	if !strings.HasPrefix(t.totals.text, "`") {
		return nil, errorf(t.totals.n, "", "the totals row must have backticked fields like the data rows")
	}
	if t.totalsFields, err = dataCells(t.totals, len(t.totalsCols), "the totals header"); err != nil {
		return nil, err
	}
	if i+1 < len(lines) {
		return nil, errorf(lines[i+1].n, "", "unexpected line after the totals row")
	}
	return t, nil
}

// headerCells splits a header row into its column names.
func headerCells(l line, norm func(string) string) ([]string, error) {
	cells := strings.Split(l.text, ",")
	seen := make(map[string]bool, len(cells))
	for i, c := range cells {
		c = norm(strings.TrimSpace(c))
		if c == "" {
			return nil, errorf(l.n, "", "column %d of the header has no name", i+1)
		}
		if seen[c] {
			return nil, errorf(l.n, c, "the column appears twice in the header")
		}
		seen[c] = true
		cells[i] = c
	}
	return cells, nil
}

// dataCells splits a backticked row into its fields.
func dataCells(l line, want int, against string) ([]string, error) {
	f := strings.Split(l.text[1:], ",`")
	if len(f) != want {
		return nil, errorf(l.n, "", "the row has %d fields, %s has %d columns", len(f), against, want)
	}
	return f, nil
}

// columns indexes a header by name.
func columns(cols []string) map[string]int {
	m := make(map[string]int, len(cols))
	for i, c := range cols {
		m[c] = i
	}
	return m
}

// requireColumns checks that every one of want is in the header.
func requireColumns(l line, idx map[string]int, want []string) error {
	for _, c := range want {
		if _, ok := idx[c]; !ok {
			return errorf(l.n, c, "the column is missing from the header")
		}
	}
	return nil
}

// cells reads typed fields of one row; the first error sticks. A column the
// header does not have reads as the zero value.
type cells struct {
	l      line
	idx    map[string]int
	fields []string
	err    error
}

func (c *cells) raw(col string) (string, bool) {
	i, ok := c.idx[col]
	if !ok || c.err != nil {
		return "", false
	}
	return c.fields[i], true
}

func (c *cells) fail(col, format string, args ...any) {
	if c.err == nil {
		c.err = errorf(c.l.n, col, format, args...)
	}
}

func (c *cells) str(col string) string {
	s, _ := c.raw(col)
	return s
}

// id reads an id column, where WeChat writes 0 for none.
func (c *cells) id(col string) string {
	if s := c.str(col); s != "0" {
		return s
	}
	return ""
}

func (c *cells) fen(col string, max int64) cloudpay.Fen {
	s, ok := c.raw(col)
	if !ok {
		return 0
	}
	v, err := parseDecimal(s, 2, max)
	if err != nil {
		c.fail(col, "%q is not an amount in yuan: %v", s, err)
	}
	return cloudpay.Fen(v)
}

func (c *cells) fee(col string, max int64) Fee {
	s, ok := c.raw(col)
	if !ok {
		return 0
	}
	v, err := parseDecimal(s, 5, max*FeeUnitsPerFen)
	if err != nil {
		c.fail(col, "%q is not a fee in yuan: %v", s, err)
	}
	return Fee(v)
}

func (c *cells) count(col string) int {
	s, ok := c.raw(col)
	if !ok {
		return 0
	}
	v, err := parseCount(s)
	if err != nil {
		c.fail(col, "%q is not a count: %v", s, err)
	}
	return v
}

// time reads a Beijing time; optional allows an empty field (zero time).
func (c *cells) time(col string, optional bool) time.Time {
	s, ok := c.raw(col)
	if !ok || (optional && s == "") {
		return time.Time{}
	}
	t, err := time.ParseInLocation(timeLayout, s, cloudpay.Beijing)
	if err != nil || t.Format(timeLayout) != s {
		c.fail(col, "%q is not a time yyyy-MM-dd HH:mm:ss", s)
		return time.Time{}
	}
	return t
}

// parseDecimal reads an exact decimal with at most decimals decimal places
// as an integer count of 10^-decimals: [-]digits[.digits]. Its absolute
// value must be at most max.
func parseDecimal(s string, decimals int, max int64) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	switch {
	case whole == "":
		return 0, fmt.Errorf("no digits before the decimal point")
	case dot && frac == "":
		return 0, fmt.Errorf("no digits after the decimal point")
	case len(frac) > decimals:
		return 0, fmt.Errorf("more than %d decimals", decimals)
	case len(whole) > 18:
		return 0, fmt.Errorf("out of range")
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, fmt.Errorf("unexpected character %q", part[i])
			}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("out of range")
	}
	scale := int64(1)
	for range decimals {
		scale *= 10
	}
	if w > max/scale {
		return 0, fmt.Errorf("out of range")
	}
	v := w * scale
	if frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64) // at most decimals digits, all checked
		for range decimals - len(frac) {
			f *= 10
		}
		v += f
	}
	if v > max {
		return 0, fmt.Errorf("out of range")
	}
	if neg {
		v = -v
	}
	return v, nil
}

// parseCount reads a count: digits, optionally followed by ".0" (the
// fund-flow bill's documented sample writes counts as 20.0).
func parseCount(s string) (int, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if dot && (frac == "" || strings.Trim(frac, "0") != "") {
		return 0, fmt.Errorf("not a whole number")
	}
	if whole == "" || len(whole) > 10 {
		return 0, fmt.Errorf("not a whole number")
	}
	for i := 0; i < len(whole); i++ {
		if whole[i] < '0' || whole[i] > '9' {
			return 0, fmt.Errorf("not a whole number")
		}
	}
	v, err := strconv.Atoi(whole)
	if err != nil || v > maxCount {
		return 0, fmt.Errorf("out of range")
	}
	return v, nil
}

// writer writes a bill.
type writer struct{ b bytes.Buffer }

// header writes a header row.
func (w *writer) header(cols []string) {
	w.b.WriteString(strings.Join(cols, ","))
	w.b.WriteByte('\n')
}

// row writes a backticked row.
func (w *writer) row(fields []string) {
	for i, f := range fields {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.b.WriteByte('`')
		w.b.WriteString(f)
	}
	w.b.WriteByte('\n')
}

// textEscaper is the fund-flow bill's documented escaping of text fields
// (format-fundflow.html §3): \x01 becomes a space, CR and LF the two
// characters \r and \n.
var textEscaper = strings.NewReplacer("\x01", " ", "\r", `\r`, "\n", `\n`)

func text(s string) string { return textEscaper.Replace(s) }

// idText writes an id where WeChat writes 0 for none.
func idText(s string) string {
	if s == "" {
		return "0"
	}
	return text(s)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cloudpay.Beijing).Format(timeLayout)
}

func checkSum(l line, col string, got, want int64, render func(int64) string) error {
	if got != want {
		return errorf(l.n, col, "the totals row says %s, the rows add up to %s", render(got), render(want))
	}
	return nil
}

func fenText(v int64) string   { return cloudpay.Fen(v).String() }
func feeText(v int64) string   { return Fee(v).String() }
func countText(v int64) string { return strconv.FormatInt(v, 10) }
