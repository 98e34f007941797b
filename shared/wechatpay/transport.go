package wechatpay

import (
	"net/http"
	"net/url"
	"strings"
)

// rewriteHost re-points the SDK's calls, which always name DefaultAPIURL,
// at another server (the simulator, a proxy): scheme and host are replaced
// and the target's path is put in front of the call's. WeChat Pay's request
// signature covers the path the SDK signed, not the host, and a server
// mounted under the prefix (http.StripPrefix) sees that path again.
type rewriteHost struct {
	base      http.RoundTripper
	target    *url.URL
	prefix    string // target path without a trailing slash
	rawPrefix string // its escaped form
}

func newRewriteHost(base http.RoundTripper, target *url.URL) *rewriteHost {
	if base == nil {
		base = http.DefaultTransport
	}
	return &rewriteHost{
		base: base, target: target,
		prefix:    strings.TrimRight(target.Path, "/"),
		rawPrefix: strings.TrimRight(target.EscapedPath(), "/"),
	}
}

func (t *rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != wechatHost {
		return t.base.RoundTrip(r)
	}
	out := r.Clone(r.Context()) // a RoundTripper must not modify its request
	out.URL.Scheme = t.target.Scheme
	out.URL.Host = t.target.Host
	out.Host = ""
	out.URL.Path = t.prefix + r.URL.Path
	if r.URL.RawPath != "" {
		out.URL.RawPath = t.rawPrefix + r.URL.RawPath
	}
	return t.base.RoundTrip(out)
}

// wechatHost is the host of DefaultAPIURL.
const wechatHost = "api.mch.weixin.qq.com"
