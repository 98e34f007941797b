package alipay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// maxBill bounds a downloaded bill (a ZIP of CSV files): a day of a
// few hundred thousand trades. Larger is an error, never a truncation.
const maxBill = 64 << 20

// billDownloadTimeout bounds the download of a bill, beside the gateway
// call's own timeout: a bill is larger than any answer.
const billDownloadTimeout = 2 * time.Minute

// DownloadTradeBill returns Alipay's trade bill of one Beijing day
// ("2006-01-02") as Alipay serves it: a ZIP whose 业务明细 file lists the
// day's payments and refunds (bill.ParseAlipayTradeZip reads it).
//
// alipay.data.dataservice.bill.downloadurl.query with bill_type trade
// ("商户基于支付宝交易收单的业务账单") answers a bill_download_url, which
// is fetched at once: "获取连接后30秒后未下载，链接地址失效"
// (https://opendocs.alipay.com/apis/api_15/alipay.data.dataservice.bill.downloadurl.query).
// A day's bill exists from the next day ("建议在第二日10:00以后下载",
// https://opendocs.alipay.com/open/204/106262); Alipay's isp.bill_not_exist
// (账单不存在) is CodeNoStatement, any other failure the channel's error.
// The link comes from a signed answer; what it serves is unsigned, so it
// must at least be a ZIP.
func (c *Client) DownloadTradeBill(ctx context.Context, day string) ([]byte, error) {
	op := "alipay trade bill " + day
	if d, err := time.ParseInLocation(time.DateOnly, day, cloudpay.Beijing); err != nil || d.Format(time.DateOnly) != day {
		return nil, cloudpay.FieldError("date", "date %q is not a day yyyy-mm-dd", day)
	}
	var resp struct {
		result
		URL string `json:"bill_download_url"`
	}
	err := c.call(ctx, op, "alipay.data.dataservice.bill.downloadurl.query",
		map[string]any{"bill_type": "trade", "bill_date": day}, false, &resp, &resp.result)
	if refusedWith(err, "isp.bill_not_exist") {
		return nil, cloudpay.Errorf(cloudpay.CodeNoStatement, "Alipay has no trade bill for %s", day)
	}
	if err != nil {
		return nil, domain(op, err)
	}
	u, err := url.Parse(resp.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, unreadable(op, fmt.Errorf("bill_download_url %q is not an http(s) URL", resp.URL))
	}
	ctx, cancel := context.WithTimeout(ctx, billDownloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, unreadable(op, err)
	}
	res, err := c.files.Do(req)
	if err != nil {
		// The link's token is a credential for 30 seconds: out of the logs.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
		}
		return nil, fail(ctx, op, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fail(ctx, op, &statusError{status: res.StatusCode})
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxBill+1))
	switch {
	case err != nil:
		return nil, fail(ctx, op, err)
	case len(data) > maxBill:
		return nil, unreadable(op, errors.New("the bill is larger than 64 MiB"))
	case !bytes.HasPrefix(data, []byte("PK\x03\x04")):
		// An expired or refused link answers a page, not the bill.
		return nil, unreadable(op, fmt.Errorf("the bill link answered %d bytes that are not a ZIP", len(data)))
	}
	return data, nil
}

// noDowngrade follows at most ten redirects of a bill link, never from
// https to plain http.
func noDowngrade(req *http.Request, via []*http.Request) error {
	switch {
	case len(via) >= 10:
		return errors.New("alipay: the bill link redirects too often")
	case via[0].URL.Scheme == "https" && req.URL.Scheme != "https":
		return errors.New("alipay: the bill link redirects from https to " + req.URL.Scheme)
	}
	return nil
}
