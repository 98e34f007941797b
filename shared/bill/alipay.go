package bill

// Alipay's daily trade bill (业务明细). See docs/bills.md §7 for the facts and
// their sources.
//
// alipay.data.dataservice.bill.downloadurl.query with bill_type=trade
// answers a bill_download_url; GETting it returns a ZIP
// ({account}_{yyyyMMdd}.csv.zip) of two CSV files whose names and contents
// are GBK with no UTF-8 flag: {account}_{yyyyMMdd}_业务明细.csv (the
// detail, parsed here) and {account}_{yyyyMMdd}_业务明细(汇总).csv (the
// summary, not parsed). The detail file:
//
//	"#" lines: 支付宝业务明细查询, 账号：[…], 起始日期：[…]   终止日期：[…], a start marker
//	a header row of Chinese column names, separated by commas
//	one row per payment (业务类型 交易) or refund (退款); long numbers carry a
//	    trailing TAB so that Excel keeps them as text
//	"#" lines: the end marker (…业务明细列表结束…), 交易合计：N笔…,
//	    退款合计：M笔…, 导出时间：[…]
//
// The parser maps columns by name (ASCII or full-width parentheses),
// ignores columns it does not know, trims spaces and TABs around fields,
// requires the end marker (a file cut short is an error) and checks the
// counts of 交易合计 and 退款合计 against the rows (not their sums: no source
// says exactly what they add up). Amounts are read exactly into
// cloudpay.Fen.
//
// Quoting: no source shows how Alipay writes a field holding a comma or a
// double quote. The rows are read with encoding/csv (RFC 4180 quoting, bare
// quotes in unquoted fields tolerated), so Alipay's unquoted fields read as
// they are, and the formatter quotes a field holding a comma or a double
// quote, or starting with "#" (a row must not read as a comment line). A
// field cannot hold a line break: the formatter writes CR and LF as spaces.

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Alipay business types (业务类型).
const (
	AlipayPayment = "交易"
	AlipayRefund  = "退款"
)

// AlipayTrade is one day of Alipay's trade bill (the 业务明细 file).
type AlipayTrade struct {
	Account    string    // 账号, the PID and 0156
	Day        time.Time // the Beijing day (midnight, cloudpay.Beijing)
	Rows       []AlipayRow
	ExportedAt time.Time // 导出时间 (UTC); zero: not written/not present
}

// AlipayRow is one row of the detail: a payment or a refund.
type AlipayRow struct {
	TradeNo       string       // 支付宝交易号
	OutTradeNo    string       // 商户订单号
	Type          string       // 业务类型: AlipayPayment or AlipayRefund
	Subject       string       // 商品名称
	CreatedAt     time.Time    // 创建时间 (UTC)
	FinishedAt    time.Time    // 完成时间 (UTC): the payment's or the refund's
	Buyer         string       // 对方账户
	TotalFen      cloudpay.Fen // 订单金额（元）: negative on refund rows
	ReceivedFen   cloudpay.Fen // 商家实收（元）: negative on refund rows
	OutRequestNo  string       // 退款批次号/请求号 (refund rows)
	ServiceFeeFen cloudpay.Fen // 服务费（元）: negative when charged, positive when returned
	Note          string       // 备注
}

// Detail columns, as Alipay names them (full-width parentheses).
const (
	colAliTradeNo      = "支付宝交易号"
	colAliOutTradeNo   = "商户订单号"
	colAliType         = "业务类型"
	colAliSubject      = "商品名称"
	colAliCreated      = "创建时间"
	colAliFinished     = "完成时间"
	colAliStoreNo      = "门店编号"
	colAliStoreName    = "门店名称"
	colAliOperator     = "操作员"
	colAliTerminal     = "终端号"
	colAliBuyer        = "对方账户"
	colAliTotal        = "订单金额（元）"
	colAliReceived     = "商家实收（元）"
	colAliRedPacket    = "支付宝红包（元）"
	colAliJifenbao     = "集分宝（元）"
	colAliDiscount     = "支付宝优惠（元）"
	colAliMchDiscount  = "商家优惠（元）"
	colAliCoupon       = "券核销金额（元）"
	colAliCouponName   = "券名称"
	colAliMchRedPacket = "商家红包消费金额（元）"
	colAliCard         = "卡消费金额（元）"
	colAliOutRequestNo = "退款批次号/请求号"
	colAliServiceFee   = "服务费（元）"
	colAliShare        = "分润（元）"
	colAliNote         = "备注"
)

