package bill_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// alipaySample is the detail file as integrators show it (docs/bills.md §7),
// decoded to UTF-8: a payment and its partial refund.
const alipaySample = "#支付宝业务明细查询\n" +
	"#账号：[20880000000000000156]\n" +
	"#起始日期：[2026年10月03日 00:00:00]   终止日期：[2026年10月04日 00:00:00]\n" +
	"#-----------------------------------------业务明细列表----------------------------------------\n" +
	"支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\n" +
	"2026100322001400000000000001\t,ORDER1\t,交易,洗衣订单,2026-10-03 10:00:00,2026-10-03 10:00:30,,,,,buy***@example.com,35.80,35.80,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.21,0.00,\n" +
	"2026100322001400000000000001\t,ORDER1\t,退款,洗衣订单,2026-10-03 10:00:00,2026-10-03 11:00:00,,,,,buy***@example.com,-10.00,-10.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,REFUND1\t,0.06,0.00,\n" +
	"#-----------------------------------------业务明细列表结束------------------------------------\n" +
	"#交易合计：1笔，商家实收共35.80元，商家优惠共0.00元\n" +
	"#退款合计：1笔，商家实收退款共-10.00元，商家优惠退款共0.00元\n" +
	"#导出时间：[2026年10月04日 09:12:34]\n"

// Lines of alipaySample.
const (
	sampleHeaderLine = 5
	samplePayLine    = 6
	sampleRefundLine = 7
	sampleEndLine    = 8
	samplePayTotals  = 9
)

func utc(s string) time.Time { return beijing(s).UTC() }

func alipaySampleTrade() bill.AlipayTrade {
	return bill.AlipayTrade{
		Account: "20880000000000000156",
		Day:     beijing("2026-10-03 00:00:00"),
		Rows: []bill.AlipayRow{{
			TradeNo: "2026100322001400000000000001", OutTradeNo: "ORDER1", Type: bill.AlipayPayment,
			Subject: "洗衣订单", CreatedAt: utc("2026-10-03 10:00:00"), FinishedAt: utc("2026-10-03 10:00:30"),
			Buyer: "buy***@example.com", TotalFen: 3580, ReceivedFen: 3580, ServiceFeeFen: -21,
		}, {
			TradeNo: "2026100322001400000000000001", OutTradeNo: "ORDER1", Type: bill.AlipayRefund,
			Subject: "洗衣订单", CreatedAt: utc("2026-10-03 10:00:00"), FinishedAt: utc("2026-10-03 11:00:00"),
			Buyer: "buy***@example.com", TotalFen: -1000, ReceivedFen: -1000, OutRequestNo: "REFUND1",
			ServiceFeeFen: 6,
		}},
		ExportedAt: utc("2026-10-04 09:12:34"),
	}
}

// awkwardTrade has fields that need quoting: a comma, a double quote, a
// leading "#", and a whole refund.
func awkwardTrade() bill.AlipayTrade {
	t := alipaySampleTrade()
	t.Rows = append(t.Rows, bill.AlipayRow{
		TradeNo: "2026100322001400000000000002", OutTradeNo: "ORDER,2", Type: bill.AlipayPayment,
		Subject: `洗衣,熨烫 "加急"`, CreatedAt: utc("2026-10-03 23:59:58"), FinishedAt: utc("2026-10-03 23:59:59"),
		Buyer: "#138****0000", TotalFen: 1000000000, ReceivedFen: 0, ServiceFeeFen: 0, Note: "满减,券",
	}, bill.AlipayRow{
		TradeNo: "2026100322001400000000000002", OutTradeNo: "ORDER,2", Type: bill.AlipayRefund,
		Subject: `洗衣,熨烫 "加急"`, CreatedAt: utc("2026-10-03 23:59:58"), FinishedAt: utc("2026-10-04 00:00:01"),
		Buyer: "#138****0000", TotalFen: -1, ReceivedFen: -1, OutRequestNo: `R"1,2`, ServiceFeeFen: 0,
	})
	return t
}

