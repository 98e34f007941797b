package wechat

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// BillRetentionMonths is how far back WeChat Pay serves bills through the API:
// "仅支持三个月内的账单下载申请" (docs/bills.md).
const BillRetentionMonths = 3

// BillDayLayout is the format of a bill day: a Beijing date.
const BillDayLayout = "2006-01-02"

// CheckBillDay checks the day asked for in DownloadBill against now: a
// Beijing date "2006-01-02", not after today, at most BillRetentionMonths
// back. A bad day is cloudpay.FieldError("date", …). Today itself passes:
// WeChat answers that its bill is not ready.
func CheckBillDay(day string, now time.Time) (time.Time, error) {
	d, err := time.ParseInLocation(BillDayLayout, day, cloudpay.Beijing)
	if err != nil || d.Format(BillDayLayout) != day {
		return time.Time{}, cloudpay.FieldError("date", "date %q is not a day yyyy-mm-dd", day)
	}
	y, m, dd := now.In(cloudpay.Beijing).Date()
	today := time.Date(y, m, dd, 0, 0, 0, 0, cloudpay.Beijing)
	switch {
	case d.After(today):
		return time.Time{}, cloudpay.FieldError("date", "date %s is in the future (today is %s in Beijing)", day, today.Format(BillDayLayout))
	case d.Before(today.AddDate(0, -BillRetentionMonths, 0)):
		return time.Time{}, cloudpay.FieldError("date", "date %s is more than %d months back: WeChat Pay no longer serves its bill", day, BillRetentionMonths)
	}
	return d, nil
}