var (
	// alipayColumns are the detail's columns in Alipay's order.
	alipayColumns = []string{colAliTradeNo, colAliOutTradeNo, colAliType, colAliSubject, colAliCreated,
		colAliFinished, colAliStoreNo, colAliStoreName, colAliOperator, colAliTerminal, colAliBuyer,
		colAliTotal, colAliReceived, colAliRedPacket, colAliJifenbao, colAliDiscount, colAliMchDiscount,
		colAliCoupon, colAliCouponName, colAliMchRedPacket, colAliCard, colAliOutRequestNo,
		colAliServiceFee, colAliShare, colAliNote}
	// alipayRequired are the columns AlipayRow is read from.
	alipayRequired = []string{colAliTradeNo, colAliOutTradeNo, colAliType, colAliSubject, colAliCreated,
		colAliFinished, colAliBuyer, colAliTotal, colAliReceived, colAliOutRequestNo, colAliServiceFee,
		colAliNote}
	// asciiParens reads a header written with ASCII parentheses.
	asciiParens = strings.NewReplacer("(", "（", ")", "）")
)

// The "#" lines of the detail file.
const (
	alipayTitle       = "#支付宝业务明细查询"
	alipayStartMarker = "#-----------------------------------------业务明细列表----------------------------------------"
	alipayEnd         = "业务明细列表结束"
	alipayEndMarker   = "#-----------------------------------------" + alipayEnd + "------------------------------------"
	// Names of "#name：value" lines (a reader takes an ASCII colon too).
	alipayAccount  = "账号"
	alipayStart    = "起始日期"
	alipayPayments = "交易合计"
	alipayRefunds  = "退款合计"
	alipayExported = "导出时间"
	// alipayDateLayout is the "#" lines' time format, in Beijing time.
	alipayDateLayout = "2006年01月02日 15:04:05"
)

// Limits against a hostile ZIP: the detail file is at most
// maxAlipayDetailBytes uncompressed (a day of a busy merchant is far less),
// and an archive of more than maxAlipayEntries entries (Alipay's has two;
// older downloads had four) is refused.
const (
	maxAlipayDetailBytes = 64 << 20
	maxAlipayEntries     = 16
)

// alipaySuffix ends the detail file's name (the summary's ends with
// 业务明细(汇总).csv).
const alipaySuffix = "业务明细.csv"

// ParseAlipayTradeZip reads the ZIP Alipay serves: it finds the detail file
// (the entry whose GBK-decoded name ends with 业务明细.csv, not the (汇总)
// one), decodes it from GBK and parses it. Errors are *ParseError; those
// about the archive itself are on line 1, those in the detail file on its
// line.
func ParseAlipayTradeZip(zipData []byte) (AlipayTrade, error) {
	// archive/zip reads the whole central directory, a few hundred bytes of
	// memory per entry, before len(zr.File) can be checked: count the
	// entries' signatures first (compressed data may hold a few by chance).
	if n := bytes.Count(zipData, []byte("PK\x01\x02")); n > 64*maxAlipayEntries {
		return AlipayTrade{}, errorf(1, "", "the archive has about %d entries, more than %d", n, maxAlipayEntries)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipData), int64(len(zipData)))
	// ErrInsecurePath (a name like ../x, or a GBK byte 0x5C read as a
	// backslash) does not matter: nothing is written to disk.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return AlipayTrade{}, errorf(1, "", "not a ZIP archive: %v", err)
	}
	if len(zr.File) > maxAlipayEntries {
		return AlipayTrade{}, errorf(1, "", "the archive has %d entries, more than %d", len(zr.File), maxAlipayEntries)
	}
	var detail *zip.File
	names := make([]string, 0, len(zr.File))
	for _, f := range zr.File {
		name := f.Name
		if f.Flags&0x800 == 0 { // no UTF-8 flag: the name is GBK
			text, _ := decodeGBK([]byte(name))
			name = string(text)
		}
		names = append(names, strconv.Quote(name))
		if !strings.HasSuffix(name, alipaySuffix) {
			continue
		}
		if detail != nil {
			return AlipayTrade{}, errorf(1, "", "the archive has two detail files (*%s)", alipaySuffix)
		}
		detail = f
	}
	if detail == nil {
		return AlipayTrade{}, errorf(1, "", "the archive has no detail file (*%s) among %s", alipaySuffix, strings.Join(names, ", "))
	}
	raw, err := readZipEntry(detail, maxAlipayDetailBytes)
	if err != nil {
		return AlipayTrade{}, errorf(1, "", "the detail file: %v", err)
	}
	text, bad := decodeGBK(raw)
	if bad >= 0 { // a trail byte is never '\n': the line is the lead byte's
		return AlipayTrade{}, errorf(1+bytes.Count(raw[:bad], []byte("\n")), "", "the line is not GBK")
	}
	return ParseAlipayTrade(text)
}

