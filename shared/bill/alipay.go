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
// The detail is read as a stream (ScanAlipayTradeZip): the ZIP entry
// through its size limit, a GBK decoder, lines of at most 64 KiB, and
// encoding/csv line by line, so that memory stays flat whatever the day's
// rows (a function has 128 MB; reading the text whole copied it five times
// over). ParseAlipayTradeZip collects the rows.
//
// Quoting: no source shows how Alipay writes a field holding a comma or a
// double quote. The rows are read with encoding/csv (RFC 4180 quoting, bare
// quotes in unquoted fields tolerated), so Alipay's unquoted fields read as
// they are, and the formatter quotes a field holding a comma or a double
// quote, or starting with "#" (a row must not read as a comment line). A
// field cannot hold a line break: the formatter writes CR and LF as spaces.

import (
	"archive/zip"
	"bufio"
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
// older downloads had four) is refused. A line holds at most
// maxAlipayLineBytes before its LF (a row is a few hundred bytes), so that
// no input makes the reader buffer more.
const (
	maxAlipayDetailBytes = 64 << 20
	maxAlipayEntries     = 16
	maxAlipayLineBytes   = 64 << 10
)

// alipaySuffix ends the detail file's name (the summary's ends with
// 业务明细(汇总).csv).
const alipaySuffix = "业务明细.csv"

// ParseAlipayTradeZip reads the ZIP Alipay serves: it finds the detail file
// (the entry whose GBK-decoded name ends with 业务明细.csv, not the (汇总)
// one), decodes it from GBK and parses it. Errors are *ParseError; those
// about the archive itself are on line 1, those in the detail file on its
// line. It holds every row: ScanAlipayTradeZip does not.
func ParseAlipayTradeZip(zipData []byte) (AlipayTrade, error) {
	var rows []AlipayRow
	t, err := ScanAlipayTradeZip(zipData, func(r AlipayRow) error {
		rows = append(rows, r)
		return nil
	})
	return withRows(t, rows, err)
}

// ScanAlipayTradeZip reads the detail file of Alipay's ZIP row by row,
// calling row for each (in file order) without holding the file's text; the
// preamble (account, day) is in the returned AlipayTrade, whose Rows stay
// nil. An error from row stops the scan and is returned.
//
// Rows come before the file is known whole: after an error, those given
// were of a bill that is refused. The refusals are ParseAlipayTradeZip's,
// and where a file has several the same one is reported: as by a reader of
// the whole file, an error reading the archive first, then the first byte
// sequence that is not GBK, then the parser's.
func ScanAlipayTradeZip(zipData []byte, row func(AlipayRow) error) (AlipayTrade, error) {
	detail, err := alipayDetailFile(zipData)
	if err != nil {
		return AlipayTrade{}, err
	}
	if detail.UncompressedSize64 > maxAlipayDetailBytes {
		return AlipayTrade{}, errorf(1, "", "the detail file: %d bytes uncompressed, more than %d",
			detail.UncompressedSize64, maxAlipayDetailBytes)
	}
	rc, err := detail.Open()
	if err != nil {
		return AlipayTrade{}, errorf(1, "", "the detail file: %v", err)
	}
	defer rc.Close()
	src := &limitedEntry{r: rc, limit: maxAlipayDetailBytes}
	dec := newGBKReader(src)
	var rowErr error
	t, err := ScanAlipayTrade(dec, func(r AlipayRow) error {
		if dec.bad >= 0 {
			return errNotGBK // reported below
		}
		rowErr = row(r)
		return rowErr
	})
	if rowErr != nil {
		return AlipayTrade{}, rowErr
	}
	if err != nil {
		// The rest may hold an error that comes first.
		_, _ = io.Copy(io.Discard, dec)
	}
	switch {
	case src.err != nil:
		return AlipayTrade{}, errorf(1, "", "the detail file: %v", src.err)
	case dec.bad >= 0:
		return AlipayTrade{}, errorf(dec.badLine, "", "the line is not GBK")
	case err != nil:
		return AlipayTrade{}, err
	}
	return t, nil
}

// errNotGBK stops a scan at a row read after a sequence that is not GBK.
var errNotGBK = errors.New("bill: not GBK")

// alipayDetailFile finds the detail file in the archive.
func alipayDetailFile(zipData []byte) (*zip.File, error) {
	// archive/zip reads the whole central directory, a few hundred bytes of
	// memory per entry, before len(zr.File) can be checked: count the
	// entries' signatures first (compressed data may hold a few by chance).
	if n := bytes.Count(zipData, []byte("PK\x01\x02")); n > 64*maxAlipayEntries {
		return nil, errorf(1, "", "the archive has about %d entries, more than %d", n, maxAlipayEntries)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipData), int64(len(zipData)))
	// ErrInsecurePath (a name like ../x, or a GBK byte 0x5C read as a
	// backslash) does not matter: nothing is written to disk.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, errorf(1, "", "not a ZIP archive: %v", err)
	}
	if len(zr.File) > maxAlipayEntries {
		return nil, errorf(1, "", "the archive has %d entries, more than %d", len(zr.File), maxAlipayEntries)
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
			return nil, errorf(1, "", "the archive has two detail files (*%s)", alipaySuffix)
		}
		detail = f
	}
	if detail == nil {
		return nil, errorf(1, "", "the archive has no detail file (*%s) among %s", alipaySuffix, strings.Join(names, ", "))
	}
	return detail, nil
}

