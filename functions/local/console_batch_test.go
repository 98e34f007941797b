package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/console"
)

// csvItem is a refund item as the console's parseBatchCSV reads it.
type csvItem struct {
	Line          int               `json:"line"`
	OutTradeNo    string            `json:"out_trade_no,omitempty"`
	TransactionID string            `json:"transaction_id,omitempty"`
	AmountFen     int64             `json:"amount_fen"`
	Reason        string            `json:"reason"`
	Extra         map[string]string `json:"extra,omitempty"`
}

type csvResult struct {
	Items  []csvItem `json:"items"`
	Errors []struct {
		Line    int    `json:"line"`
		Message string `json:"message"`
	} `json:"errors"`
	Columns []string `json:"columns"`
}

// The batch CSV rules, run by the page's own parseBatchCSV in Chromium
// (the console has no build step and no JS test runner): which lines
// become which refund items, and which are refused, naming their line.
func TestConsoleBatchCSV(t *testing.T) {
	if why := browserTools(); why != "" {
		t.Skip("no browser for the console test: " + why)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", console.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b := startBrowser(t)
	b.navigate(srv.URL + "/admin/")
	b.el("#login-token")

	// call runs one of app.js's exported functions in the page; b.t is the
	// test calling.
	call := func(t *testing.T, fn string, args ...any) json.RawMessage {
		t.Helper()
		var out struct {
			Result json.RawMessage `json:"result"`
			Error  string          `json:"error"`
		}
		b.execAsync(`const [fn, ...args] = arguments, done = arguments[arguments.length - 1];
			import(new URL('app.js', location.href)).then((m) => done({result: m[fn](...args.slice(0, -1))}))
				.catch((e) => done({error: String(e)}))`, &out, append([]any{fn}, args...)...)
		if out.Error != "" {
			t.Fatalf("%s: %s", fn, out.Error)
		}
		return out.Result
	}

	long := func(s string, n int) string { return strings.Repeat(s, n) }
	extras := func(n int) string {
		names := make([]string, n)
		for i := range names {
			names[i] = "col" + strconv.Itoa(i+1)
		}
		return strings.Join(names, ",")
	}
	for _, tc := range []struct {
		name    string
		csv     string
		items   []csvItem
		errors  []string // "line: part of the message", in order
		columns []string
	}{
		{
			name: "lines without a header, as before",
			csv:  "CAMP2026S001,19.90,课程取消\nCAMP2026S002,0.29\n",
			items: []csvItem{
				{Line: 1, OutTradeNo: "CAMP2026S001", AmountFen: 1990, Reason: "课程取消"},
				{Line: 2, OutTradeNo: "CAMP2026S002", AmountFen: 29},
			},
		},
		{
			name:  "a line whose reason is a column's name is still a line",
			csv:   "CAMP2026S001,1,原因\n",
			items: []csvItem{{Line: 1, OutTradeNo: "CAMP2026S001", AmountFen: 100, Reason: "原因"}},
		},
		{
			name:  "the old header",
			csv:   "out_trade_no,amount,reason\nCAMP2026S001,1.1,\"天气原因, 延期\"\n",
			items: []csvItem{{Line: 2, OutTradeNo: "CAMP2026S001", AmountFen: 110, Reason: "天气原因, 延期"}},
		},
		{
			name: "the camp team's list from Excel: BOM, CRLF, extra columns, an empty row",
			csv: "\ufefftransaction_id,金额,原因,user_id,nickname\r\n" +
				"4200002026010100000000000001,299,训练营取消,u1001,小明\r\n" +
				"4200002026010100000000000002,0.07,,u1002,\r\n" +
				",,,,\r\n" +
				"4200002026010100000000000003,19.99,改期,u1003,\"Li, Lei\"\r\n",
			items: []csvItem{
				{Line: 2, TransactionID: "4200002026010100000000000001", AmountFen: 29900, Reason: "训练营取消", Extra: map[string]string{"user_id": "u1001", "nickname": "小明"}},
				{Line: 3, TransactionID: "4200002026010100000000000002", AmountFen: 7, Extra: map[string]string{"user_id": "u1002"}},
				{Line: 5, TransactionID: "4200002026010100000000000003", AmountFen: 1999, Reason: "改期", Extra: map[string]string{"user_id": "u1003", "nickname": "Li, Lei"}},
			},
			columns: []string{"user_id", "nickname"},
		},
		{
			name: "Chinese names, and English ones in any case",
			csv:  "商户订单号,微信订单号,金额,原因,学员编号\nCAMP2026S001,,1,a,S1\n,42,2,b,S2\n",
			items: []csvItem{
				{Line: 2, OutTradeNo: "CAMP2026S001", AmountFen: 100, Reason: "a", Extra: map[string]string{"学员编号": "S1"}},
				{Line: 3, TransactionID: "42", AmountFen: 200, Reason: "b", Extra: map[string]string{"学员编号": "S2"}},
			},
			columns: []string{"学员编号"},
		},
		{
			name:  "订单号, 退款金额, 退款原因",
			csv:   "订单号,退款金额,退款原因\nCAMP2026S001,3,c\n",
			items: []csvItem{{Line: 2, OutTradeNo: "CAMP2026S001", AmountFen: 300, Reason: "c"}},
		},
		{
			name:  "微信支付单号, Amount, REASON",
			csv:   "微信支付单号,Amount,REASON\n7,3,c\n",
			items: []csvItem{{Line: 2, TransactionID: "7", AmountFen: 300, Reason: "c"}},
		},
		{
			name:   "one number per line",
			csv:    "out_trade_no,transaction_id,amount\nCAMP2026S001,,1\n,42,1\nCAMP2026S002,43,1\n,,1\n",
			items:  []csvItem{{Line: 2, OutTradeNo: "CAMP2026S001", AmountFen: 100}, {Line: 3, TransactionID: "42", AmountFen: 100}},
			errors: []string{"4: 只能填一个", "5: 缺少微信订单号"},
		},
		{
			name:   "a number twice names both lines",
			csv:    "out_trade_no,transaction_id,amount\n,42,1\nCAMP2026S001,,1\n,42,2\nCAMP2026S001,,3\n",
			items:  []csvItem{{Line: 2, TransactionID: "42", AmountFen: 100}, {Line: 3, OutTradeNo: "CAMP2026S001", AmountFen: 100}},
			errors: []string{"4: 微信订单号 42 与第 2 行重复", "5: 订单号 CAMP2026S001 与第 3 行重复"},
		},
		{
			name:   "transaction ids are 1-32 digits",
			csv:    "transaction_id,amount\n4.20000E+27,1\n42000abc,1\n" + long("1", 33) + ",1\n" + long("1", 32) + ",1\n",
			items:  []csvItem{{Line: 5, TransactionID: long("1", 32), AmountFen: 100}},
			errors: []string{"2: 科学计数法", "3: 应为 1–32 位数字", "4: 应为 1–32 位数字"},
		},
		{
			name:   "amounts by their digits",
			csv:    "transaction_id,amount\n1,1.234\n2,0\n3,\n4,10000000.01\n",
			errors: []string{"2: 最多两位小数", "3: 必须大于 0", "4: 金额格式错误", "5: 超过上限"},
		},
		{
			name:   "a header without a number column",
			csv:    "user_id,amount\nu1,1\n",
			errors: []string{"1: 表头缺少微信订单号（transaction_id）或商户订单号（out_trade_no）列"},
		},
		{
			name:   "a header without an amount column",
			csv:    "transaction_id,user_id\n1,u1\n",
			errors: []string{"1: 表头缺少金额"},
		},
		{
			name:   "two amount columns",
			csv:    "transaction_id,金额,amount\n1,1,1\n",
			errors: []string{"1: 第 2 列与第 3 列都是金额"},
		},
		{
			name:   "eleven extra columns",
			csv:    "transaction_id,amount," + extras(11) + "\n1,1\n",
			errors: []string{"1: 最多 10 列，表头有 11 列"},
		},
		{
			name:    "ten extra columns",
			csv:     "transaction_id,amount," + extras(10) + "\n1,1,,,,,,,,,,x\n",
			items:   []csvItem{{Line: 2, TransactionID: "1", AmountFen: 100, Extra: map[string]string{"col10": "x"}}},
			columns: strings.Split(extras(10), ","),
		},
		{
			name:   "names the server refuses",
			csv:    "transaction_id,amount,user.id,$set," + long("一", 11) + ",昵称,昵称\n1,1\n",
			errors: []string{"1: “user.id”不能含有", "1: “$set”不能含有", "1: 太长：最多 32 字节", "1: 列名“昵称”重复（第 6 列与第 7 列）"},
		},
		{
			name: "values of at most 128 bytes, under a named column",
			csv:  "transaction_id,amount,nickname,\n1,1," + long("x", 128) + "\n2,1," + long("啊", 43) + "\n3,1,,stray\n4,1,a,,more\n5,1,b,,\n",
			items: []csvItem{
				{Line: 2, TransactionID: "1", AmountFen: 100, Extra: map[string]string{"nickname": long("x", 128)}},
				{Line: 6, TransactionID: "5", AmountFen: 100, Extra: map[string]string{"nickname": "b"}},
			},
			errors:  []string{"3: “nickname”超过 128 字节", "4: 第 4 列没有列名", "5: 比表头多 1 列"},
			columns: []string{"nickname"},
		},
		{
			name:   "a line of the old form with a fourth column",
			csv:    "CAMP2026S001,1,a,b\n",
			errors: []string{"1: 应为 2–3 列"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.t = t
			var got csvResult
			raw := call(t, "parseBatchCSV", tc.csv)
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			if len(got.Items) == 0 {
				got.Items = nil
			}
			if !reflect.DeepEqual(got.Items, tc.items) {
				w, _ := json.Marshal(tc.items)
				g, _ := json.Marshal(got.Items)
				t.Errorf("items\n got %s\nwant %s", g, w)
			}
			if tc.items == nil && len(tc.errors) == 0 {
				t.Fatal("a case that expects nothing")
			}
			var errs []string
			for _, e := range got.Errors {
				errs = append(errs, strconv.Itoa(e.Line)+": "+e.Message)
			}
			ok := len(errs) == len(tc.errors)
			for i := 0; ok && i < len(errs); i++ {
				line, part, _ := strings.Cut(tc.errors[i], ": ")
				ok = strings.HasPrefix(errs[i], line+": ") && strings.Contains(errs[i], part)
			}
			if !ok {
				t.Errorf("errors\n got %q\nwant %q", errs, tc.errors)
			}
			if len(got.Columns) == 0 {
				got.Columns = nil
			}
			if !reflect.DeepEqual(got.Columns, tc.columns) {
				t.Errorf("columns %q, want %q", got.Columns, tc.columns)
			}
		})
	}

	t.Run("the table's columns: the CSV's order, then the rest", func(t *testing.T) {
		b.t = t
		items := []map[string]any{{"extra": map[string]string{"b": "1", "a": "2"}}, {}, {"extra": map[string]string{"c": "3"}}}
		for _, tc := range []struct {
			known []string
			want  string
		}{
			{[]string{"c", "b", "gone"}, `["c","b","a"]`},
			{nil, `["a","b","c"]`},
		} {
			if got := string(call(t, "batchColumns", items, tc.known)); got != tc.want {
				t.Errorf("batchColumns(…, %q) = %s, want %s", tc.known, got, tc.want)
			}
		}
	})

	// Excel on a Chinese Windows saves a CSV in GBK: the upload reads it.
	t.Run("a GBK file", func(t *testing.T) {
		b.t = t
		file := filepath.Join(t.TempDir(), "camp.csv")
		// transaction_id,金额,原因,昵称 / 4200000001,19.90,课程取消,小明
		gbk := "transaction_id,\xbd\xf0\xb6\xee,\xd4\xad\xd2\xf2,\xea\xc7\xb3\xc6\r\n4200000001,19.90,\xbf\xce\xb3\xcc\xc8\xa1\xcf\xfb,\xd0\xa1\xc3\xf7\r\n"
		if err := os.WriteFile(file, []byte(gbk), 0o600); err != nil {
			t.Fatal(err)
		}
		// The batch page asks nothing of the server until a batch is sent.
		b.exec(`sessionStorage.setItem('cloudpay.console.token', 'unused')`)
		b.navigate(srv.URL + "/admin/index.html#/batch") // another path: the page loads again, logged in
		id := b.el("#batch-file")
		b.must(b.call(http.MethodPost, b.sess("/element/"+id+"/value"), map[string]any{"text": file}, nil), "upload "+file)
		b.waitFor("the file in the text box", func() (bool, error) {
			// A text box keeps its lines as "\n".
			return b.exec(`return document.querySelector('#batch-csv').value`) == "transaction_id,金额,原因,昵称\n4200000001,19.90,课程取消,小明\n", nil
		})
		b.click("#batch-check")
		b.waitText("#batch-confirm-total", "¥19.90")
		b.waitText("#batch-confirm-columns", "昵称")
	})
	b.t = t

	for _, e := range b.consoleErrors() {
		t.Errorf("the page logged an error (a CSP violation or an exception): %s", e)
	}
}
