package alipaysim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxTotalFen is the largest total_amount, 100000000.00 yuan ("单位为元，精确到小数点后两位，
// 取值范围[0.01,100000000]", https://opendocs.alipay.com/open/02ekfg).
const MaxTotalFen int64 = 100_000_000_00

// yuanPattern is a yuan amount with exactly two decimals and no superfluous leading zero.
// Alipay's Price type says "精确到小数点后两位"; the simulator reads that strictly (real
// Alipay may take "1" or "1.5": see docs/alipay-simulator.md).
var yuanPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})\.([0-9]{2})$`)

// parseYuan converts "12.34" to 1234 fen exactly, with integers only. It reports false for
// any other form (no sign, no exponent, no more or fewer than two decimals).
func parseYuan(s string) (int64, bool) {
	m := yuanPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	yuan, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	cents, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return 0, false
	}
	return yuan*100 + cents, true
}

// formatFen renders fen as Alipay's yuan string with two decimals (1234 → "12.34").
func formatFen(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// amountText is the text of an amount in biz_content: a JSON string's content or a JSON
// number's literal (Alipay's own samples send both, "total_amount":88.88 and "88.88").
// It reports false for anything else (null, objects, arrays, booleans).
func amountText(raw json.RawMessage) (string, bool) {
	t := strings.TrimSpace(string(raw))
	if t == "" {
		return "", false
	}
	if t[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	}
	if t[0] == '-' || (t[0] >= '0' && t[0] <= '9') {
		return t, true
	}
	return "", false
}