// limitedEntry reads a ZIP entry, refusing more than limit bytes whatever
// its header claims. err is the first error but io.EOF; it sticks.
type limitedEntry struct {
	r        io.Reader
	n, limit int64 // n bytes read
	err      error
}

func (e *limitedEntry) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	p = p[:min(int64(len(p)), e.limit+1-e.n)]
	n, err := e.r.Read(p)
	e.n += int64(n)
	switch {
	case err != nil && err != io.EOF:
		e.err = err
	case e.n > e.limit:
		e.err = fmt.Errorf("more than %d bytes uncompressed", e.limit)
	default:
		return n, err
	}
	return n, e.err
}

// ParseAlipayTrade parses the detail file, already decoded to UTF-8.
// Row times are returned in UTC, Day at midnight in cloudpay.Beijing. Every
// error is a *ParseError naming the line (and the column) at fault.
func ParseAlipayTrade(data []byte) (AlipayTrade, error) {
	var rows []AlipayRow
	t, err := ScanAlipayTrade(bytes.NewReader(data), func(r AlipayRow) error {
		rows = append(rows, r)
		return nil
	})
	return withRows(t, rows, err)
}

// withRows is the result of a scan that collected rows (none is an empty
// slice, not nil).
func withRows(t AlipayTrade, rows []AlipayRow, err error) (AlipayTrade, error) {
	if err != nil {
		return AlipayTrade{}, err
	}
	if rows == nil {
		rows = []AlipayRow{}
	}
	t.Rows = rows
	return t, nil
}

// ScanAlipayTrade is ScanAlipayTradeZip for the detail file already
// decoded to UTF-8, read from r line by line. Its errors are those of
// ParseAlipayTrade, row's, and r's (wrapped).
func ScanAlipayTrade(r io.Reader, row func(AlipayRow) error) (AlipayTrade, error) {
	s := alipayScan{row: row}
	s.csv = csv.NewReader(&s.feed)
	s.csv.LazyQuotes = true
	s.csv.FieldsPerRecord = -1 // counted against the header's here
	s.csv.ReuseRecord = true
	br := bufio.NewReader(r)
	if bom, err := br.Peek(len("\ufeff")); string(bom) == "\ufeff" {
		_, _ = br.Discard(len(bom))
	} else if err != nil && err != io.EOF {
		return AlipayTrade{}, fmt.Errorf("bill: reading the bill: %w", err)
	}
	var long []byte // a line longer than br's buffer
	last := 0
	for n := 1; ; n++ {
		text, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], text...)
			for err == bufio.ErrBufferFull && len(long) <= maxAlipayLineBytes {
				text, err = br.ReadSlice('\n')
				long = append(long, text...)
			}
			text = long
		}
		text = bytes.TrimSuffix(text, []byte("\n"))
		if err == bufio.ErrBufferFull || len(text) > maxAlipayLineBytes {
			return AlipayTrade{}, errorf(n, "", "the line is longer than %d bytes", maxAlipayLineBytes)
		}
		if err != nil && err != io.EOF {
			return AlipayTrade{}, fmt.Errorf("bill: reading the bill: %w", err)
		}
		if err == io.EOF && len(text) == 0 {
			break
		}
		last = n
		if lerr := s.line(n, bytes.TrimSuffix(text, []byte("\r"))); lerr != nil {
			return AlipayTrade{}, lerr
		}
		if err == io.EOF {
			break
		}
	}
	return s.end(last)
}