// readZipEntry reads f whole, refusing more than limit bytes whatever its
// header claims.
func readZipEntry(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%d bytes uncompressed, more than %d", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes uncompressed", limit)
	}
	return b, nil
}

// ParseAlipayTrade parses the detail file, already decoded to UTF-8.
// Row times are returned in UTC, Day at midnight in cloudpay.Beijing. Every
// error is a *ParseError naming the line (and the column) at fault.
func ParseAlipayTrade(data []byte) (AlipayTrade, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var (
		t                  AlipayTrade
		header             *line
		body               []line // the header and the rows
		ended              bool
		last               int
		payments, refunds  []alipayCount
		numPay, numRefunds int
	)
	for n := 1; len(data) > 0; n++ {
		raw := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		last = n
		raw = bytes.TrimSuffix(raw, []byte("\r"))
		if !utf8.Valid(raw) {
			return AlipayTrade{}, errorf(n, "", "the line is not UTF-8")
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		l := line{n, string(raw)}
		if !strings.HasPrefix(l.text, "#") {
			if ended {
				return AlipayTrade{}, errorf(n, "", "unexpected row after the end marker (%s)", alipayEnd)
			}
			if header == nil {
				header = &l
			}
			body = append(body, l)
			continue
		}
		if header != nil && strings.Contains(l.text, alipayEnd) {
			ended = true
			continue
		}
		name, value, ok := hashLine(l.text)
		if !ok {
			continue // a comment
		}
		var err error
		switch name {
		case alipayAccount:
			t.Account, err = bracketed(l, name, value)
		case alipayStart:
			var start time.Time
			if start, err = alipayTime(l, name, value); err == nil {
				t.Day = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, cloudpay.Beijing)
			}
		case alipayExported:
			var at time.Time
			if at, err = alipayTime(l, name, value); err == nil {
				t.ExportedAt = at.UTC()
			}
		case alipayPayments, alipayRefunds:
			var c alipayCount
			if c, err = countOf(l, name, value); err == nil && name == alipayPayments {
				payments = append(payments, c)
			} else if err == nil {
				refunds = append(refunds, c)
			}
		}
		if err != nil {
			return AlipayTrade{}, err
		}
	}
	if header == nil {
		if last == 0 {
			return AlipayTrade{}, errorf(1, "", "the bill is empty")
		}
		return AlipayTrade{}, errorf(last+1, "", "the header row is missing")
	}
	if !ended {
		return AlipayTrade{}, errorf(last+1, "", "the end marker (a # line with %s) is missing: the file is cut short", alipayEnd)
	}

	records, err := readCSV(body)
	if err != nil {
		return AlipayTrade{}, err
	}
	cols := records[0]
	idx := make(map[string]int, len(cols))
	for i, c := range cols {
		c = asciiParens.Replace(c)
		if c == "" {
			continue // unnamed: ignored like any column not known
		}
		if _, dup := idx[c]; dup {
			return AlipayTrade{}, errorf(header.n, c, "the column appears twice in the header")
		}
		idx[c] = i
	}
	if err := requireColumns(*header, idx, alipayRequired); err != nil {
		return AlipayTrade{}, err
	}
	t.Rows = make([]AlipayRow, 0, len(records)-1)
	for i, fields := range records[1:] {
		r, err := alipayRowOf(&cells{l: body[i+1], idx: idx, fields: fields})
		if err != nil {
			return AlipayTrade{}, err
		}
		if r.Type == AlipayPayment {
			numPay++
		} else {
			numRefunds++
		}
		t.Rows = append(t.Rows, r)
	}
	for _, c := range payments {
		if c.n != numPay {
			return AlipayTrade{}, errorf(c.l.n, "", "交易合计 says %d payments, the rows hold %d", c.n, numPay)
		}
	}
	for _, c := range refunds {
		if c.n != numRefunds {
			return AlipayTrade{}, errorf(c.l.n, "", "退款合计 says %d refunds, the rows hold %d", c.n, numRefunds)
		}
	}
	return t, nil
}