func TestParseAlipayTradeSample(t *testing.T) {
	t.Parallel()
	got, err := bill.ParseAlipayTrade([]byte(alipaySample))
	if err != nil {
		t.Fatal(err)
	}
	if want := alipaySampleTrade(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if got.Day.Location() != cloudpay.Beijing || got.Rows[0].CreatedAt.Location() != time.UTC {
		t.Fatalf("Day in %v, CreatedAt in %v: want Beijing and UTC", got.Day.Location(), got.Rows[0].CreatedAt.Location())
	}
	// The formatter writes the sample back byte for byte.
	if out := string(bill.FormatAlipayTrade(got)); out != alipaySample {
		t.Fatalf("written back:\n%s\nwant\n%s", out, alipaySample)
	}
}

func TestAlipayTradeRoundTrip(t *testing.T) {
	t.Parallel()
	for name, tr := range map[string]bill.AlipayTrade{
		"sample":   alipaySampleTrade(),
		"awkward":  awkwardTrade(),
		"no rows":  {Account: "20880000000000000156", Day: beijing("2026-10-03 00:00:00")},
		"bare":     {Rows: alipaySampleTrade().Rows},
		"exported": {Rows: awkwardTrade().Rows[2:], ExportedAt: utc("2026-10-04 09:00:00")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			text := bill.FormatAlipayTrade(tr)
			got, err := bill.ParseAlipayTrade(text)
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			if tr.Rows == nil {
				tr.Rows = []bill.AlipayRow{}
			}
			if !reflect.DeepEqual(got, tr) {
				t.Fatalf("got  %+v\nwant %+v\n%s", got, tr, text)
			}
			z, err := bill.FormatAlipayTradeZip(tr)
			if err != nil {
				t.Fatal(err)
			}
			if got, err = bill.ParseAlipayTradeZip(z); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tr) {
				t.Fatalf("through the ZIP:\ngot  %+v\nwant %+v", got, tr)
			}
		})
	}
}

// The quoting is encoding/csv's: a field with a comma or a quote is quoted.
func TestFormatAlipayTradeQuotes(t *testing.T) {
	t.Parallel()
	lines := strings.Split(string(bill.FormatAlipayTrade(awkwardTrade())), "\n")
	want := "2026100322001400000000000002\t,\"ORDER,2\t\",交易,\"洗衣,熨烫 \"\"加急\"\"\",2026-10-03 23:59:58,2026-10-03 23:59:59,,,,,\"#138****0000\",10000000.00,0.00,"
	if !strings.HasPrefix(lines[sampleRefundLine], want) {
		t.Fatalf("row:\n%q\nwant it to start with\n%q", lines[sampleRefundLine], want)
	}
	if !strings.HasSuffix(lines[sampleRefundLine+1], ",\"R\"\"1,2\t\",0.00,0.00,") {
		t.Fatalf("refund row %q", lines[sampleRefundLine+1])
	}
	if lines[sampleRefundLine+3] != "#交易合计：2笔，商家实收共35.80元，商家优惠共0.00元" ||
		lines[sampleRefundLine+4] != "#退款合计：2笔，商家实收退款共-10.01元，商家优惠退款共0.00元" {
		t.Fatalf("totals %q, %q", lines[sampleRefundLine+3], lines[sampleRefundLine+4])
	}
}