// alipayScan is ScanAlipayTrade between two lines.
//
// The refusals are reported as a reader of the whole file would: the first
// of a line itself (too long, not UTF-8, a "#" line unreadable, a row after
// the end marker) at once, then a missing header or end marker, then the
// first CSV error, then the first other error of the header or the rows,
// then the counts. So an error in the rows is kept (and rows stop being
// given) while the lines after it are read.
type alipayScan struct {
	t                 AlipayTrade
	row               func(AlipayRow) error
	header            int  // the header's line; 0 before it
	ended             bool // the end marker was read
	csv               *csv.Reader
	feed              lineFeed
	idx               map[string]int // the header's columns; nil before it is read
	cols              int            // how many fields the header has
	open              int            // the line of a record a quote left open; 0: none
	openRec           []string
	csvErr, rowErr    error
	numPay, numRefund int
	payments, refunds alipayCounts
}

// line reads the line numbered n (its line end cut).
func (s *alipayScan) line(n int, text []byte) error {
	if !utf8.Valid(text) {
		return errorf(n, "", "the line is not UTF-8")
	}
	if len(bytes.TrimSpace(text)) == 0 {
		return nil
	}
	if text[0] != '#' {
		if s.ended {
			return errorf(n, "", "unexpected row after the end marker (%s)", alipayEnd)
		}
		if s.header == 0 {
			s.header = n
		}
		return s.record(n, text)
	}
	if s.header > 0 && bytes.Contains(text, []byte(alipayEnd)) {
		s.ended = true
		return s.closeOpen()
	}
	l := line{n, string(text)}
	name, value, ok := hashLine(l.text)
	if !ok {
		return nil // a comment
	}
	switch name {
	case alipayAccount:
		account, err := bracketed(l, name, value)
		if err != nil {
			return err
		}
		s.t.Account = account
	case alipayStart:
		start, err := alipayTime(l, name, value)
		if err != nil {
			return err
		}
		s.t.Day = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, cloudpay.Beijing)
	case alipayExported:
		at, err := alipayTime(l, name, value)
		if err != nil {
			return err
		}
		s.t.ExportedAt = at.UTC()
	case alipayPayments, alipayRefunds:
		c, err := countOf(l, name, value)
		if err != nil {
			return err
		}
		if name == alipayPayments {
			s.payments.add(n, c)
		} else {
			s.refunds.add(n, c)
		}
	}
	return nil
}

// record reads the header or a row with encoding/csv; each must stay on
// its line.
func (s *alipayScan) record(n int, text []byte) error {
	if s.csvErr != nil {
		return nil
	}
	if s.open > 0 {
		s.csvErr = errorf(s.open, "", "a quoted field runs past the end of the line")
		s.open, s.openRec = 0, nil
		return nil
	}
	s.feed.set(text)
	rec, err := s.csv.Read()
	if errors.Is(err, errLineEnd) {
		// Another row makes it an error; the end marker ends it here, as
		// the end of a file would.
		s.open, s.openRec = n, rec
		return nil
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		s.csvErr = errorf(n, "", "%v", err)
		return nil
	}
	return s.fields(n, rec)
}

// closeOpen ends, at the end marker, a record a quote left open.
func (s *alipayScan) closeOpen() error {
	if s.open == 0 {
		return nil
	}
	n, rec := s.open, s.openRec
	s.open, s.openRec = 0, nil
	rec[len(rec)-1] = strings.TrimSuffix(rec[len(rec)-1], "\n")
	return s.fields(n, rec)
}