// readCSV splits the header and the rows into trimmed fields: every row
// must have as many as the header, and stay on its line.
func readCSV(body []line) ([][]string, error) {
	texts := make([]string, len(body))
	ends := make([]int64, len(body)) // the input offset after each line
	var off int64
	for i, l := range body {
		texts[i] = l.text
		off += int64(len(l.text)) + 1
		ends[i] = off
	}
	r := csv.NewReader(strings.NewReader(strings.Join(texts, "\n")))
	r.LazyQuotes = true
	r.FieldsPerRecord = 0 // the header's
	records := make([][]string, 0, len(body))
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, csv.ErrFieldCount) {
			var pe *csv.ParseError
			if !errors.As(err, &pe) || pe.StartLine < 1 || pe.StartLine > len(body) {
				return nil, errorf(body[len(body)-1].n, "", "%v", err)
			}
			return nil, errorf(body[pe.StartLine-1].n, "", "%v", pe.Err)
		}
		// A record starts on the line after the last one's and ends there:
		// a quote left open must not swallow the next rows.
		start, _ := r.FieldPos(0)
		at := body[min(max(start, 1), len(body))-1]
		if start != len(records)+1 || r.InputOffset() > ends[start-1] {
			return nil, errorf(at.n, "", "a quoted field runs past the end of the line")
		}
		if err != nil {
			return nil, errorf(at.n, "", "the row has %d fields, the header has %d columns", len(rec), r.FieldsPerRecord)
		}
		for i, f := range rec {
			rec[i] = strings.Trim(f, " \t")
		}
		records = append(records, rec)
	}
	return records, nil
}

// alipayRowOf reads one row and checks it is a payment or a refund with
// amounts of the right sign.
func alipayRowOf(c *cells) (AlipayRow, error) {
	lim := int64(cloudpay.MaxFen)
	r := AlipayRow{
		TradeNo: c.str(colAliTradeNo), OutTradeNo: c.str(colAliOutTradeNo), Type: c.str(colAliType),
		Subject: c.str(colAliSubject), CreatedAt: c.time(colAliCreated, false).UTC(),
		FinishedAt: c.time(colAliFinished, false).UTC(), Buyer: c.str(colAliBuyer),
		TotalFen: c.fen(colAliTotal, lim), ReceivedFen: c.fen(colAliReceived, lim),
		OutRequestNo: c.str(colAliOutRequestNo), ServiceFeeFen: c.fen(colAliServiceFee, lim),
		Note: c.str(colAliNote),
	}
	if c.err != nil {
		return AlipayRow{}, c.err
	}
	switch {
	case r.TradeNo == "":
		c.fail(colAliTradeNo, "empty")
	case r.Type != AlipayPayment && r.Type != AlipayRefund:
		c.fail(colAliType, "%q is neither %s (a payment) nor %s (a refund)", r.Type, AlipayPayment, AlipayRefund)
	case r.Type == AlipayPayment && r.TotalFen <= 0:
		c.fail(colAliTotal, "%s on a payment row: it must be positive", r.TotalFen)
	case r.Type == AlipayPayment && r.ReceivedFen < 0:
		c.fail(colAliReceived, "%s on a payment row: it must not be negative", r.ReceivedFen)
	case r.Type == AlipayRefund && r.TotalFen >= 0:
		c.fail(colAliTotal, "%s on a refund row: it must be negative", r.TotalFen)
	case r.Type == AlipayRefund && r.ReceivedFen > 0:
		c.fail(colAliReceived, "%s on a refund row: it must not be positive", r.ReceivedFen)
	case r.Type == AlipayRefund && r.OutRequestNo == "":
		c.fail(colAliOutRequestNo, "empty on a refund row")
	}
	if c.err != nil {
		return AlipayRow{}, c.err
	}
	return r, nil
}

// alipayCount is what a 交易合计 or 退款合计 line says: N笔.
type alipayCount struct {
	l line
	n int
}

// hashLine cuts a "#name：value" line (full-width or ASCII colon) whose
// name is one the reader knows.
func hashLine(text string) (name, value string, ok bool) {
	for _, name := range []string{alipayAccount, alipayStart, alipayExported, alipayPayments, alipayRefunds} {
		rest, ok := strings.CutPrefix(text, "#"+name)
		if !ok {
			continue
		}
		if v, ok := strings.CutPrefix(rest, "："); ok {
			return name, v, true
		}
		if v, ok := strings.CutPrefix(rest, ":"); ok {
			return name, v, true
		}
	}
	return "", "", false
}

