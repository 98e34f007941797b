package wechatsim

import "net/http"

// The pre-2025 transfer API, 商家转账到零钱 (/v3/transfer/batches: 发起商家转账, the batch
// and detail queries; facts §6.3). WeChat upgraded 商家转账到零钱 to 商家转账 on 2025-01-15;
// the two are exclusive, a merchant that has the new product cannot use the old one, and
// there is no going back (商家转账到零钱升级说明: "新版\"商家转账\"与原\"商家转账到零钱\"属于互斥产品，
// 已完成升级的商户将无法继续使用原服务", https://pay.weixin.qq.com/doc/v3/merchant/4015273741).
// The simulated merchant has the new product (transfer-bills, v3transfer.go), so every old
// path answers what such a merchant gets: 403 NO_AUTH with the message below, signed like
// every v3 answer, after the request signature is verified.
//
// Sources for the answer:
//   - the body {"code":"NO_AUTH","message":"当前商户号接入升级版本功能，暂不支持使用升级前功能，请在产品中心-商家转账-前往功能查看接口文档"},
//     seen from the old API by merchants on the new product ("新商户开通“商家转账”产品调用旧接口
//     会报错", https://developers.weixin.qq.com/community/pay/doc/0006a40dde0a1886bab204df166c00), the
//     same words through the SDKs (wechatpay-go https://github.com/wechatpay-apiv3/wechatpay-go/issues/248,
//     wechatpay-java https://github.com/wechatpay-apiv3/wechatpay-java/issues/353, WxJava's
//     WxPayException in https://github.com/YunaiV/ruoyi-vue-pro/issues/766, whose text keeps
//     the full-width commas used here);
//   - the status: 403 is NO_AUTH's in every v3 table (e.g. 退款申请
//     https://pay.weixin.qq.com/doc/v3/merchant/4012556457), and POST /v3/transfer/batches was
//     seen answering "403 Forbidden" in 2025 (body not shown,
//     https://developers.weixin.qq.com/community/pay/doc/000a64fdad8e8818c7232b50466c00);
//   - WeChat staff: "商户调用不对应的产品接口会报错提示没有权限"
//     (https://developers.weixin.qq.com/community/develop/doc/0000ec058b8dc02c86c46ac9261400).
//
// Only the create call was seen answering this; that the four queries answer the same is
// inferred (they belong to the same product). The body is not read: the permission check
// is assumed to come before any parameter check.

// apiTransferBatches names the old transfer API's calls in the call log. It is not a
// fault api.
const apiTransferBatches = "transferbatch"

// msgUpgradedTransfer is WeChat's message to a merchant on the new 商家转账 that calls the
// old 商家转账到零钱 API.
const msgUpgradedTransfer = "当前商户号接入升级版本功能，暂不支持使用升级前功能，请在产品中心-商家转账-前往功能查看接口文档"

// v3TransferBatches answers every call of the old transfer API (see above):
//
//	POST /v3/transfer/batches
//	GET  /v3/transfer/batches/out-batch-no/{out_batch_no}
//	GET  /v3/transfer/batches/batch-id/{batch_id}
//	GET  /v3/transfer/batches/out-batch-no/{out_batch_no}/details/out-detail-no/{out_detail_no}
//	GET  /v3/transfer/batches/batch-id/{batch_id}/details/detail-id/{detail_id}
func (s *Simulator) v3TransferBatches(_ *http.Request, _ []byte) (v3Reply, func()) {
	return v3Err(http.StatusForbidden, "NO_AUTH", msgUpgradedTransfer).reply(), nil
}