// fields reads the header's or a row's fields, and gives the row to row.
func (s *alipayScan) fields(n int, rec []string) error {
	for i, f := range rec {
		rec[i] = strings.Trim(f, " \t")
	}
	if s.idx == nil {
		s.cols = len(rec)
		s.idx = make(map[string]int, len(rec))
		for i, c := range rec {
			c = asciiParens.Replace(c)
			if c == "" {
				continue // unnamed: ignored like any column not known
			}
			if _, dup := s.idx[c]; dup {
				s.rowErr = errorf(n, c, "the column appears twice in the header")
				return nil
			}
			s.idx[c] = i
		}
		s.rowErr = requireColumns(line{n: n}, s.idx, alipayRequired)
		return nil
	}
	if len(rec) != s.cols {
		s.csvErr = errorf(n, "", "the row has %d fields, the header has %d columns", len(rec), s.cols)
		return nil
	}
	if s.rowErr != nil {
		return nil
	}
	r, err := alipayRowOf(&cells{l: line{n: n}, idx: s.idx, fields: rec})
	if err != nil {
		s.rowErr = err
		return nil
	}
	if r.Type == AlipayPayment {
		s.numPay++
	} else {
		s.numRefund++
	}
	return s.row(r)
}

// end judges the file once its last line, numbered last, is read.
func (s *alipayScan) end(last int) (AlipayTrade, error) {
	switch {
	case s.header == 0 && last == 0:
		return AlipayTrade{}, errorf(1, "", "the bill is empty")
	case s.header == 0:
		return AlipayTrade{}, errorf(last+1, "", "the header row is missing")
	case !s.ended:
		return AlipayTrade{}, errorf(last+1, "", "the end marker (a # line with %s) is missing: the file is cut short", alipayEnd)
	case s.csvErr != nil:
		return AlipayTrade{}, s.csvErr
	case s.rowErr != nil:
		return AlipayTrade{}, s.rowErr
	}
	if c, ok := s.payments.wrong(s.numPay); ok {
		return AlipayTrade{}, errorf(c.line, "", "交易合计 says %d payments, the rows hold %d", c.n, s.numPay)
	}
	if c, ok := s.refunds.wrong(s.numRefund); ok {
		return AlipayTrade{}, errorf(c.line, "", "退款合计 says %d refunds, the rows hold %d", c.n, s.numRefund)
	}
	return s.t, nil
}

// errLineEnd is what a csv.Reader gets from lineFeed past the line: with
// LazyQuotes, a quoted field open there ends, and the record comes with
// this error. The scan then reads no more records (another row is an
// error; the end marker ends the rows).
var errLineEnd = errors.New("bill: end of the line")

// lineFeed gives a csv.Reader one line and its LF, then errLineEnd.
type lineFeed struct {
	text []byte
	lf   bool // the LF is still to give
}

func (f *lineFeed) set(text []byte) { f.text, f.lf = text, true }

func (f *lineFeed) Read(p []byte) (int, error) {
	n := copy(p, f.text)
	f.text = f.text[n:]
	if len(f.text) == 0 && f.lf && n < len(p) {
		p[n] = '\n'
		n++
		f.lf = false
	}
	if n == 0 {
		return 0, errLineEnd
	}
	return n, nil
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

// alipayCounts is what the 交易合计 (or 退款合计) lines say, in constant
// space: the first line, and the first saying another count than it.
// Whatever the rows hold, the first line at odds with them is one of the
// two.
type alipayCounts struct{ first, other alipayCount }

// alipayCount is one line's N笔; line 0: none.
type alipayCount struct{ line, n int }

func (c *alipayCounts) add(line, n int) {
	switch {
	case c.first.line == 0:
		c.first = alipayCount{line, n}
	case c.other.line == 0 && n != c.first.n:
		c.other = alipayCount{line, n}
	}
}

// wrong is the first line whose count is not rows.
func (c *alipayCounts) wrong(rows int) (alipayCount, bool) {
	if c.first.line != 0 && c.first.n != rows {
		return c.first, true
	}
	return c.other, c.other.line != 0
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
func countOf(l line, name, value string) (int, error) {
	s, _, ok := strings.Cut(value, "笔")
	n, err := parseCount(s)
	if !ok || err != nil || strings.Contains(s, ".") {
		return 0, errorf(l.n, "", "%s is not followed by a count N笔", name)
	}
	return n, nil
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