// countOf reads the count of a totals line: "1笔，…" of "#交易合计：1笔，…".
func countOf(l line, name, value string) (alipayCount, error) {
	s, _, ok := strings.Cut(value, "笔")
	n, err := parseCount(s)
	if !ok || err != nil || strings.Contains(s, ".") {
		return alipayCount{}, errorf(l.n, "", "%s is not followed by a count N笔", name)
	}
	return alipayCount{l, n}, nil
}

// bracketed reads "[value]…" of "#账号：[20880000000000000156]".
func bracketed(l line, name, value string) (string, error) {
	rest, ok := strings.CutPrefix(value, "[")
	v, _, closed := strings.Cut(rest, "]")
	if !ok || !closed {
		return "", errorf(l.n, "", "%s is not followed by a [value]", name)
	}
	return v, nil
}

// alipayTime reads the bracketed time of a "#" line, strictly.
func alipayTime(l line, name, value string) (time.Time, error) {
	s, err := bracketed(l, name, value)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.ParseInLocation(alipayDateLayout, s, cloudpay.Beijing)
	if err != nil || t.Format(alipayDateLayout) != s {
		return time.Time{}, errorf(l.n, "", "%s: %q is not a time yyyy年MM月dd日 HH:mm:ss", name, s)
	}
	return t, nil
}

// FormatAlipayTrade writes the detail file as UTF-8 text (for viewing), in
// Alipay's layout: the "#" preamble (账号 when t.Account is set, 起始日期
// and 终止日期 when t.Day is), the header, the rows (TAB after the
// 支付宝交易号, 商户订单号 and 退款批次号/请求号), the end marker, 交易合计 and
// 退款合计 with the rows' counts and 商家实收 sums, 导出时间 when set. Columns
// AlipayRow does not hold are written empty or 0.00. Lines end with LF.
func FormatAlipayTrade(t AlipayTrade) []byte {
	var b bytes.Buffer
	b.WriteString(alipayTitle + "\n")
	writeAlipayPreamble(&b, t)
	b.WriteString(alipayStartMarker + "\n")
	b.WriteString(strings.Join(alipayColumns, ",") + "\n")
	var numPay, numRefunds int
	var payFen, refundFen cloudpay.Fen
	fields := make([]string, len(alipayColumns))
	for _, r := range t.Rows {
		if r.Type == AlipayRefund {
			numRefunds++
			refundFen += r.ReceivedFen
		} else {
			numPay++
			payFen += r.ReceivedFen
		}
		for i, col := range alipayColumns {
			fields[i] = csvField(alipayField(r, col))
		}
		b.WriteString(strings.Join(fields, ",") + "\n")
	}
	b.WriteString(alipayEndMarker + "\n")
	fmt.Fprintf(&b, "#%s：%d笔，商家实收共%s元，商家优惠共0.00元\n", alipayPayments, numPay, payFen)
	fmt.Fprintf(&b, "#%s：%d笔，商家实收退款共%s元，商家优惠退款共0.00元\n", alipayRefunds, numRefunds, refundFen)
	writeAlipayExported(&b, t)
	return b.Bytes()
}

// writeAlipayPreamble writes the 账号 and date lines both files share.
func writeAlipayPreamble(b *bytes.Buffer, t AlipayTrade) {
	if t.Account != "" {
		fmt.Fprintf(b, "#%s：[%s]\n", alipayAccount, oneLine(t.Account))
	}
	if !t.Day.IsZero() {
		day := t.Day.In(cloudpay.Beijing)
		start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, cloudpay.Beijing)
		fmt.Fprintf(b, "#%s：[%s]   终止日期：[%s]\n", alipayStart,
			start.Format(alipayDateLayout), start.AddDate(0, 0, 1).Format(alipayDateLayout))
	}
}

// writeAlipayExported writes the 导出时间 line both files end with.
func writeAlipayExported(b *bytes.Buffer, t AlipayTrade) {
	if !t.ExportedAt.IsZero() {
		fmt.Fprintf(b, "#%s：[%s]\n", alipayExported, t.ExportedAt.In(cloudpay.Beijing).Format(alipayDateLayout))
	}
}

