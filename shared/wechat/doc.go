// Package wechat is WeChat Pay's vocabulary, shared by every channel that
// speaks to it: the states WeChat reports for trades, refunds and transfer
// bills ("State" here is always WeChat's; "Status" in package cloudpay is
// always ours), WeChat's errors and what a failed call means, what an
// unsigned callback hints and what came of it, and the gateway interfaces
// the channels implement (the Cloud Hosting open interface in package
// cloudhosting, API v3 in package wechatpay). See docs/design.md §5.
package wechat
