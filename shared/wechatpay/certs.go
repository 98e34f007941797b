package wechatpay

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/signers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/downloader"
)

// platform is a merchant's platform certificates, as the SDK's downloader
// keeps them: fetched once at start-up (a failure refuses to start: no
// answer could be verified), then every 24 hours.
type platform struct {
	core.CertificateVisitor
	mgr *downloader.CertificateDownloaderMgr
}

// managers is one downloader manager per process and merchant: each
// manager runs its own refresh ticker, so clients built again (tests,
// Lambda warm starts) share it instead of starting another.
var managers sync.Map // mchID + api host → *downloader.CertificateDownloaderMgr

// platformCertificates downloads the merchant's platform certificates
// from /v3/certificates through hc (so WECHATPAY_API_URL applies), signed
// as every request is. The first download is trusted on TLS alone, as the
// SDK does; later ones are verified with the certificates held.
func platformCertificates(ctx context.Context, cfg Config, k keys, hc *http.Client) (platform, error) {
	key := cfg.MchID + " " + cfg.MchSerial + " " + cfg.APIURL
	if m, ok := managers.Load(key); ok {
		mgr := m.(*downloader.CertificateDownloaderMgr)
		return platform{mgr.GetCertificateVisitor(cfg.MchID), mgr}, nil
	}
	// Bounded like every call (hc carries no timeout of its own): a stalled
	// download must neither hang the start nor the SDK's refresh ticker.
	bounded := *hc
	bounded.Timeout = cfg.Timeout
	if bounded.Timeout <= 0 {
		bounded.Timeout = 5 * time.Second
	}
	client, err := core.NewClientWithDialSettings(ctx, &core.DialSettings{
		HTTPClient: &bounded,
		Signer:     &signers.SHA256WithRSASigner{MchID: cfg.MchID, CertificateSerialNo: cfg.MchSerial, PrivateKey: k.private},
		Validator:  &validators.NullValidator{},
	})
	if err != nil {
		return platform{}, fmt.Errorf("wechatpay platform certificates: %w", err)
	}
	mgr := downloader.NewCertificateDownloaderMgr(context.Background())
	if err := mgr.RegisterDownloaderWithClient(ctx, client, cfg.MchID, cfg.APIv3Key); err != nil {
		mgr.Stop()
		return platform{}, fmt.Errorf("wechatpay configuration: WECHATPAY_PLATFORM_CERTS=download: the platform certificates could not be downloaded: %w", err)
	}
	if m, loaded := managers.LoadOrStore(key, mgr); loaded {
		mgr.Stop()
		mgr = m.(*downloader.CertificateDownloaderMgr)
	}
	return platform{mgr.GetCertificateVisitor(cfg.MchID), mgr}, nil
}