func alipayField(r AlipayRow, col string) string {
	switch col {
	case colAliTradeNo:
		return numberText(r.TradeNo)
	case colAliOutTradeNo:
		return numberText(r.OutTradeNo)
	case colAliType:
		return r.Type
	case colAliSubject:
		return r.Subject
	case colAliCreated:
		return timeText(r.CreatedAt)
	case colAliFinished:
		return timeText(r.FinishedAt)
	case colAliBuyer:
		return r.Buyer
	case colAliTotal:
		return r.TotalFen.String()
	case colAliReceived:
		return r.ReceivedFen.String()
	case colAliOutRequestNo:
		return numberText(r.OutRequestNo)
	case colAliServiceFee:
		return r.ServiceFeeFen.String()
	case colAliNote:
		return r.Note
	case colAliRedPacket, colAliJifenbao, colAliDiscount, colAliMchDiscount, colAliCoupon,
		colAliMchRedPacket, colAliCard, colAliShare:
		return "0.00"
	}
	return "" // 门店编号, 门店名称, 操作员, 终端号, 券名称
}

// numberText writes a long number as Alipay does, with a TAB after it so
// that Excel keeps it as text.
func numberText(s string) string {
	if s == "" {
		return ""
	}
	return s + "\t"
}

// oneLine writes CR and LF as spaces: no field or "#" value may break its
// line.
var oneLineReplacer = strings.NewReplacer("\r", " ", "\n", " ")

func oneLine(s string) string { return oneLineReplacer.Replace(s) }

// csvField quotes a field as RFC 4180 does when it holds a comma or a
// double quote, and when it starts with "#" (a row must not read as a
// comment line).
func csvField(s string) string {
	s = oneLine(s)
	if !strings.ContainsAny(s, `,"`) && !strings.HasPrefix(s, "#") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// alipaySummaryColumns are the summary's columns, after integrators'
// parsers.
var alipaySummaryColumns = []string{"门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）",
	"商家实收（元）", "支付宝优惠（元）", "商家优惠（元）", "卡消费金额（元）", "服务费（元）", "分润（元）", "实收净额（元）"}

// formatAlipaySummary writes an approximation of the summary file
// (业务明细(汇总)): one row for the rows (cloudpay has no stores) and the
// 合计 row. 实收净额 is 商家实收 plus 服务费 (a fee charged is negative).
func formatAlipaySummary(t AlipayTrade) []byte {
	var b bytes.Buffer
	b.WriteString("#支付宝业务汇总查询\n")
	writeAlipayPreamble(&b, t)
	b.WriteString("#-----------------------------------------业务汇总列表----------------------------------------\n")
	b.WriteString(strings.Join(alipaySummaryColumns, ",") + "\n")
	var numPay, numRefunds int
	var total, received, fee cloudpay.Fen
	for _, r := range t.Rows {
		if r.Type == AlipayRefund {
			numRefunds++
		} else {
			numPay++
		}
		total += r.TotalFen
		received += r.ReceivedFen
		fee += r.ServiceFeeFen
	}
	sums := fmt.Sprintf("%d,%d,%s,%s,0.00,0.00,0.00,%s,0.00,%s", numPay, numRefunds, total, received, fee, received+fee)
	b.WriteString(",," + sums + "\n")
	b.WriteString("合计,," + sums + "\n")
	b.WriteString("#-----------------------------------------业务汇总列表结束------------------------------------\n")
	writeAlipayExported(&b, t)
	return b.Bytes()
}

// FormatAlipayTradeZip writes the ZIP as Alipay serves it (both files, GBK
// names and contents, no UTF-8 flag, CRLF line ends), for the simulator and
// tests. A rune GBK cannot encode (an emoji, a rare ideograph) is written as
// "?", as Java's String.getBytes("GBK") does; the error is for a failing
// writer.
func FormatAlipayTradeZip(t AlipayTrade) ([]byte, error) {
	day := t.Day.In(cloudpay.Beijing).Format("20060102")
	base := oneLine(t.Account) + "_" + day + "_业务明细"
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{
		{base + ".csv", FormatAlipayTrade(t)},
		{base + "(汇总).csv", formatAlipaySummary(t)},
	} {
		h := &zip.FileHeader{Name: string(encodeGBK([]byte(f.name))), Method: zip.Deflate, NonUTF8: true}
		if !t.ExportedAt.IsZero() {
			h.Modified = t.ExportedAt.In(cloudpay.Beijing)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, fmt.Errorf("bill: zip %s: %w", f.name, err)
		}
		if _, err := w.Write(encodeGBK(bytes.ReplaceAll(f.body, []byte("\n"), []byte("\r\n")))); err != nil {
			return nil, fmt.Errorf("bill: zip %s: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("bill: zip: %w", err)
	}
	return buf.Bytes(), nil
}