// What Excel or another tool may do to the file still reads the same: a BOM,
// CRLF, blank lines, columns in another order, unknown columns, ASCII
// parentheses and colons, spaces around fields, "#" lines among the rows.
func TestParseAlipayTradeTolerates(t *testing.T) {
	t.Parallel()
	lines := strings.Split(alipaySample, "\n")
	reorder := func(l string) string {
		f := strings.Split(l, ",")
		// 备注 first, 支付宝交易号 last, a column Alipay added later at the end.
		f[0], f[len(f)-1] = f[len(f)-1], f[0]
		return strings.Join(f, ",")
	}
	lines[sampleHeaderLine-1] = strings.ReplaceAll(reorder(lines[sampleHeaderLine-1]), "（元）", "(元)") + ",实收净额（元）"
	lines[samplePayLine-1] = reorder(strings.ReplaceAll(lines[samplePayLine-1], ",", " ,\t")) + ",35.59"
	lines[sampleRefundLine-1] = reorder(lines[sampleRefundLine-1]) + ",-9.94"
	lines[1] = strings.Replace(lines[1], "：", ":", 1) // 账号 with an ASCII colon
	text := "\ufeff" + strings.Join(lines[:sampleRefundLine-1], "\r\n") + "\r\n\r\n#a comment\r\n" +
		strings.Join(lines[sampleRefundLine-1:], "\r\n")
	got, err := bill.ParseAlipayTrade([]byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if want := alipaySampleTrade(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// Without the "#" lines the rows still read; only the end marker is needed.
func TestParseAlipayTradeWithoutPreamble(t *testing.T) {
	t.Parallel()
	lines := strings.Split(alipaySample, "\n")
	got, err := bill.ParseAlipayTrade([]byte(strings.Join(lines[sampleHeaderLine-1:sampleEndLine], "\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := alipaySampleTrade()
	want.Account, want.Day, want.ExportedAt = "", time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// A line of 64 KiB (before its LF) reads; one byte more is refused
// (TestParseAlipayTradeRefuses).
func TestParseAlipayTradeLongestLine(t *testing.T) {
	t.Parallel()
	got, err := bill.ParseAlipayTrade(replaceLine([]byte(alipaySample), 1, "#"+strings.Repeat("x", 64<<10-1)))
	if err != nil {
		t.Fatal(err)
	}
	if want := alipaySampleTrade(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseAlipayTradeRefuses(t *testing.T) {
	t.Parallel()
	sample := []byte(alipaySample)
	row := func(n int, col int, with string) []byte {
		lines := strings.Split(alipaySample, "\n")
		f := strings.Split(lines[n-1], ",")
		f[col] = with
		return replaceLine(sample, n, strings.Join(f, ","))
	}
	lines := strings.Split(alipaySample, "\n")
	for _, c := range []struct {
		name     string
		data     []byte
		line     int
		column   string
		contains string
	}{
		{"empty", nil, 1, "", "empty"},
		{"no header", []byte(strings.Join(lines[:4], "\n")), 5, "", "header row is missing"},
		{"end marker missing", []byte(strings.Join(lines[:sampleEndLine-1], "\n")), sampleEndLine, "", "end marker"},
		{"cut in a row", sample[:strings.Index(alipaySample, "洗衣订单")], samplePayLine + 1, "", "end marker"},
		{"payments miscounted", replaceLine(sample, samplePayTotals, "#交易合计：2笔，商家实收共35.80元，商家优惠共0.00元"),
			samplePayTotals, "", "交易合计 says 2 payments, the rows hold 1"},
		{"refunds miscounted", replaceLine(sample, samplePayTotals+1, "#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元"),
			samplePayTotals + 1, "", "退款合计 says 0 refunds, the rows hold 1"},
		{"count unreadable", replaceLine(sample, samplePayTotals, "#交易合计：一笔"), samplePayTotals, "", "not followed by a count"},
		{"bad type", row(samplePayLine, 2, "转账"), samplePayLine, "业务类型", `"转账" is neither 交易`},
		{"three decimals", row(samplePayLine, 11, "1.234"), samplePayLine, "订单金额（元）", "more than 2 decimals"},
		{"float", row(samplePayLine, 12, "3.58e1"), samplePayLine, "商家实收（元）", "not an amount"},
		{"plus sign", row(samplePayLine, 22, "+0.21"), samplePayLine, "服务费（元）", "not an amount"},
		{"empty amount", row(samplePayLine, 11, ""), samplePayLine, "订单金额（元）", "not an amount"},
		{"over MaxFen", row(samplePayLine, 11, "10000000.01"), samplePayLine, "订单金额（元）", "out of range"},
		{"payment not positive", row(samplePayLine, 11, "0.00"), samplePayLine, "订单金额（元）", "must be positive"},
		{"payment received negative", row(samplePayLine, 12, "-35.80"), samplePayLine, "商家实收（元）", "must not be negative"},
		{"positive refund", row(sampleRefundLine, 11, "10.00"), sampleRefundLine, "订单金额（元）", "must be negative"},
		{"refund received positive", row(sampleRefundLine, 12, "10.00"), sampleRefundLine, "商家实收（元）", "must not be positive"},
		{"refund without request no", row(sampleRefundLine, 21, ""), sampleRefundLine, "退款批次号/请求号", "empty on a refund row"},
		{"no trade no", row(samplePayLine, 0, "\t"), samplePayLine, "支付宝交易号", "empty"},
		{"bad time", row(samplePayLine, 4, "2026-10-03 25:00:00"), samplePayLine, "创建时间", "not a time"},
		{"loose time", row(samplePayLine, 5, "2026-10-3 10:00:30"), samplePayLine, "完成时间", "not a time"},
		{"missing column", replaceLine(sample, sampleHeaderLine, strings.Replace(lines[sampleHeaderLine-1], "服务费（元）", "手续费（元）", 1)),
			sampleHeaderLine, "服务费（元）", "missing"},
		{"column twice", replaceLine(sample, sampleHeaderLine, strings.Replace(lines[sampleHeaderLine-1], "分润（元）", "服务费(元)", 1)),
			sampleHeaderLine, "服务费（元）", "twice"},
		{"field missing", replaceLine(sample, sampleRefundLine, strings.TrimSuffix(lines[sampleRefundLine-1], ",")),
			sampleRefundLine, "", "the row has 24 fields, the header has 25 columns"},
		{"quote runs over", row(samplePayLine, 3, `"洗衣订单`), samplePayLine, "", "past the end of the line"},
		// On the last row the open quote ends with the line, as at the end of
		// a file, and swallows the fields after it.
		{"quote open on the last row", row(sampleRefundLine, 3, `"洗衣订单`), sampleRefundLine, "", "the row has 4 fields"},
		{"line too long", replaceLine(sample, 2, "#"+strings.Repeat("x", 64<<10)), 2, "", "longer than 65536 bytes"},
		{"line too long, no line end", []byte(strings.Repeat("x", 64<<10+1)), 1, "", "longer than 65536 bytes"},
		{"a bad row, then no end marker", row(samplePayLine, 2, "转账")[:strings.Index(alipaySample, "#---------------------------------------"+
			"--业务明细列表结束")], sampleEndLine, "", "end marker"},
		{"a bad row, then a bad count", replaceLine(row(samplePayLine, 2, "转账"), samplePayTotals, "#交易合计：一笔"), samplePayTotals, "", "not followed by a count"},
		{"a bad row, then a field missing", replaceLine(row(samplePayLine, 2, "转账"), sampleRefundLine, strings.TrimSuffix(lines[sampleRefundLine-1], ",")),
			sampleRefundLine, "", "the row has 24 fields"},
		{"row after the end", replaceLine(sample, samplePayTotals+2, lines[samplePayLine-1]), samplePayTotals + 2, "", "after the end marker"},
		{"not UTF-8", replaceLine(sample, samplePayLine, "\xff\xfe"), samplePayLine, "", "not UTF-8"},
		{"account unreadable", replaceLine(sample, 2, "#账号：20880000000000000156"), 2, "", "账号 is not followed by a [value]"},
		{"start unreadable", replaceLine(sample, 3, "#起始日期：[2026-10-03]"), 3, "", "not a time"},
		{"export time unreadable", replaceLine(sample, 11, "#导出时间：[2026年10月04日 9:12:34]"), 11, "", "not a time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := bill.ParseAlipayTrade(c.data)
			wantParseError(t, err, c.line, c.column, c.contains)
		})
	}
}

// gbk encodes s with the GBK encoder of golang.org/x/text.
func gbk(t *testing.T, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gbkHeaderStart is 支付宝交易号,商户订单号,业务类型 in GBK (iconv -t GBK).
const gbkHeaderStart = "d6a7 b8b6 b1a6 bdbb d2d7 bac5 2c c9cc bba7 b6a9 b5a5 bac5 2c d2b5 cef1 c0e0 d0cd"

type zipEntry struct {
	name []byte
	data []byte
}

// zipOf is an archive of entries, deflated, names without the UTF-8 flag.
func zipOf(t *testing.T, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: string(e.name), Method: zip.Deflate, NonUTF8: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The ZIP as Alipay serves it: two entries, GBK names without the UTF-8
// flag, GBK contents.
func TestFormatAlipayTradeZip(t *testing.T) {
	t.Parallel()
	z, err := bill.FormatAlipayTradeZip(alipaySampleTrade())
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"20880000000000000156_20261003_业务明细.csv", "20880000000000000156_20261003_业务明细(汇总).csv"}
	if len(zr.File) != len(want) {
		t.Fatalf("%d entries, want %d", len(zr.File), len(want))
	}
	for i, f := range zr.File {
		if f.Name != string(gbk(t, want[i])) || f.Flags&0x800 != 0 {
			t.Fatalf("entry %d: name % x, flags %#x; want the GBK bytes of %s, no UTF-8 flag", i, f.Name, f.Flags, want[i])
		}
		if !bytes.Contains([]byte(f.Name), unhex(t, "d2b5 cef1 c3f7 cfb8")) { // 业务明细
			t.Fatalf("entry %d: name % x lacks 业务明细 in GBK", i, f.Name)
		}
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, gbk(t, strings.ReplaceAll(alipaySample, "\n", "\r\n"))) {
		t.Fatalf("the detail is not the sample in GBK with CRLF:\n% x", raw)
	}
	if !bytes.Contains(raw, append([]byte("\n"), unhex(t, gbkHeaderStart)...)) {
		t.Fatalf("the header is not in GBK: % x", raw)
	}
	summary, err := zr.File[1].Open()
	if err != nil {
		t.Fatal(err)
	}
	raw, err = io.ReadAll(summary)
	if err != nil {
		t.Fatal(err)
	}
	text, err := simplifiedchinese.GBK.NewDecoder().Bytes(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		"门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\n",
		"\n合计,,1,1,25.80,25.80,0.00,0.00,0.00,-0.15,0.00,25.65\n",
	} {
		if !bytes.Contains(text, []byte(l)) {
			t.Fatalf("the summary lacks %q:\n%s", l, text)
		}
	}
}

// A detail file written by someone else's GBK encoder (the header's first
// three names as iconv writes them) reads; so does the summary-first order
// and a UTF-8-flagged name.
func TestParseAlipayTradeZipKnownGBK(t *testing.T) {
	t.Parallel()
	rest := strings.TrimPrefix(alipaySample[strings.Index(alipaySample, "支付宝交易号"):], "支付宝交易号,商户订单号,业务类型")
	detail := append(gbk(t, alipaySample[:strings.Index(alipaySample, "支付宝交易号")]), unhex(t, gbkHeaderStart)...)
	detail = append(detail, gbk(t, rest)...)
	for name, z := range map[string][]byte{
		"GBK names": zipOf(t,
			zipEntry{gbk(t, "20880000000000000156_20261003_业务明细(汇总).csv"), gbk(t, "#支付宝业务汇总查询\n")},
			zipEntry{slices.Concat([]byte("20880000000000000156_20261003_"), unhex(t, "d2b5 cef1 c3f7 cfb8"), []byte(".csv")), detail}),
		"UTF-8 name": func() []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			w, err := zw.Create("20880000000000000156_20261003_业务明细.csv") // the writer sets the UTF-8 flag
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(detail); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := bill.ParseAlipayTradeZip(z)
			if err != nil {
				t.Fatal(err)
			}
			if want := alipaySampleTrade(); !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// A rune GBK lacks is written as "?" rather than failing the whole bill.
func TestFormatAlipayTradeZipReplacesWhatGBKLacks(t *testing.T) {
	t.Parallel()
	tr := alipaySampleTrade()
	tr.Rows[0].Subject = "洗衣👕"
	tr.Rows[0].Note = "𠀀\xff€"
	z, err := bill.FormatAlipayTradeZip(tr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bill.ParseAlipayTradeZip(z)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rows[0].Subject != "洗衣?" || got.Rows[0].Note != "??€" || got.Rows[1].Subject != "洗衣订单" {
		t.Fatalf("subject %q, note %q, then %q", got.Rows[0].Subject, got.Rows[0].Note, got.Rows[1].Subject)
	}
}

// deflated is data compressed as a ZIP entry holds it, and its CRC.
func deflated(t *testing.T, data []byte) ([]byte, uint32) {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), crc32.ChecksumIEEE(data)
}

// bomb is a deflated detail file of zeros just over the 64 MiB limit.
func bomb(t *testing.T) (compressed []byte, size uint64, crc uint32) {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	h := crc32.NewIEEE()
	for range 64 {
		fw.Write(zeros)
		h.Write(zeros)
	}
	fw.Write([]byte{0})
	h.Write([]byte{0})
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), 64<<20 + 1, h.Sum32()
}

func TestParseAlipayTradeZipRefuses(t *testing.T) {
	t.Parallel()
	detailName := gbk(t, "20880000000000000156_20261003_业务明细.csv")
	summaryName := gbk(t, "20880000000000000156_20261003_业务明细(汇总).csv")
	detail := gbk(t, alipaySample)
	compressed, size, crc := bomb(t)
	// rawZip holds deflated data with the sizes its header claims.
	rawZip := func(compressed []byte, crc uint32, claimed uint64) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, err := zw.CreateRaw(&zip.FileHeader{Name: string(detailName), Method: zip.Deflate, NonUTF8: true,
			CRC32: crc, CompressedSize64: uint64(len(compressed)), UncompressedSize64: claimed})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(compressed); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	many := make([]zipEntry, 17)
	for i := range many {
		many[i] = zipEntry{[]byte{'a' + byte(i)}, nil}
	}
	many[16] = zipEntry{detailName, detail}
	badGBK := bytes.Replace(detail, gbk(t, "洗衣订单"), []byte{0xd2, 0xff}, 1)
	badCompressed, badCRC := deflated(t, badGBK)
	// 43 KB of GBK, over 64 KiB once decoded.
	longLine := gbk(t, string(replaceLine([]byte(alipaySample), 2, "#"+strings.Repeat("长", 64<<10/3+1))))
	for _, c := range []struct {
		name     string
		data     []byte
		line     int
		contains string
	}{
		{"not a zip", detail, 1, "not a ZIP archive"},
		{"summary only", zipOf(t, zipEntry{summaryName, gbk(t, "#支付宝业务汇总查询\n")}), 1,
			`no detail file (*业务明细.csv) among "20880000000000000156_20261003_业务明细(汇总).csv"`},
		{"two details", zipOf(t, zipEntry{detailName, detail}, zipEntry{append([]byte("x"), detailName...), detail}), 1, "two detail files"},
		{"too many entries", zipOf(t, many...), 1, "17 entries, more than 16"},
		{"too many directory signatures", bytes.Repeat([]byte("PK\x01\x02"), 1025), 1, "about 1025 entries, more than 16"},
		{"bomb", rawZip(compressed, crc, size), 1, "67108865 bytes uncompressed, more than 67108864"},
		// archive/zip stops at the size the header claims; the LimitReader
		// stands behind it.
		{"bomb with a lying header", rawZip(compressed, crc, 1000), 1, "zip: not a valid zip file"},
		{"not GBK", zipOf(t, zipEntry{detailName, badGBK}), samplePayLine, "not GBK"},
		// Whatever the order in the file, an error reading the archive comes
		// first, then the first sequence that is not GBK, then the parser's.
		{"not GBK after a refusal of the parser", zipOf(t, zipEntry{detailName, bytes.Replace(badGBK, gbk(t, "#账号：["), gbk(t, "#账号："), 1)}),
			samplePayLine, "not GBK"},
		{"not GBK, then a read error", rawZip(badCompressed, badCRC, uint64(len(badGBK)-1)), 1, "zip: not a valid zip file"},
		{"a line too long", zipOf(t, zipEntry{detailName, longLine}), 2, "longer than 65536 bytes"},
		{"not GBK after a line too long", zipOf(t, zipEntry{detailName, bytes.Replace(longLine, gbk(t, "洗衣订单"), []byte{0xd2, 0xff}, 1)}),
			samplePayLine, "not GBK"},
		{"UTF-8 inside", zipOf(t, zipEntry{detailName, []byte(alipaySample)}), 1, "not GBK"},
		{"a refusal of the parser", zipOf(t, zipEntry{detailName, gbk(t, strings.Join(strings.Split(alipaySample, "\n")[:sampleEndLine-1], "\n"))}),
			sampleEndLine, "end marker"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := bill.ParseAlipayTradeZip(c.data)
			wantParseError(t, err, c.line, "", c.contains)
		})
	}
}

// ScanAlipayTradeZip gives every row in order and keeps none.
func TestScanAlipayTradeZip(t *testing.T) {
	t.Parallel()
	want := awkwardTrade()
	z, err := bill.FormatAlipayTradeZip(want)
	if err != nil {
		t.Fatal(err)
	}
	var rows []bill.AlipayRow
	got, err := bill.ScanAlipayTradeZip(z, func(r bill.AlipayRow) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows, want.Rows) {
		t.Fatalf("rows given:\n%+v\nwant\n%+v", rows, want.Rows)
	}
	if want.Rows = nil; !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// An error from row stops the scan at once and is returned as it is.
func TestScanAlipayTradeZipStopsAtRowsError(t *testing.T) {
	t.Parallel()
	z, err := bill.FormatAlipayTradeZip(awkwardTrade())
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	_, err = bill.ScanAlipayTradeZip(z, func(bill.AlipayRow) error {
		if calls++; calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("err %v after %d rows, want stop after 2", err, calls)
	}
}

// Rows are given until one is refused, none after it; a read error is
// returned wrapped.
func TestScanAlipayTradeStops(t *testing.T) {
	t.Parallel()
	lines := strings.Split(alipaySample, "\n")
	badRefund := strings.Replace(lines[sampleRefundLine-1], "退款", "转账", 1)
	for _, c := range []struct {
		name string
		r    io.Reader
		rows int
		line int
	}{
		{"bad refund", bytes.NewReader(replaceLine([]byte(alipaySample), sampleRefundLine, badRefund)), 1, sampleRefundLine},
		{"bad refund first", bytes.NewReader(replaceLine(replaceLine([]byte(alipaySample), samplePayLine, badRefund), sampleRefundLine, lines[samplePayLine-1])),
			0, samplePayLine},
		{"read error", io.MultiReader(strings.NewReader(strings.Join(lines[:sampleRefundLine], "\n")), iotest.ErrReader(io.ErrUnexpectedEOF)), 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rows := 0
			_, err := bill.ScanAlipayTrade(c.r, func(bill.AlipayRow) error {
				rows++
				return nil
			})
			if rows != c.rows {
				t.Fatalf("%d rows given, want %d (%v)", rows, c.rows, err)
			}
			if c.line == 0 {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err %v, want the reader's", err)
				}
				return
			}
			wantParseError(t, err, c.line, "业务类型", "neither")
		})
	}
}

// The scan holds a few lines of the detail file, never its text: while
// rows are given, the live heap stays far below the detail's size. Not
// parallel: the heap is the whole test binary's.
func TestScanAlipayTradeZipHoldsNoText(t *testing.T) {
	tr := alipaySampleTrade()
	rows := make([]bill.AlipayRow, 25000)
	for i := range rows {
		rows[i] = tr.Rows[i%2]
		rows[i].TradeNo = fmt.Sprintf("20261003220014%014d", i)
	}
	tr.Rows = rows
	detail := len(bill.FormatAlipayTrade(tr))
	z, err := bill.FormatAlipayTradeZip(tr)
	if err != nil {
		t.Fatal(err)
	}
	want := len(rows)
	tr, rows = bill.AlipayTrade{}, nil
	var m runtime.MemStats
	runtime.GC()
	runtime.GC() // and what sync.Pools held
	runtime.ReadMemStats(&m)
	before, peak := m.HeapAlloc, uint64(0)
	n := 0
	_, err = bill.ScanAlipayTradeZip(z, func(bill.AlipayRow) error {
		if n++; n%5000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
		return nil
	})
	if err != nil || n != want {
		t.Fatalf("%d rows, %v", n, err)
	}
	t.Logf("detail %d bytes (ZIP %d); live heap grew by at most %d bytes", detail, len(z), int64(peak)-int64(before))
	if grew := int64(peak) - int64(before); grew > int64(detail)/8 {
		t.Fatalf("the live heap grew by %d bytes while scanning a detail of %d", grew, detail)
	}
}
