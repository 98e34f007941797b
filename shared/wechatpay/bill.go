package wechatpay

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/credentials"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Daily bills (docs/bills.md). wechatpay-go v0.2.21 has no bill service, so
// the request for the download link goes through the SDK's core client
// (signed, and its answer verified, as every call), and the file itself is
// fetched with a v3-signed GET on the SDK's HTTP client: WeChat Pay does not
// sign that answer ("该接口响应的信息请求头中不包含微信接口响应的签名值,
// 因此需要跳过验签的流程"), so the SHA1 given with the link is what proves it.

// maxBill bounds a bill, compressed or not: far above a day of a busy
// merchant, and what a caller holding it in memory can afford.
const maxBill = 256 << 20

// billFileTimeout bounds the file download, which may be much larger than
// any other answer.
const billFileTimeout = 2 * time.Minute

// billLink is the answer to 申请交易账单 and 申请资金账单.
type billLink struct {
	HashType    string `json:"hash_type"`
	HashValue   string `json:"hash_value"`
	DownloadURL string `json:"download_url"`
}

// DownloadBill returns WeChat Pay's bill of one Beijing day: the trade bill
// (bill_type ALL) or the fund-flow bill of the basic account, as WeChat
// writes it, gunzipped and checked against the SHA1 WeChat gave with it.
// STATEMENT_CREATING is CodeBillNotReady, NO_STATEMENT_EXIST CodeNoStatement.
func (c *Client) DownloadBill(ctx context.Context, kind wechat.BillKind, day string) ([]byte, error) {
	q := url.Values{}
	var path string
	switch kind {
	case wechat.TradeBill:
		path = "/v3/bill/tradebill"
		q.Set("bill_type", "ALL")
	case wechat.FundFlowBill:
		path = "/v3/bill/fundflowbill"
		q.Set("account_type", "BASIC")
	default:
		return nil, cloudpay.FieldError("kind", "kind %q is not %s or %s", kind, wechat.TradeBill, wechat.FundFlowBill)
	}
	if _, err := wechat.CheckBillDay(day, time.Now()); err != nil {
		return nil, err
	}
	q.Set("bill_date", day)
	q.Set("tar_type", "GZIP")
	op := fmt.Sprintf("%s bill of %s", kind, day)

	link, err := c.billLink(ctx, op, DefaultAPIURL+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	return c.billFile(ctx, op, link)
}

// billLink asks for the download link of a bill.
func (c *Client) billLink(ctx context.Context, op, requestURL string) (billLink, error) {
	ctx, cancel := c.begin(ctx)
	defer cancel()
	result, err := c.core.Get(ctx, requestURL)
	if err != nil {
		var apiErr *core.APIError
		if errors.As(err, &apiErr) {
			we := &wechat.Error{Code: apiErr.Code, Message: apiErr.Message, HTTPStatus: apiErr.StatusCode}
			switch apiErr.Code {
			case "STATEMENT_CREATING":
				return billLink{}, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeBillNotReady,
					Message: "WeChat Pay is still making the bill (it is served from 10:00 Beijing the next day)", Err: we})
			case "NO_STATEMENT_EXIST":
				return billLink{}, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeNoStatement,
					Message: "WeChat Pay has no bill for the day: nothing happened", Err: we})
			}
		}
		return billLink{}, c.fail(ctx, op, result, err)
	}
	defer result.Response.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(result.Response.Body, 1<<20))
	if err != nil {
		return billLink{}, c.fail(ctx, op, nil, err)
	}
	var link billLink
	if err := json.Unmarshal(raw, &link); err != nil {
		return billLink{}, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "WeChat Pay answered an unreadable bill link", Err: err})
	}
	if !strings.EqualFold(link.HashType, "SHA1") || len(link.HashValue) != 2*sha1.Size {
		return billLink{}, cloudpay.Errorf(cloudpay.CodeWeChatError, "%s: WeChat Pay gave hash %q %q, not a SHA1", op, link.HashType, link.HashValue)
	}
	return link, nil
}

// billFile downloads the file a link points to and checks it against the
// link's hash.
func (c *Client) billFile(ctx context.Context, op string, link billLink) ([]byte, error) {
	// The link is WeChat Pay's own host (the transport re-points it like
	// every call): a signed request goes nowhere else.
	u, err := url.Parse(strings.TrimSpace(link.DownloadURL))
	if err != nil || u.Scheme != "https" || u.Host != wechatHost {
		return nil, cloudpay.Errorf(cloudpay.CodeWeChatError, "%s: WeChat Pay gave a download_url outside %s: %q", op, DefaultAPIURL, link.DownloadURL)
	}
	ctx, cancel := context.WithTimeout(ctx, billFileTimeout)
	defer cancel()
	authz, err := (&credentials.WechatPayCredentials{Signer: coreSigner{c.core}}).
		GenerateAuthorizationHeader(ctx, http.MethodGet, u.RequestURI(), "")
	if err != nil {
		return nil, fmt.Errorf("%s: sign the download: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Authorization", authz)
	req.Header.Set("Accept", "*/*")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.fail(ctx, op, nil, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBill+1))
	if err != nil {
		return nil, c.fail(ctx, op, nil, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(body, &e)
		return nil, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: fmt.Sprintf("WeChat Pay refused the bill download: HTTP %d %s", resp.StatusCode, e.Code),
			Err:     &wechat.Error{Code: e.Code, Message: e.Message, HTTPStatus: resp.StatusCode}})
	}
	if len(body) > maxBill {
		return nil, cloudpay.Errorf(cloudpay.CodeWeChatError, "%s: the bill is larger than %d bytes", op, maxBill)
	}
	data := body
	if len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b { // gzip, as asked (tar_type=GZIP)
		if data, err = gunzip(body); err != nil {
			return nil, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
				Message: "WeChat Pay's bill does not gunzip", Err: err})
		}
	}
	// hash_value is the digest of the bill itself, not of its gzip
	// (原始账单（gzip需要解压缩）的摘要值).
	sum := sha1.Sum(data)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, link.HashValue) {
		return nil, cloudpay.Errorf(cloudpay.CodeWeChatError,
			"%s: the bill downloaded (SHA1 %s) is not the one WeChat Pay announced (SHA1 %s): cut short or altered", op, got, link.HashValue)
	}
	return data, nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxBill+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxBill {
		return nil, fmt.Errorf("more than %d bytes once gunzipped", maxBill)
	}
	return out, nil
}

// coreSigner signs with the SDK client's merchant key, for a request the
// SDK client does not send itself.
type coreSigner struct{ c *core.Client }

func (s coreSigner) Sign(ctx context.Context, message string) (*auth.SignatureResult, error) {
	return s.c.Sign(ctx, message)
}

func (coreSigner) Algorithm() string { return "SHA256-RSA2048" }
