package job

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// reconDays is how many days back a pass looks for a day not reconciled
// yet (a job that did not run for a while catches up; WeChat keeps bills
// for three months).
const reconDays = 3

// reconSpacing spaces two attempts at one day (a bill not ready yet).
const reconSpacing = time.Hour

// billReady is when WeChat's bill of a Beijing day can be downloaded:
// "微信支付在每日10点后生成昨日交易账单文件"
// (https://pay.weixin.qq.com/docs/merchant/apis/in-app-payment/get-trade-bill.html).
func billReady(day time.Time) time.Time { return day.AddDate(0, 0, 1).Add(10 * time.Hour) }

// reconcileDays reconciles the last days whose bills are ready and that no
// pass has reconciled yet, each claimed first so two passes never run one
// day at once.
func (j *Job) reconcileDays(ctx context.Context, p *pass) {
	if j.recon == nil {
		return
	}
	now := j.now().In(cloudpay.Beijing)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, cloudpay.Beijing)
	for back := reconDays; back >= 1; back-- {
		if ctx.Err() != nil {
			return
		}
		day := today.AddDate(0, 0, -back)
		date := day.Format(time.DateOnly)
		if now.Before(billReady(day)) {
			continue
		}
		if _, done := j.reconciled.Load(date); done {
			continue
		}
		// A report whose Alipay part has no bill yet, or failed, is done
		// again (WeChat's part with it: again is safe).
		if r, err := j.recon.Get(ctx, date); err == nil && r.Complete() {
			j.reconciled.Store(date, true)
			continue
		} else if err != nil && cloudpay.ErrorCode(err) != cloudpay.CodeNotFound {
			p.fail("reconciliation", date, err)
			continue
		}
		ok, err := j.store.ClaimAction(ctx, "reconcile", date, p.id, reconSpacing, j.now().UTC())
		if err != nil {
			p.fail("reconciliation", date, err)
			continue
		}
		if !ok {
			p.report.Skipped++
			continue
		}
		r, err := j.recon.Reconcile(ctx, date)
		if err != nil {
			switch cloudpay.ErrorCode(err) {
			case cloudpay.CodeBillNotReady: // a later pass, within the hour
			case cloudpay.CodeBillUnsupported:
				j.reconciled.Store(date, true) // this channel offers no bill: nothing to do, ever
			default:
				p.fail("reconciliation", date, err)
			}
			continue
		}
		p.report.Reconciled = append(p.report.Reconciled, date)
		if !r.Complete() {
			// Kept with WeChat's part; Alipay's is tried again a spacing later.
			p.fail("reconciliation", date, fmt.Errorf("the day against Alipay's bill is %s: %s", r.Alipay.Status, r.Alipay.Error))
			continue
		}
		j.reconciled.Store(date, true)
	}
}
